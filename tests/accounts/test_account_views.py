"""Sign-up, log in/out, password change and the account dashboard (API keys, usage)."""

import html
import io
import re
import tarfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services
from accounts.models import ApiKey
from removal.models import Batch, DailyUsage, Item
from tests.conftest import make_item

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a much better phrase"


def new_key_on(html: str) -> str | None:
    """The plain key shown on the dashboard right after creating it, if any."""
    match = re.search(r'<code id="new-key"[^>]*>([^<]+)</code>', html)
    return match.group(1) if match else None


def cli_card(html: str) -> str:
    match = re.search(r'<pre class="code" id="cli-setup"><code>(.*?)</code></pre>', html, re.S)
    assert match is not None
    return match.group(1)


def create_key(client: Any, name: str = "shop import") -> str:
    response = client.post("/accounts/keys/", {"name": name}, follow=True)
    assert response.status_code == 200
    key = new_key_on(response.content.decode())
    assert key is not None
    return key


# --- sign-up, log in, log out, password --------------------------------------------


class TestSignup:
    def test_signup_creates_user_and_logs_in(self, client: Any) -> None:
        response = client.post(
            "/accounts/signup/",
            {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD},
            follow=True,
        )
        assert response.redirect_chain == [("/", 302)]
        assert User.objects.filter(username="carol").exists()
        assert response.context["user"].username == "carol"
        assert "Welcome, carol" in response.content.decode()

    def test_bad_signup_shows_errors_and_creates_nobody(self, client: Any, user: Any) -> None:
        def sign_up(username: str, email: str, password2: str = PASSWORD, password1: str = PASSWORD) -> Any:
            data = {"username": username, "email": email, "password1": password1, "password2": password2}
            return client.post("/accounts/signup/", data)

        mismatch = sign_up("dave", "dave@example.com", password2="other")
        taken = sign_up("alice", "alice2@example.com")
        weak = sign_up("erin", "erin@example.com", password1="123", password2="123")
        no_email = sign_up("frank", "")
        email_taken = sign_up("gina", "ALICE@example.com")

        for response in (mismatch, taken, weak, no_email, email_taken):
            assert response.status_code == 200
            assert 'class="errorlist' in response.content.decode()
        assert "A user with that username already exists." in taken.content.decode()
        assert "An account with this e-mail address exists already." in email_taken.content.decode()
        assert not User.objects.filter(username__in=["dave", "erin", "frank", "gina"]).exists()

    def test_logged_in_user_is_sent_home_from_signup(self, client: Any, user: Any) -> None:
        client.force_login(user)
        response = client.get("/accounts/signup/")
        assert response.status_code == 302 and response["Location"] == "/"


class TestLoginLogout:
    def test_login_with_the_right_password_goes_home(self, client: Any, user: Any) -> None:
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert response.status_code == 302 and response["Location"] == "/"
        assert client.get("/").status_code == 200

    def test_login_follows_next(self, client: Any, user: Any) -> None:
        page = client.get("/accounts/login/?next=/batches/").content.decode()
        assert 'name="next" value="/batches/"' in page
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/batches/"})
        assert response["Location"] == "/batches/"

    def test_wrong_password_shows_an_error(self, client: Any, user: Any) -> None:
        response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert "That username and password do not match an account." in response.content.decode()
        assert client.get("/accounts/").status_code == 302

    def test_logout_is_a_post_button(self, client: Any, user: Any) -> None:
        client.force_login(user)
        page = client.get("/").content.decode()
        assert re.search(r'<form method="post" action="/accounts/logout/"', page)
        assert client.get("/accounts/logout/").status_code == 405
        assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
        assert client.get("/accounts/").status_code == 302

    def test_the_log_in_page_after_a_log_out_says_it_happened(self, client: Any, user: Any) -> None:
        client.force_login(user)
        page = client.post("/accounts/logout/", follow=True).content.decode()
        assert re.search(r'<li class="message success"><div role="status">You are logged out.</div></li>', page)
        # Only once, and not for a visitor who was not logged in.
        assert "You are logged out." not in client.get("/accounts/login/").content.decode()
        assert "You are logged out." not in client.post("/accounts/logout/", follow=True).content.decode()

    def test_the_messages_are_items_of_their_list_and_say_themselves_inside(self, client: Any, user: Any) -> None:
        """A role on an <li> replaces its listitem role: the list would hold none, and screen readers would not say
        "list, 1 item". The status is on the message inside the item."""
        client.force_login(user)
        page = client.post("/accounts/logout/", follow=True).content.decode()
        messages = re.search(r'<ul class="messages">(.*?)</ul>', page, re.S)
        assert messages is not None
        items = re.findall(r"<li\b[^>]*>", messages.group(1))
        assert items and all("role=" not in item for item in items), items
        assert re.search(r'<li class="message success">\s*<div role="status">You are logged out.</div>', page)
        client.force_login(user)
        refused = client.post("/accounts/keys/", {"name": ""}, follow=True).content.decode()
        assert re.search(r'<li class="message error">\s*<div role="alert">Give the key a name', refused)


class TestPasswordChange:
    def test_password_change(self, client: Any, user: Any) -> None:
        client.force_login(user)
        assert client.get("/accounts/password/").status_code == 200
        response = client.post(
            "/accounts/password/",
            {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
            follow=True,
        )
        assert response.redirect_chain == [("/accounts/password/done/", 302)]
        assert "Password changed" in response.content.decode()
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)
        assert client.get("/accounts/").status_code == 200  # still logged in here

    def test_wrong_old_password_changes_nothing(self, client: Any, user: Any, mailoutbox: list[Any]) -> None:
        client.force_login(user)
        response = client.post(
            "/accounts/password/",
            {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
        user.refresh_from_db()
        assert user.check_password(PASSWORD)
        assert mailoutbox == []

    def test_a_changed_or_reset_password_is_told_to_the_accounts_address(
        self, client: Any, user: Any, mailoutbox: list[Any]
    ) -> None:
        """Changed by someone else (a session left open, a password learnt), nothing told its owner, who went on
        unaware; the notice says how to take the account back."""
        client.force_login(user)
        changed = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        assert client.post("/accounts/password/", changed).status_code == 302
        (notice,) = mailoutbox
        assert notice.to == ["alice@example.com"] and notice.subject == "Your bgsite password on testserver was changed"
        assert "http://testserver/accounts/password/reset/" in notice.body

        reset = Client()
        reset.post("/accounts/password/reset/", {"email": "alice@example.com"})
        link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mailoutbox[-1].body)
        assert link is not None
        form = reset.get(link.group(1), follow=True).redirect_chain[-1][0]
        assert (
            reset.post(form, {"new_password1": "a third phrase 3", "new_password2": "a third phrase 3"}).status_code
            == 302
        )
        assert [mail.subject for mail in mailoutbox[1:]] == [
            "Reset your bgsite password on testserver",
            "Your bgsite password on testserver was changed",
        ]


# --- dashboard: API keys and usage ------------------------------------------------


class TestDashboard:
    def test_dashboard_requires_login(self, client: Any) -> None:
        response = client.get("/accounts/")
        assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/accounts/"
        assert client.post("/accounts/keys/", {"name": "x"}).status_code == 302
        assert not ApiKey.objects.exists()

    def test_new_key_is_shown_once(self, client: Any, user: Any) -> None:
        client.force_login(user)
        key = create_key(client)
        again = client.get("/accounts/").content.decode()
        assert new_key_on(again) is None
        assert key not in again
        prefix = ApiKey.objects.get(user=user).prefix
        assert key.startswith(prefix) and f"<code>{prefix}…</code>" in again
        assert "shop import" in again and "never" in again  # not used yet

    def test_the_page_showing_keys_and_secrets_is_never_kept_by_the_browser(self, client: Any, user: Any) -> None:
        """Kept, it was shown again from the browser's cache by the Back button, new key and webhook secret included,
        even after a log-out on a shared computer."""
        client.force_login(user)
        shown = client.post("/accounts/keys/", {"name": "shop import"}, follow=True)
        assert new_key_on(shown.content.decode()) is not None
        assert "no-store" in shown["Cache-Control"] and "private" in shown["Cache-Control"]

    def test_only_a_hash_of_the_key_is_stored(self, client: Any, user: Any) -> None:
        client.force_login(user)
        key = create_key(client)
        secret = key.split("_", 2)[2]
        stored = [str(value) for value in ApiKey.objects.values().get().values()]
        assert not any(secret in value for value in stored)

    def test_new_key_works_and_revoking_refuses_it_at_once(self, client: Any, user: Any) -> None:
        client.force_login(user)
        key = create_key(client)
        assert Client().get("/api/v1/batches", HTTP_X_API_KEY=key).status_code == 200

        key_id = ApiKey.objects.get(user=user).id
        response = client.post(f"/accounts/keys/{key_id}/revoke/", follow=True)

        assert "The key was revoked" in response.content.decode()
        assert ">revoked<" in response.content.decode()
        assert Client().get("/api/v1/batches", HTTP_X_API_KEY=key).status_code == 401

    def test_a_revoked_key_says_when_it_was_revoked_and_when_it_goes(self, client: Any, user: Any) -> None:
        """A revoked key was listed for good, saying only when it was revoked; it goes 30 days later now."""
        key, _ = services.api_key_create(user=user, name="rotated")
        revoked_at = datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=revoked_at)
        services.api_key_create(user=user, name="in use")
        client.force_login(user)

        page = client.get("/accounts/").content.decode()

        rows = re.findall(r'<tr data-key-prefix="[^"]*">(.*?)</tr>', page, re.S)
        assert [re.search(r"<td>(.*?)</td>", row).group(1) for row in rows] == ["in use", "rotated"]  # type: ignore[union-attr]
        status = " ".join(re.sub(r"<[^>]+>", " ", rows[1]).split())
        assert "revoked 03/01/2026 1:30 p.m. removed after 03/31/2026 1:30 p.m." in status
        assert 'removed after <time datetime="2026-03-31T13:30:00+00:00">' in rows[1]
        assert "removed after" not in rows[0]

    def test_another_user_cannot_revoke_my_key(self, client: Any, user: Any, other_user: Any, api_key: str) -> None:
        key = ApiKey.objects.get(user=user)
        client.force_login(other_user)
        response = client.post(f"/accounts/keys/{key.id}/revoke/", follow=True)
        assert "No such active key." in response.content.decode()
        key.refresh_from_db()
        assert key.revoked_at is None
        assert Client().get("/api/v1/batches", HTTP_X_API_KEY=api_key).status_code == 200

    def test_dashboard_lists_only_my_keys(self, client: Any, user: Any, other_user: Any) -> None:
        client.force_login(other_user)
        create_key(client, "bobs key")
        client.force_login(user)
        assert "bobs key" not in client.get("/accounts/").content.decode()

    def test_key_without_a_name_is_refused(self, client: Any, user: Any) -> None:
        client.force_login(user)
        response = client.post("/accounts/keys/", {"name": ""}, follow=True)
        assert "Give the key a name" in response.content.decode()
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize(
        "name", ["shop\timport", "two\nlines", "bell\x07", "two\u2028lines", "two\u2029paragraphs"]
    )
    def test_a_key_name_with_a_control_character_is_refused_saying_why(self, client: Any, user: Any, name: str) -> None:
        # It was kept as sent (a bell, a tab), where a batch's name with one is refused.
        client.force_login(user)
        response = client.post("/accounts/keys/", {"name": name}, follow=True).content.decode()
        assert "cannot hold a line break, a tab or another control character." in html.unescape(response)
        assert not ApiKey.objects.exists()

    def test_an_account_holds_a_bounded_number_of_keys_in_use(self, client: Any, user: Any) -> None:
        """Every POST made a key, without end; a revoked one no longer counts."""
        client.force_login(user)
        for number in range(services.MAX_API_KEYS):
            services.api_key_create(user=user, name=f"k{number}")
        refused = client.post("/accounts/keys/", {"name": "one more"}, follow=True).content.decode()
        assert f"An account holds at most {services.MAX_API_KEYS} keys in use" in refused
        assert new_key_on(refused) is None and not ApiKey.objects.filter(name="one more").exists()
        client.post(f"/accounts/keys/{ApiKey.objects.filter(user=user).first().pk}/revoke/")
        assert new_key_on(client.post("/accounts/keys/", {"name": "one more"}, follow=True).content.decode())

    def test_usage_shows_the_days_count(self, client: Any, user: Any, other_user: Any) -> None:
        now = timezone.now()
        for owner, status in [(user, "done"), (user, "done"), (user, "failed"), (other_user, "done")]:
            make_item(Batch.objects.create(owner=owner), status, processing_ms=1500 if status == "done" else None)
        client.force_login(user)

        html = client.get("/accounts/").content.decode()

        usage = re.search(r'<table class="table numbers" id="usage">(.*?)</table>', html, re.S)
        assert usage is not None
        day_row = (
            # The date as English writes it (SHORT_DATE_FORMAT); see tests/web/test_languages.py for others.
            f"<tr><td>{now:%m/%d/%Y}</td><td>2</td><td>1</td><td>3\xa0bytes</td><td>20\xa0bytes</td><td>3.0 s</td></tr>"
        )
        assert day_row in usage.group(1)
        assert "<td>2</td><td>1</td><td></td><td></td><td></td></tr>" in usage.group(1)  # totals
        # The chart has one day: a done bar at full height and a failed bar on top of it.
        chart = re.search(r'<svg class="usage-chart".*?</svg>', html, re.S)
        assert chart is not None
        assert 'class="bar-done" x="0" y="27" width="14" height="53"' in chart.group(0)
        assert 'class="bar-failed" x="0" y="0" width="14" height="27"' in chart.group(0)
        # Named by its first day, not by a count of days that would need a plural ("dernier 1 jour").
        assert f'aria-label="Images per day since {now:%m/%d/%Y}"' in chart.group(0)
        client.cookies["django_language"] = "fr"
        assert f'aria-label="Images par jour depuis le {now:%d/%m/%Y}"' in client.get("/accounts/").content.decode()

    def test_usage_reads_the_last_30_days_only(self, client: Any, user: Any) -> None:
        """The days before are not read (selectors.usage_by_day): a year of an account's items was read at each look
        at the page, 0.7-1.2 s for 300,000 of them."""
        for days_ago in (0, 29, 30, 300):
            item = make_item(Batch.objects.create(owner=user), "done")
            Item.objects.filter(pk=item.pk).update(finished_at=timezone.now() - timedelta(days=days_ago))
        client.force_login(user)

        html = client.get("/accounts/").content.decode()

        usage = re.search(r'<table class="table numbers" id="usage">(.*?)</table>', html, re.S)
        assert usage is not None
        shown = re.findall(r"<tr><td>(\d\d/\d\d/\d{4})</td>", usage.group(1))
        assert shown == [f"{timezone.now() - timedelta(days=days_ago):%m/%d/%Y}" for days_ago in (0, 29)]

    def test_the_usage_table_can_be_scrolled_from_the_keyboard(self, client: Any, user: Any) -> None:
        """On a phone the usage table scrolls sideways with nothing in it to focus (axe: scrollable-region-focusable):
        its box takes the focus itself, named by the section's heading."""
        make_item(Batch.objects.create(owner=user), "done")
        client.force_login(user)
        html = client.get("/accounts/").content.decode()
        assert re.search(
            r'<div class="table-wrap" tabindex="0" role="group" aria-labelledby="usage-title">\s*'
            r'<table class="table numbers" id="usage">',
            html,
        )
        assert '<h2 id="usage-title">Usage</h2>' in html

    def test_the_days_quota_is_shown_only_when_there_is_one(self, client: Any, user: Any, settings: Any) -> None:
        DailyUsage.objects.create(owner=user, day=timezone.now().date(), images=3, previews=1)  # 2.25 credits
        client.force_login(user)
        assert 'id="quota"' not in client.get("/accounts/").content.decode()
        settings.DAILY_IMAGE_QUOTA = 10
        page = client.get("/accounts/").content.decode()
        assert "Today\N{RIGHT SINGLE QUOTATION MARK}s quota: 7.75 of 10 credits left" in page
        settings.DAILY_IMAGE_QUOTA = 12000  # thousands grouped as the page's language writes them
        page = client.get("/accounts/").content.decode()
        assert "Today\N{RIGHT SINGLE QUOTATION MARK}s quota: 11,997.75 of 12,000 credits left" in page
        german = client.get("/accounts/", headers={"Accept-Language": "de"}).content.decode()
        assert "11.997,75 von 12.000" in german

    def test_every_line_that_sets_the_key_holds_the_one_just_made(self, client: Any, user: Any) -> None:
        """The API card's `export BGSITE_API_KEY=bgs_…` set the variable back to that placeholder for whoever pasted
        the command-line card's lines (with the new key) and then the API card's: its curl calls were a 401."""
        client.force_login(user)
        just_created = client.post("/accounts/keys/", {"name": "laptop"}, follow=True).content.decode()
        exports = re.findall(r"export BGSITE_API_KEY=(\S+)", just_created)
        assert len(exports) == 2 and set(exports) == {new_key_on(just_created)}

    def test_command_line_card_installs_the_client_from_this_server(self, client: Any, user: Any) -> None:
        client.force_login(user)
        just_created = client.post("/accounts/keys/", {"name": "laptop"}, follow=True).content.decode()
        assert cli_card(just_created).splitlines() == [
            "pip install http://testserver/client/bgsite-client.tar.gz",
            "export BGSITE_URL=http://testserver",
            f"export BGSITE_API_KEY={new_key_on(just_created)}",
            "bgsite remove photos/ -o cutouts/ --recursive",
        ]
        later = cli_card(client.get("/accounts/", secure=True).content.decode())
        assert later.splitlines()[:3] == [
            "pip install https://testserver/client/bgsite-client.tar.gz",
            "export BGSITE_URL=https://testserver",
            "export BGSITE_API_KEY=bgs_…   # one of your keys",
        ]

        served = Client().get(urlsplit(later.split()[2]).path)  # anonymous: pip cannot log in
        assert served.status_code == 200 and served["Content-Type"] == "application/gzip"
        with tarfile.open(fileobj=io.BytesIO(served.content)) as archive:
            names = archive.getnames()
        top = names[0].split("/")[0]
        assert re.fullmatch(r"bgsite_client-\d+\.\d+\.\d+", top)
        members = {name.removeprefix(f"{top}/") for name in names}
        assert {"pyproject.toml", "bgsite_client/cli.py", "bgsite_client/__init__.py"} <= members
        assert all(name.startswith(f"{top}/") and "__pycache__" not in name for name in names)


class TestCsrf:
    """The forms are protected against cross-site requests."""

    @pytest.fixture
    def browser(self, user: Any) -> Client:
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        return browser

    def test_forms_without_a_token_are_refused(self, browser: Client, user: Any, api_key: str) -> None:
        key = ApiKey.objects.get(user=user)
        assert browser.post("/accounts/keys/", {"name": "x"}).status_code == 403
        assert browser.post(f"/accounts/keys/{key.id}/revoke/").status_code == 403
        assert browser.post("/accounts/logout/").status_code == 403
        assert browser.post("/accounts/password/", {"old_password": PASSWORD}).status_code == 403
        assert ApiKey.objects.filter(user=user).count() == 1 and ApiKey.objects.get().revoked_at is None

    def test_anonymous_forms_without_a_token_are_refused(self) -> None:
        browser = Client(enforce_csrf_checks=True)
        data = {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD}
        assert browser.post("/accounts/signup/", data).status_code == 403
        assert browser.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
        assert not User.objects.filter(username="carol").exists()

    def test_forms_with_the_pages_token_work(self, browser: Client, user: Any) -> None:
        page = browser.get("/accounts/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        response = browser.post("/accounts/keys/", {"name": "x", "csrfmiddlewaretoken": token.group(1)})
        assert response.status_code == 302
        assert ApiKey.objects.filter(user=user).count() == 1


def test_login_attempts_are_throttled(client: Any, user: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT = "3/h"
    for _ in range(3):
        wrong = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert wrong.status_code == 200
    refused = client.post("/accounts/login/", {"username": "alice", "password": "correct horse battery"})
    assert refused.status_code == 429
    assert "Too many log-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # While throttled the password is not checked: a wrong one gets the same page, so guessing on learns nothing.
    guessed = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert guessed.status_code == 429

    def page(reply: Any) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", reply.content.decode())

    assert page(guessed) == page(refused)
    assert "do not match an account" not in guessed.content.decode()
    assert 'value="alice"' in guessed.content.decode()  # the name typed is kept
    # Each spelling the form reads as alice counts against alice's limit: spaces, full-width letters, capitals.
    # From other addresses too (their own limits are fresh), so that only the username's limit is at work.
    for number, spelling in enumerate((" alice", "alice\t", "\uff41lice", "Alice")):
        data = {"username": spelling, "password": "correct horse battery"}
        assert client.post("/accounts/login/", data, REMOTE_ADDR=f"10.0.0.{number}").status_code == 429
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_for_a_name_do_not_keep_its_owner_out_of_the_browsers_they_logged_in_from(
    user: Any, other_user: Any, settings: Any
) -> None:
    """Ten wrong passwords a minute for "alice", from anywhere, kept her out for good: every log-in for the name was
    refused, hers with the right password too. Browsers she has logged in from have a count of their own; a new one
    stays under the name's, and the count per address holds for all."""
    settings.LOGIN_RATE_LIMIT = "3/h"
    right = {"username": "alice", "password": PASSWORD}
    hers = Client()
    assert hers.post("/accounts/login/", right, REMOTE_ADDR="10.0.1.1").status_code == 302
    hers.post("/accounts/logout/", REMOTE_ADDR="10.0.1.1")
    for number in range(3):  # her log-in counted as the name's first
        hers_not = Client().post("/accounts/login/", {**right, "password": "wrong"}, REMOTE_ADDR=f"10.0.2.{number}")
        assert hers_not.status_code == (429 if number == 2 else 200)
    assert Client().post("/accounts/login/", right, REMOTE_ADDR="10.0.3.1").status_code == 429  # a new browser
    assert hers.post("/accounts/login/", {**right, "username": "Alice "}, REMOTE_ADDR="10.0.1.1").status_code == 200
    assert hers.post("/accounts/login/", right, REMOTE_ADDR="10.0.1.1").status_code == 302
    assert hers.get("/accounts/").status_code == 200
    # The mark is the account's: another account's opens no count apart for alice, and a forged one is no mark.
    bobs = Client()
    assert bobs.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    bobs.post("/accounts/logout/")
    assert bobs.post("/accounts/login/", right, REMOTE_ADDR="10.0.4.1").status_code == 429
    forged = Client()
    forged.cookies["known_login"] = hers.cookies["known_login"].value[:-3] + "abc"
    assert forged.post("/accounts/login/", right, REMOTE_ADDR="10.0.4.2").status_code == 429


def test_the_forms_that_take_the_password_are_throttled_per_account(
    client: Any, user: Any, other_user: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    """A session left open could guess the account's password on these forms at full speed, past the log-in's
    throttle. Past the limit the password is not checked: the right one gets the same refusal."""
    settings.LOGIN_RATE_LIMIT = "3/h"
    client.force_login(user)
    for form in ("/accounts/email/", "/accounts/delete/", "/accounts/password/"):
        wrong = {"password": "wrong", "old_password": "wrong", "email": "new@example.com"}
        assert client.post(form, wrong).status_code == 200
    right = {"password": PASSWORD, "email": "new@example.com"}
    new_password = {
        "old_password": PASSWORD,
        "new_password1": "another horse battery",
        "new_password2": "another horse battery",
    }
    for form, data in (
        ("/accounts/email/", right),
        ("/accounts/delete/", right),
        ("/accounts/password/", new_password),
    ):
        refused = client.post(form, data)
        assert refused.status_code == 429 and "Too many tries of your password" in refused.content.decode()
        assert "That is not your password" not in refused.content.decode()
    for _ in range(3):  # more tries on the refused account, from the one client address
        assert client.post("/accounts/password/", new_password).status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and user.email == "alice@example.com" and mailoutbox == []
    other = Client()
    other.force_login(other_user)  # another account's limit is its own, from the same client address too
    assert other.post("/accounts/password/", new_password).status_code == 302
    other_user.refresh_from_db()
    assert other_user.check_password("another horse battery")
    assert other.post("/accounts/delete/", {"password": "another horse battery"}).status_code == 302
    assert not User.objects.get(pk=other_user.pk).is_active  # ended; its job deletes it


def test_a_username_longer_than_any_is_not_normalized_before_the_throttle(client: Any, user: Any) -> None:
    """NFKC makes U+FDFA 18 characters: a form's worth of it (2.4 MB) held the thread 4 s in the throttle's key
    alone, ten times a minute from each address, as Django's UsernameField no longer does (CVE-2023-46695)."""
    started = time.perf_counter()
    reply = client.post("/accounts/login/", {"username": "\ufdfa" * 800_000, "password": "x"})
    assert reply.status_code == 200 and "_auth_user_id" not in client.session
    assert time.perf_counter() - started < 1.5


def test_password_reset_requests_are_throttled_per_address_asked_and_per_client(
    client: Any, user: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    """Each request sends a mail: unthrottled, anyone could fill alice's inbox, or time the replies (a mail is sent
    for an address with an account only) to find which addresses have one. A refusal reads the same for any address."""
    settings.PASSWORD_RESET_RATE_LIMIT = "3/h"
    for _ in range(3):
        assert client.post("/accounts/password/reset/", {"email": "alice@example.com"}).status_code == 302
    assert len(mailoutbox) == 3
    refused = client.post("/accounts/password/reset/", {"email": " ALICE@example.com"}, REMOTE_ADDR="10.0.0.1")
    assert refused.status_code == 429 and "Too many password reset requests" in refused.content.decode()
    assert len(mailoutbox) == 3

    def page(reply: Any) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"|value="[^"]*@[^"]*"', "", reply.content.decode())

    # This client's address is used up too: another address gets the same refusal, its account or not.
    for address in ("nobody@example.com", "bob@example.com"):
        assert page(client.post("/accounts/password/reset/", {"email": address})) == page(refused)
    assert len(mailoutbox) == 3


def test_a_reset_mail_that_cannot_be_sent_is_logged_and_the_page_reads_as_for_any_address(
    client: Any, user: Any, settings: Any, caplog: Any
) -> None:
    from tests.conftest import free_port

    options = {"host": "127.0.0.1", "port": free_port(), "timeout": 2}  # nothing listens there
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    reply = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert reply.status_code == 302 and reply["Location"] == "/accounts/password/reset/sent/"
    (failure,) = [record for record in caplog.records if record.name == "accounts.forms"]
    assert failure.levelname == "ERROR" and failure.getMessage() == f"Failed to send password reset email to {user.pk}"
    assert isinstance(failure.exc_info[1], ConnectionRefusedError)


def test_the_reset_mail_and_page_say_how_long_the_link_works(
    client: Any, user: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    """As PASSWORD_RESET_TIMEOUT sets it, in the reader's language: they said "a few days" whatever it was, and a
    link set to work for an hour was tried the next day."""
    settings.PASSWORD_RESET_TIMEOUT = 90 * 60
    sent = client.post("/accounts/password/reset/", {"email": "alice@example.com"}, follow=True)
    assert "It works once, for 1\xa0hour, 30\xa0minutes." in sent.content.decode()
    assert "The link works once, for 1\xa0hour, 30\xa0minutes." in mailoutbox[0].body
    german = {"Accept-Language": "de"}
    sent = client.post("/accounts/password/reset/", {"email": "alice@example.com"}, headers=german, follow=True)
    assert "1\xa0Stunde, 30\xa0Minuten" in sent.content.decode() and "1\xa0Stunde, 30\xa0Minuten" in mailoutbox[1].body


def test_a_reset_link_that_works_no_more_is_answered_400_as_the_sites_other_links(
    client: Any, user: Any, mailoutbox: list[Any]
) -> None:
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/accounts/password/reset/[\w-]+/[\w-]+/)", mailoutbox[0].body)
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200 and 'id="reset-link-invalid"' not in form.content.decode()
    new = {"new_password1": "a new horse 1", "new_password2": "a new horse 1"}
    assert client.post(form.redirect_chain[-1][0], new).status_code == 302
    used = Client().get(link.group(1))
    assert used.status_code == 400 and 'id="reset-link-invalid"' in used.content.decode()
    assert Client().get("/accounts/password/reset/MQ/bogus-token/").status_code == 400


def test_pages_send_a_strict_content_security_policy(client: Any) -> None:
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("method", ["PUT", "DELETE", "TRACE"])
def test_a_form_page_answers_a_method_it_does_not_take_with_a_405(client: Any, user: Any, method: str) -> None:
    """Each answered any method with its form, a 200; a DELETE of the account's deletion page showed it."""
    assert client.generic(method, "/accounts/signup/").status_code == 405  # signed out: sign-up's form
    client.force_login(user)
    for path in ("/accounts/email/", "/accounts/delete/", "/accounts/email/confirm/x/", "/accounts/email/verify/x/"):
        reply = client.generic(method, path, "password=" + PASSWORD, "application/x-www-form-urlencoded")
        assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD, POST"), path
    assert User.objects.filter(pk=user.pk, is_active=True).exists()


@pytest.mark.parametrize("method", ["PUT", "OPTIONS"])
def test_djangos_own_account_pages_answer_a_method_they_do_not_take_with_a_405(
    client: Any, user: Any, method: str
) -> None:
    """Django's class-based views take PUT as a POST and answer OPTIONS: a PUT to the log-in or reset page was
    answered with the page itself (a 200, its form bound to nothing: "This field is required"), OPTIONS with a blank
    200, and Allow listed PUT and OPTIONS, where the site's function-based pages answer both with the 405 page."""
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    token_path = client.get(f"/accounts/password/reset/{uid}/{token}/")["Location"]  # the link's page of the form
    signed_out = {
        "/accounts/login/": "GET, HEAD, POST",
        "/accounts/password/reset/": "GET, HEAD, POST",
        "/accounts/password/reset/sent/": "GET, HEAD",
        token_path: "GET, HEAD, POST",
        "/accounts/password/reset/done/": "GET, HEAD",
    }
    signed_in = {
        "/accounts/password/": "GET, HEAD, POST",
        "/accounts/password/done/": "GET, HEAD",
        "/accounts/logout/": "POST",
    }
    for pages in (signed_out, signed_in):
        if pages is signed_in:
            client.force_login(user)
        for path, allowed in pages.items():
            reply = client.generic(method, path, "username=x&password=y", "application/x-www-form-urlencoded")
            assert (reply.status_code, reply.get("Allow")) == (405, allowed), path
            assert b"<html" in reply.content, path  # the site's page, not a blank one
