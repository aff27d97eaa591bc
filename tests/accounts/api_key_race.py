"""Two API keys made at once for an account one short of accounts.services.MAX_API_KEYS, on the database the
environment names (DATABASE_URL, else SQLite in DATA_DIR): each in a thread with a connection of its own, the first
waiting after its count of the keys in use until the other has counted too (or, where the other cannot count before
it has made its key, for a moment). Prints, as JSON, what each got and the account's keys in use then.

    DATA_DIR=/tmp/x python -m tests.accounts.api_key_race
"""

import contextlib
import json
import threading
from typing import Any

import django

BOTH_COUNTED_WAIT_SECONDS = 3


def main() -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from accounts import services
    from accounts.models import ApiKey

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("keymaker")
    for number in range(services.MAX_API_KEYS - 1):
        services.api_key_create(user=user, name=f"key {number}")
    both_counted = threading.Barrier(2, timeout=BOTH_COUNTED_WAIT_SECONDS)
    outcomes: list[str] = []

    def make_key(name: str) -> None:
        counted = False

        def after_the_count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal counted
            result = execute(sql, params, many, context)
            if not counted and "COUNT(" in sql and "accounts_apikey" in sql:
                counted = True
                # Broken where the other waits for this one's transaction, unable to count before it ends.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_counted.wait()
            return result

        try:
            with connection.execute_wrapper(after_the_count):
                services.api_key_create(user=user, name=name)
            outcomes.append("made")
        except services.TooManyApiKeys:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=make_key, args=(f"racer {number}",)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    in_use = ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()
    print(json.dumps({"outcomes": sorted(outcomes), "in_use": in_use}))


if __name__ == "__main__":
    main()
