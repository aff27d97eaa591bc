"""Where an account is logged in: the account page lists its browsers (accounts.sessions keeps each session with its
user, browser and time of log-in) and logs out one of them or every other; a new password logs out the others."""

import importlib
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.db import SessionStore as DjangoDatabaseStore
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import sessions
from accounts.models import BrowserSession
from accounts.selectors import BROWSERS_LISTED, browser_named
from accounts.services import MAX_BROWSERS_PER_ACCOUNT
from accounts.sessions import SessionStore

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


def logged_in(user_agent: str, username: str = "alice") -> Client:
    browser = Client(HTTP_USER_AGENT=user_agent)
    reply = browser.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert reply.status_code == 302, reply.content
    return browser


def is_logged_in(browser: Client) -> bool:
    return browser.get("/accounts/").status_code == 200


def listed(browser: Client) -> list[str]:
    """The rows of the account page's list of browsers, as text."""
    html = browser.get("/accounts/").content.decode()
    listing = re.search(r'<ul class="browser-list" id="browser-sessions">(.*?)</ul>', html, re.S)
    assert listing is not None
    rows = re.findall(r"<li[^>]*>(.*?)</li>", listing.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def handle_of(browser: Client) -> str:
    return BrowserSession.objects.get(session_key=browser.session.session_key).handle


def test_the_account_page_lists_each_browser_logged_in_and_says_which_is_this_one(user: User) -> None:
    laptop = logged_in(FIREFOX)
    logged_in(IPHONE)
    rows = listed(laptop)
    assert len(rows) == 2
    assert rows[0].startswith("Mobile Safari 18 on iOS 18") and rows[0].endswith("Log out")
    assert rows[1].startswith("Firefox 140 on Windows 10 this browser") and "Log out" not in rows[1]
    html = laptop.get("/accounts/").content.decode()
    assert laptop.session.session_key not in html  # the cookie that logs in: never on a page
    assert 'id="browsers-log-out"' in html


def test_each_log_out_button_is_described_by_the_browser_it_logs_out(user: User) -> None:
    """A screen reader's list of buttons read "Log out" for each browser and for the site's own log-out of this one,
    with nothing to tell them apart."""
    laptop = logged_in(FIREFOX)
    logged_in(IPHONE)
    html = laptop.get("/accounts/").content.decode()
    described = re.findall(r'<button[^>]*aria-describedby="([^"]+)"[^>]*>Log out</button>', html)
    assert len(described) == 1
    assert re.search(rf'id="{described[0]}">Mobile Safari 18 on iOS 18<', html)


def test_a_browser_logged_out_from_the_account_page_is_logged_out_and_no_other(user: User) -> None:
    laptop, phone = logged_in(FIREFOX), logged_in(IPHONE)
    reply = laptop.post(f"/accounts/browsers/{handle_of(phone)}/log-out/", follow=True)
    assert "That browser is logged out." in reply.content.decode()
    assert not is_logged_in(phone) and is_logged_in(laptop)
    assert len(listed(laptop)) == 1


def test_every_other_browser_is_logged_out_at_once(user: User) -> None:
    laptop, phone, office = logged_in(FIREFOX), logged_in(IPHONE), logged_in(CHROME)
    reply = laptop.post("/accounts/browsers/log-out/", follow=True)
    assert "2 other browsers are logged out." in reply.content.decode()
    assert is_logged_in(laptop) and not is_logged_in(phone) and not is_logged_in(office)
    assert 'id="browsers-log-out"' not in reply.content.decode()  # nothing else left to log out


def test_every_other_browser_counts_only_the_browsers_listed(user: User) -> None:
    """An expired session (kept until the daily purge) is listed nowhere and logs nobody in: the count said
    "2 other browsers are logged out." under a list of one."""
    laptop, phone, gone = logged_in(FIREFOX), logged_in(IPHONE), logged_in(CHROME)
    BrowserSession.objects.filter(session_key=gone.session.session_key).update(expire_date=timezone.now())
    assert len(listed(laptop)) == 2
    reply = laptop.post("/accounts/browsers/log-out/", follow=True)
    assert "1 other browser is logged out." in reply.content.decode()
    assert is_logged_in(laptop) and not is_logged_in(phone)


def logged_in_again(browser: Client, count: int, *, minutes_apart: int) -> None:
    """`count` more sessions of `browser`'s account, as log-ins that kept no cookie (a script's) leave them, made
    `minutes_apart` from each other before `browser`'s log-in (negative: after it)."""
    for index in range(1, count + 1):
        session = SessionStore()
        at = timezone.now() - timedelta(minutes=minutes_apart * index)
        session.update({**dict(browser.session.items()), sessions.LOGGED_IN_AT_KEY: at.isoformat()})
        session.create()


def test_the_account_page_lists_the_latest_browsers_and_counts_the_others(user: User) -> None:
    """A thousand log-ins listed a thousand rows, a second to make; the bulk log-out still logs out every one."""
    laptop = logged_in(FIREFOX)
    logged_in_again(laptop, BROWSERS_LISTED + 4, minutes_apart=-1)  # the laptop's log-in is the oldest
    rows = listed(laptop)
    assert len(rows) == BROWSERS_LISTED and "this browser" in rows[-1]
    html = laptop.get("/accounts/").content.decode()
    assert "…and 5 more browsers, logged in earlier." in html

    reply = laptop.post("/accounts/browsers/log-out/", follow=True)
    assert f"{BROWSERS_LISTED + 4} other browsers are logged out." in reply.content.decode()
    assert len(listed(laptop)) == 1 and "more browser" not in reply.content.decode()


def test_a_log_in_past_the_most_browsers_an_account_keeps_logs_out_the_oldest(user: User) -> None:
    """Nothing bounded an account's sessions for the two weeks each lasts: a script logging in without keeping its
    cookie left one a log-in, every one read at each look at the account page."""
    laptop = logged_in(FIREFOX)
    logged_in_again(laptop, MAX_BROWSERS_PER_ACCOUNT, minutes_apart=1)  # older than the laptop's log-in
    oldest = BrowserSession.objects.order_by("logged_in_at").values_list("session_key", flat=True)[:2]
    oldest = list(oldest)
    phone = logged_in(IPHONE)
    assert BrowserSession.objects.filter(user=user).count() == MAX_BROWSERS_PER_ACCOUNT
    assert not BrowserSession.objects.filter(session_key__in=oldest).exists()
    assert is_logged_in(laptop) and is_logged_in(phone)


def test_another_accounts_browser_cannot_be_logged_out(user: User, other_user: User) -> None:
    alices = logged_in(FIREFOX)
    bobs = logged_in(CHROME, username="bob")
    reply = bobs.post(f"/accounts/browsers/{handle_of(alices)}/log-out/", follow=True)
    assert "That browser is not logged in any more." in reply.content.decode()
    assert is_logged_in(alices)


def test_a_changed_password_logs_out_the_other_browsers_and_keeps_this_one(user: User) -> None:
    laptop, phone = logged_in(FIREFOX), logged_in(IPHONE)
    new = "a much better phrase"
    reply = laptop.post("/accounts/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert reply.status_code == 302
    # Listed before the phone comes back (its next request would end its session: its password mark is old).
    assert [row.split(" this browser")[0] for row in listed(laptop)] == ["Firefox 140 on Windows 10"]
    assert is_logged_in(laptop) and not is_logged_in(phone)


class OlderPasswordHasher(PBKDF2PasswordHasher):
    iterations = 2  # a password hashed by an older Django


class NewerPasswordHasher(PBKDF2PasswordHasher):
    iterations = 3  # ... and the Django of today, which hashes it again at the next log-in


def test_browsers_that_a_new_password_hash_logged_out_are_not_listed(user: User, settings: Any) -> None:
    """A password hashed again (a log-in after a Django upgrade, a password set in the admin) logs out the sessions
    signed with the old hash at their next request: the account page listed them as logged in until then."""
    settings.PASSWORD_HASHERS = [f"{__name__}.OlderPasswordHasher"]
    user.set_password(PASSWORD)
    user.save()
    phone = logged_in(IPHONE)
    settings.PASSWORD_HASHERS = [f"{__name__}.NewerPasswordHasher"]
    laptop = logged_in(FIREFOX)
    assert [row.split(" this browser")[0] for row in listed(laptop)] == ["Firefox 140 on Windows 10"]
    assert 'id="browsers-log-out"' not in laptop.get("/accounts/").content.decode()
    assert not is_logged_in(phone)


def test_a_password_reset_logs_out_every_browser(user: User) -> None:
    laptop = logged_in(FIREFOX)
    user.refresh_from_db()  # the token covers the last log-in
    link = f"/accounts/password/reset/{urlsafe_base64_encode(force_bytes(user.pk))}/"
    stranger = Client()
    set_password = stranger.get(f"{link}{default_token_generator.make_token(user)}/")["Location"]
    new = "a much better phrase"
    reply = stranger.post(set_password, {"new_password1": new, "new_password2": new})
    assert reply.status_code == 302
    assert not BrowserSession.objects.filter(user=user).exists()  # not listed, before or after the laptop comes back
    assert not is_logged_in(laptop)


def test_sessions_from_before_the_upgrade_stay_logged_in_and_are_listed(user: User) -> None:
    """accounts 0005 copies Django's own sessions over: an upgrade logs nobody out."""
    before = Client()
    before.force_login(user)
    key = before.session.session_key
    old = DjangoDatabaseStore()
    old.update(dict(before.session.items()))
    old.create()
    BrowserSession.objects.all().delete()
    before.cookies["sessionid"] = old.session_key

    migration = importlib.import_module("accounts.migrations.0005_browser_session")
    migration.copy_sessions(apps, None)

    assert key != old.session_key and is_logged_in(before)
    assert listed(before) == ["an unknown browser this browser logged in before the last upgrade"]


def test_expired_sessions_are_deleted_by_the_daily_purge(user: User, settings: Any) -> None:
    """Nothing else removes a session whose browser never came back; the account page never lists it either."""
    gone, kept = logged_in(FIREFOX), logged_in(IPHONE)
    BrowserSession.objects.filter(session_key=gone.session.session_key).update(expire_date=timezone.now())
    assert len(listed(kept)) == 1
    settings.RETENTION_DAYS = 30
    call_command("purge_expired", stdout=io.StringIO())
    assert list(BrowserSession.objects.values_list("session_key", flat=True)) == [kept.session.session_key]


@pytest.mark.parametrize(
    ("user_agent", "named"),
    [
        (CHROME, "Chrome 156 on Linux"),
        ("python-requests/2.34.2", "Python Requests 2"),
        ("", "an unknown browser"),
        ("SomethingNobodyKnows/1", "SomethingNobodyKnows/1"),
    ],
)
def test_browsers_are_named_as_their_users_know_them(user_agent: str, named: str) -> None:
    assert browser_named(user_agent) == named
