"""One account per e-mail address, held by the database (accounts.models.FoldedNames) as well as by the forms: two
sign-ups at once, an installation that already holds shared addresses, the admin."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts import selectors
from tests.conftest import REPO, python

PASSWORD = "correct horse battery"


def shell(env: dict[str, str], code: str) -> str:
    done = python(env, "manage.py", "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("race", "refusal"),
    [
        ("email", "An account with this e-mail address exists already."),
        ("username", "A user with that username already exists."),
        ("change", "An account with this e-mail address exists already."),
        ("take", "An account with this e-mail address exists already."),
    ],
)
def test_of_two_requests_at_once_for_one_address_or_username_one_gets_it_and_the_other_is_told(
    database_env: dict[str, str], race: str, refusal: str
) -> None:
    """Both pass their check before either saves (tests/accounts/signup_race.py): the database let two sign-ups with
    one address ("Race@example.com", "race@EXAMPLE.com") both through, as a sign-up and an e-mail change to it; two
    with one username got a server error, and two with one username spelt two ways ("racer", "RACER") both an
    account. Two that take an address from an account that never confirmed it: one gets it, the holder none."""
    done = python(database_env, "-m", "tests.accounts.signup_race", race)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    told = [reply for reply in outcome["replies"] if refusal in json.dumps([reply["errors"], reply["messages"]])]
    assert len(told) == 1 and {reply["status"] for reply in outcome["replies"]} <= {200, 302}
    field = 0 if race == "username" else 1
    holders = [account for account in outcome["accounts"] if account[field].lower() in ("racer", "race@example.com")]
    assert len(holders) == 1
    assert race != "take" or ["squatter", ""] in outcome["accounts"]


def test_an_installation_whose_accounts_share_an_address_is_told_which_before_it_upgrades(
    database_env: dict[str, str],
) -> None:
    env = database_env  # migrated to this release
    # The release before: accounts' migrations up to 0003 (the checks are those of this release's code: skipped).
    back = python(env, "manage.py", "migrate", "accounts", "0003_used_email_change_link", "-v", "0", "--skip-checks")
    assert back.returncode == 0, back.stderr
    # Made as an older release could (bulk_create sends no post_save): "ann" and "anne" share an address.
    shell(
        env,
        "from django.contrib.auth.models import User; User.objects.bulk_create([User(username='ann', "
        "email='Ann@example.com'), User(username='anne', email='ann@EXAMPLE.COM'), User(username='\\u00d6mer', "
        "email='o@b\\u00fccher.example'), User(username='bob', email='')])",
    )

    stopped = python(env, "manage.py", "migrate", "-v", "0")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    told = stopped.stderr
    assert "1 e-mail address(es) belong to more than one account" in told
    assert "'Ann@example.com' (account 'ann', id 1), 'ann@EXAMPLE.COM' (account 'anne', id 2)" in told
    assert "run `manage.py migrate` again" in told and "bob" not in told, told

    shell(env, "from django.contrib.auth.models import User; User.objects.filter(username='anne').update(email='')")
    assert python(env, "manage.py", "migrate", "-v", "0").returncode == 0
    found = shell(
        env,
        "from accounts import selectors; print(selectors.email_taken('ANN@example.com'), "
        "selectors.email_taken('O@xn--bcher-kva.example'), selectors.username_taken('\\u00f6MER'), "
        "selectors.username_taken('BOB'), selectors.email_taken('anne@example.com'))",
    )
    assert found.splitlines()[-1].split() == ["True", "True", "True", "True", "False"]


@pytest.mark.django_db
def test_the_admin_refuses_an_address_another_account_has(user: Any) -> None:
    """The database refuses it; without the form's check the admin answered with a server error."""
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    other = User.objects.create_user("bob", password=PASSWORD)
    admin = Client()
    admin.login(username="root", password=PASSWORD)
    form = {"username": "bob", "email": "ALICE@example.com", "date_joined_0": "2026-01-01", "date_joined_1": "00:00"}
    refused = admin.post(f"/admin/auth/user/{other.pk}/change/", form)
    assert refused.status_code == 200 and "An account with this e-mail address exists already." in refused.text
    accepted = admin.post(f"/admin/auth/user/{other.pk}/change/", {**form, "email": "Bob@example.com"})
    assert accepted.status_code == 302
    assert selectors.email_taken("bob@EXAMPLE.com") and not selectors.email_taken("alice@example.org")


@pytest.mark.django_db
def test_what_is_compared_follows_every_save_of_a_user(user: Any) -> None:
    user.username, user.email = "Al\u00efce", "al@example.org"
    user.save()
    assert selectors.username_taken("AL\u00cfCE") and not selectors.username_taken("alice")
    assert selectors.email_taken("AL@example.org") and not selectors.email_taken("alice@example.com")
    user.delete()
    assert not selectors.username_taken("al\u00efce") and not selectors.email_taken("al@example.org")


def test_createsuperuser_refuses_an_address_another_account_has(database_env: dict[str, str]) -> None:
    """Refused as a taken username is, with or without prompts: before, the user was saved, then its folded names
    failed with an IntegrityError traceback, and an account sharing the address was left behind."""
    env = {**database_env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}  # a migrated database
    made = python(env, "manage.py", "createsuperuser", "--noinput", "--username", "ann", "--email", "Ann@example.com")
    assert made.returncode == 0, made.stderr
    for how in (["--email", "ann@EXAMPLE.com"], []):
        refused = python(
            {**env, "DJANGO_SUPERUSER_EMAIL": "ANN@example.com"},
            *("manage.py", "createsuperuser", "--noinput", "--username", "anne", *how),
        )
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert "That e-mail address is already taken by another account." in refused.stderr

    answers = ["anne", "ann@Example.COM", "anne@example.com", PASSWORD, PASSWORD]
    prompted = at_a_terminal({**env, "DJANGO_COLORS": "nocolor"}, ["manage.py", "createsuperuser"], answers)
    assert "Error: That e-mail address is already taken by another account.\r\nEmail address: " in prompted, prompted
    assert "Superuser created successfully." in prompted and "Traceback" not in prompted
    accounts = shell(env, "from django.contrib.auth.models import User; print(list(User.objects.values_list('email')))")
    assert accounts.splitlines()[-1] == "[('Ann@example.com',), ('anne@example.com',)]"


def at_a_terminal(env: dict[str, str], args: list[str], answers: list[str]) -> str:
    """What `python *args` writes to a terminal (a pseudo-terminal) on which each of `answers` is typed at a prompt."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, f"no prompt within 30 s:\n{seen.decode(errors='replace')}"
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the command exited and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.endswith(b": "):  # a prompt, not the echo of an answer
            os.write(leader, pending.pop(0).encode() + b"\n")
    process.wait(30)
    os.close(leader)
    return seen.decode(errors="replace")


@pytest.mark.django_db
def test_accounts_made_without_save_are_found_by_the_check_and_given_their_folded_names(user: Any) -> None:
    """bulk_create and raw SQL send no post_save: such accounts had no folded names, and a password reset did not find
    them, their usernames and addresses not taken. The database check says so, and fill_folded_names writes them,
    leaving an address that another account has to the operator."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    User.objects.bulk_create(
        [User(username="Carol", email="Carol@example.com"), User(username="dave", email=user.email.upper())]
    )
    assert not selectors.email_taken("carol@EXAMPLE.com") and not selectors.username_taken("carol")
    told = StringIO()
    call_command("check", "--database", "default", stdout=told, stderr=told)
    assert "accounts.W001" in told.getvalue() and "2 account(s) have no folded names" in told.getvalue()
    without_database = StringIO()
    call_command("check", stdout=without_database, stderr=without_database)  # which reads no table
    assert "accounts.W001" not in without_database.getvalue()

    with pytest.raises(CommandError) as refused:
        call_command("fill_folded_names", stdout=StringIO())
    assert f"{user.email.upper()!r} (account 'dave'" in str(refused.value)
    assert selectors.email_taken("carol@EXAMPLE.com") and selectors.username_taken("CAROL")
    User.objects.filter(username="dave").update(email="")
    done = StringIO()
    call_command("fill_folded_names", stdout=done)
    assert done.getvalue() == "1 account(s) given their folded names.\n" and selectors.username_taken("Dave")
    quiet = StringIO()
    call_command("check", "--database", "default", stdout=quiet, stderr=quiet)
    assert "accounts.W001" not in quiet.getvalue()
