"""Two sign-ups at once, on the database the environment names (DATABASE_URL, else SQLite in DATA_DIR): each posts
the sign-up page from a thread of its own, with a connection of its own, and both have passed the form's checks
before either saves. Prints, as JSON, each reply's status and errors and the accounts made.

    DATA_DIR=/tmp/x python -m tests.accounts.signup_race email
"""

import json
import sys
import threading
from typing import Any

import django

PASSWORD = "correct horse battery"


def main(taken: str) -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    both_checked = threading.Barrier(2, timeout=30)
    sign_ups = [
        {"username": "race1", "email": "Race@example.com"},
        {"username": "race2", "email": "race@EXAMPLE.com"},
    ]
    if taken == "username":
        sign_ups = [
            {"username": "racer", "email": "one@example.com"},
            {"username": "racer", "email": "two@example.com"},
        ]
    replies: list[dict[str, Any]] = []

    def sign_up(fields: dict[str, str]) -> None:
        waited = False

        def after_the_address_check(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal waited
            result = execute(sql, params, many, context)
            if not waited and sql.startswith("SELECT") and "email_key" in sql:  # the form's last check
                waited = True
                both_checked.wait()
            return result

        try:
            with connection.execute_wrapper(after_the_address_check):
                reply = Client().post("/accounts/signup/", {**fields, "password1": PASSWORD, "password2": PASSWORD})
            form = reply.context["form"] if reply.status_code == 200 else None
            replies.append({"status": reply.status_code, "errors": form.errors if form else {}})
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(fields,)) for fields in sign_ups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accounts = list(User.objects.values_list("username", "email"))
    print(json.dumps({"replies": sorted(replies, key=lambda reply: reply["status"]), "accounts": accounts}))


if __name__ == "__main__":
    main(sys.argv[1])
