"""Two requests at once that want one address or one username, on the database the environment names (DATABASE_URL,
else SQLite in DATA_DIR): each from a thread of its own, with a connection of its own, and both past their check of
the address (the form's, or the e-mail change's) before either saves. Prints, as JSON, each reply's status, form
errors and messages, and the accounts there are then.

    DATA_DIR=/tmp/x python -m tests.accounts.signup_race email|username|change|take

email: two sign-ups, one address spelt two ways; username: two sign-ups, one username spelt two ways; change: a sign-up
and the confirmation of an e-mail change to the same address; take: the two sign-ups of email, for an address that an
account holds without having confirmed it, past its link's validity (accounts.confirmation). On SQLite the change
holds the write lock from its check on, so the sign-up loses; on PostgreSQL the change waits, once past its check, for
the sign-up to end, and loses.
"""

import json
import sys
import threading
from datetime import timedelta
from typing import Any

import django

PASSWORD = "correct horse battery"


def main(race: str) -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.contrib.messages import get_messages
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.utils import timezone

    from accounts import email_changes, folding
    from accounts.models import UnconfirmedAddress

    setup_test_environment()
    # The fast hasher of the tests (tests/conftest.py): Django's PBKDF2 took 0.5 s of CPU for each account made here.
    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()
    call_command("migrate", verbosity=0)
    both_checked = threading.Barrier(2, timeout=30)

    def sign_up(username: str, email: str) -> Any:
        data = {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}
        return Client().post("/accounts/signup/", data)

    if race == "username":
        requests = [lambda: sign_up("racer", "one@example.com"), lambda: sign_up("RACER", "two@example.com")]
    else:
        first: Any = lambda: sign_up("race1", "Race@example.com")  # noqa: E731
        if race == "change":
            mover = User.objects.create_user("mover", "mover@example.com", PASSWORD)
            token = email_changes.email_change_token(user=mover, new_email="Race@example.com")
            first = lambda: Client().post(f"/accounts/email/confirm/{token}/")  # noqa: E731
        if race == "take":  # held by an account that never confirmed it, its link expired
            squatter = User.objects.create_user("squatter", "RACE@example.com", PASSWORD)
            since = timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
            UnconfirmedAddress.objects.create(user=squatter, email_key=folding.email_key(squatter.email), since=since)
        requests = [first, lambda: sign_up("race2", "race@EXAMPLE.com")]
    replies: list[dict[str, Any]] = []
    signed_up = threading.Event()

    def run(request: Any, *, then_the_other: bool) -> None:
        waited = False

        def after_the_address_check(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal waited
            result = execute(sql, params, many, context)
            # The last check before the save (not an address change's look for an unconfirmed holder, just before).
            if not waited and sql.startswith("SELECT") and "email_key" in sql and "unconfirmedaddress" not in sql:
                waited = True
                both_checked.wait()
                if then_the_other:
                    signed_up.wait(timeout=30)
            return result

        try:
            with connection.execute_wrapper(after_the_address_check):
                reply = request()
            signed_up.set()
            form = reply.context["form"] if reply.status_code == 200 else None
            told = [str(message) for message in get_messages(reply.wsgi_request)]
            replies.append({"status": reply.status_code, "errors": form.errors if form else {}, "messages": told})
        finally:
            connection.close()

    change_waits = race == "change" and connection.vendor == "postgresql"
    threads = [
        threading.Thread(target=run, args=(request,), kwargs={"then_the_other": change_waits and number == 0})
        for number, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accounts = list(User.objects.order_by("pk").values_list("username", "email"))
    print(json.dumps({"replies": sorted(replies, key=lambda reply: reply["status"]), "accounts": accounts}))


if __name__ == "__main__":
    main(sys.argv[1])
