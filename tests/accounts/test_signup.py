"""Who may sign up: SIGNUP=open, closed or invite (single-use, expiring invitation links)."""

import io
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Invitation

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sign_up(client: Any, username: str, path: str = "/accounts/signup/", **extra: str) -> Any:
    data = {"username": username, "email": f"{username}@example.com", "password1": PASSWORD, "password2": PASSWORD}
    return client.post(path, {**data, **extra})


def invitation_link(**options: Any) -> str:
    """The link `manage.py invite` prints (its last line), as a path with its query."""
    out = io.StringIO()
    call_command("invite", stdout=out, **options)
    link = urlsplit(out.getvalue().strip().splitlines()[-1])
    assert link.scheme == "http" and link.netloc == "127.0.0.1:8000"
    return f"{link.path}?{link.query}"


def test_open_signup_is_linked_from_the_log_in_page(client: Any, settings: Any) -> None:
    settings.SIGNUP = "open"
    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()


class TestClosed:
    def test_closed_signup_refuses_the_page_and_the_form(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "closed"
        page = client.get("/accounts/signup/")
        posted = sign_up(client, "carol")
        assert page.status_code == posted.status_code == 403
        assert "Sign-up is closed on this server" in page.content.decode()
        assert not User.objects.filter(username="carol").exists()

    def test_closed_signup_is_not_linked(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "closed"
        assert "/accounts/signup/" not in client.get("/accounts/login/").content.decode()


class TestInvite:
    def test_without_an_invitation_signup_is_refused(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "invite"
        page = client.get("/accounts/signup/")
        assert page.status_code == 403 and "by invitation" in page.content.decode()
        assert sign_up(client, "carol").status_code == 403
        assert sign_up(client, "carol", invitation="made-up").status_code == 403
        assert not User.objects.filter(username="carol").exists()

    def test_an_invitation_works_once(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "invite"
        link = invitation_link(note="for carol")
        form = client.get(link)
        assert form.status_code == 200 and 'name="invitation"' in form.content.decode()

        response = sign_up(client, "carol", path=link)
        assert response.status_code == 302 and response["Location"] == "/"
        carol = User.objects.get(username="carol")
        assert Invitation.objects.get(note="for carol").used_by == carol

        other = client.__class__()
        again = sign_up(other, "dave", path=link)
        assert again.status_code == 403 and "used already or has expired" in again.content.decode()
        assert other.get(link).status_code == 403
        assert not User.objects.filter(username="dave").exists()

    def test_a_refused_form_keeps_the_invitation_unused(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "invite"
        link = invitation_link()
        response = sign_up(client, "carol", path=link, password2="something else")
        assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
        assert Invitation.objects.get().used_at is None
        assert sign_up(client, "carol", path=link).status_code == 302

    def test_an_expired_invitation_is_refused(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "invite"
        link = invitation_link(days=2)
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert sign_up(client, "carol", path=link).status_code == 403
        assert not User.objects.filter(username="carol").exists()

    def test_an_invitation_made_in_the_admin_shows_its_link_once(self, client: Any, settings: Any) -> None:
        settings.SIGNUP = "invite"
        User.objects.create_superuser("root", "root@example.com", PASSWORD)
        client.login(username="root", password=PASSWORD)
        response = client.post("/admin/accounts/invitation/add/", {"note": "for erin"}, follow=True)
        match = re.search(r"http://testserver(/accounts/signup/\?invitation=[\w-]+)", response.content.decode())
        assert match is not None, response.content.decode()
        invitation = Invitation.objects.get(note="for erin")
        assert invitation.created_by is not None and invitation.created_by.username == "root"
        assert match.group(1).split("=")[1] not in invitation.token_hash
        client.logout()
        assert sign_up(client, "erin", path=match.group(1)).status_code == 302
        assert sign_up(client.__class__(), "fred", path=match.group(1)).status_code == 403


@pytest.mark.parametrize(("mode", "note"), [("closed", None), ("invite", "Sign-up on this server is by invitation.")])
def test_the_first_screen_offers_sign_up_only_when_open(
    client: Any, settings: Any, mode: str, note: str | None
) -> None:
    settings.SIGNUP = mode
    page = client.get("/").content.decode()
    assert 'id="landing-signup"' not in page and "/accounts/signup/" not in page
    assert 'id="landing-login"' in page
    assert (note in page) if note else ("by invitation" not in page)


def test_accounts_made_from_one_address_are_throttled(client: Any, settings: Any) -> None:
    """Each account brings its own daily quota and rate limits: one client may not multiply its own by signing up
    again and again. A form that would make no account (a mistyped password) is not counted."""
    settings.SIGNUP_RATE_LIMIT = "2/h"
    assert sign_up(client, "typo", password2="not the same").status_code == 200
    for number in range(2):
        assert sign_up(client, f"user{number}").status_code == 302
        client.logout()
    refused = sign_up(client, "user2")
    assert refused.status_code == 429 and "Too many accounts made from your address" in refused.content.decode()
    assert not User.objects.filter(username="user2").exists()
    data = {"username": "user2", "email": "user2@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/accounts/signup/", data, REMOTE_ADDR="10.0.0.9").status_code == 302  # another address


def test_asking_whether_addresses_have_accounts_is_throttled_as_sign_ups_are(client: Any, settings: Any) -> None:
    """A sign-up refused for its address says that the address has an account here: counted as an account made."""
    settings.SIGNUP_RATE_LIMIT = "2/h"
    User.objects.create_user("alice", "alice@example.com", PASSWORD)
    for number in range(2):
        told = sign_up(client, f"asker{number}", email="alice@example.com")
        assert told.status_code == 200 and "An account with this e-mail address exists already" in told.content.decode()
    refused = sign_up(client, "asker2", email="alice@example.com")
    assert refused.status_code == 429 and "exists already" not in refused.content.decode()


@pytest.mark.parametrize(
    ("username", "refused"),
    [
        ("\u0430dmin", True),  # a Cyrillic a (U+0430), then Latin: reads as "admin"
        ("p\u0430ypal", True),
        ("\u03bflga", True),  # a Greek omicron
        ("jos\u00e9.garc\u00eda", False),  # Latin with accents
        ("\u0434\u043c\u0438\u0442\u0440\u0438\u0439", False),  # all Cyrillic
        ("\u03b1\u03bb\u03ad\u03be\u03b7\u03c2", False),  # all Greek
        ("\u5c71\u7530\u305f\u308d\u3046", False),  # kanji and hiragana, as Japanese names are written
        ("anna_2024", False),
    ],
)
def test_a_username_mixing_look_alike_alphabets_is_refused(client: Any, username: str, refused: bool) -> None:
    data = {"username": username, "email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    reply = client.post("/accounts/signup/", data)
    assert ("may not mix alphabets" in reply.content.decode()) is refused
    assert User.objects.filter(username=username).exists() is not refused


@pytest.mark.parametrize(
    ("taken", "username"),
    [
        ("Bob", "bob"),
        ("\u00d6MER", "\u00f6mer"),  # SQLite's case-insensitive match folds ASCII letters only
        ("stra\u00dfe", "STRASSE"),  # ß folds to ss
        ("\u01c4emal", "\u01c6emal"),  # a digraph with its own capital
        ("bob", "\uff42\uff4f\uff42"),  # full-width
    ],
)
def test_a_username_differing_only_in_case_is_taken(client: Any, taken: str, username: str) -> None:
    User.objects.create_user(taken, email="first@example.com", password=PASSWORD)
    reply = sign_up(client, username)
    assert reply.status_code == 200 and "A user with that username already exists." in reply.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("taken", "email"),
    [
        ("x@\u00e9xample.com", "x@\u00c9XAMPLE.com"),  # the same address, its domain's case aside
        ("x@xn--xample-9ua.com", "x@\u00e9xample.com"),  # the same domain, in IDNA's ASCII spelling
    ],
)
def test_an_address_differing_only_in_case_or_spelling_is_taken(client: Any, taken: str, email: str) -> None:
    User.objects.create_user("first", email=taken, password=PASSWORD)
    reply = sign_up(client, "second", email=email)
    assert reply.status_code == 200 and "An account with this e-mail address exists already." in reply.content.decode()
    assert User.objects.count() == 1
