"""Live: a forgotten password is reset by e-mail, sent over SMTP to a real server (aiosmtpd on loopback)."""

import asyncio
import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller

from tests.conftest import LiveServer, free_port

pytestmark = pytest.mark.live

OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "a much better phrase"


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # While set, a message is answered only once `hold` is set (or after 10 s); `held_until_released` says which.
        self.hold: threading.Event | None = None
        self.held_until_released = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold is not None:
            self.held_until_released = await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 10)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture(scope="module")
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def mail_site(server_factory: Any, smtp_inbox: tuple[Inbox, int]) -> LiveServer:
    server = server_factory(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_inbox[1]}", DEFAULT_FROM_EMAIL="bgsite <noreply@example.com>"
    )
    server.start()
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('dora', email='dora@example.com', password={OLD_PASSWORD!r})",
    )
    return server


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


def post_form(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    """GET the form at `url` (following redirects), then POST `data` to it with the page's CSRF token."""
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text
    return session.post(
        page.url, {**data, "csrfmiddlewaretoken": csrf_token(page.text)}, timeout=30, allow_redirects=False
    )


def request_reset(server: LiveServer, address: str, language: str = "en") -> requests.Response:
    session = requests.Session()
    session.headers["Accept-Language"] = language
    return post_form(session, f"{server.url}/accounts/password/reset/", {"email": address})


def log_in(server: LiveServer, password: str) -> bool:
    session = requests.Session()
    reply = post_form(session, f"{server.url}/accounts/login/", {"username": "dora", "password": password})
    return reply.status_code == 302 and reply.headers["Location"] == "/"


def test_the_reset_mail_arrives_and_its_link_sets_a_new_password(
    mail_site: LiveServer, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp_inbox
    before = len(inbox.messages)
    reply = request_reset(mail_site, "DORA@example.com")
    assert reply.status_code == 302 and reply.headers["Location"] == "/accounts/password/reset/sent/"

    message = inbox.wait_for(before + 1)[before]
    assert message["To"] == "dora@example.com" and "noreply@example.com" in message["From"]
    assert message["Subject"] == "Reset your bgsite password on 127.0.0.1:" + str(mail_site.port)
    body = message.get_content()
    links = re.findall(rf"{re.escape(mail_site.url)}/accounts/password/reset/[\w-]+/[\w-]+/", body)
    assert len(links) == 1, body
    assert "dora" in body

    session = requests.Session()
    reply = post_form(session, links[0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert reply.status_code == 302 and reply.headers["Location"] == "/accounts/password/reset/done/"
    assert log_in(mail_site, NEW_PASSWORD)
    assert not log_in(mail_site, OLD_PASSWORD)

    # The link worked once: with the password changed, it opens nothing.
    again = requests.get(links[0], timeout=10)
    assert again.status_code == 400 and 'id="reset-link-invalid"' in again.text


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mail_site: LiveServer, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp_inbox
    before = len(inbox.messages)
    reply = request_reset(mail_site, "nobody@example.com")
    assert reply.status_code == 302 and reply.headers["Location"] == "/accounts/password/reset/sent/"
    time.sleep(0.5)
    assert len(inbox.messages) == before


def test_the_reply_comes_before_the_mail_is_sent(mail_site: LiveServer, smtp_inbox: tuple[Inbox, int]) -> None:
    """Sent before the reply, the mail made the reply to an address with an account a mail server's round trip later
    than to one without (0.25 s to a local server, seconds to a distant one): the reply's time told which addresses
    have an account. This mail server takes the mail only once the reply has come."""
    inbox, _ = smtp_inbox
    before = len(inbox.messages)
    inbox.hold = threading.Event()
    try:
        reply = request_reset(mail_site, "dora@example.com")
        inbox.hold.set()
        assert reply.status_code == 302 and reply.headers["Location"] == "/accounts/password/reset/sent/"
        assert len(inbox.wait_for(before + 1)) == before + 1
    finally:
        inbox.hold.set()
        inbox.hold = None
    assert inbox.held_until_released  # the reply came while the mail server still held the mail


def test_a_new_password_is_answered_before_its_notice_is_sent(
    mail_site: LiveServer, smtp_inbox: tuple[Inbox, int]
) -> None:
    """The notice to the account's address went before the reply: a mail server slow or out of reach held the
    password change's page until EMAIL_TIMEOUT (31 s with the default of then, 30 s). This one takes the notice only
    once the reply has come."""
    mail_site.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('erin', email='erin@example.com', password={OLD_PASSWORD!r})",
    )
    session = requests.Session()
    reply = post_form(session, f"{mail_site.url}/accounts/login/", {"username": "erin", "password": OLD_PASSWORD})
    assert reply.status_code == 302
    inbox, _ = smtp_inbox
    before = len(inbox.messages)
    inbox.hold = threading.Event()
    try:
        new = {"old_password": OLD_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        reply = post_form(session, f"{mail_site.url}/accounts/password/", new)
        inbox.hold.set()
        assert reply.status_code == 302 and reply.headers["Location"] == "/accounts/password/done/"
        arrived = inbox.wait_for(before + 1)[before:]
    finally:
        inbox.hold.set()
        inbox.hold = None
    assert [(notice["To"], notice["Subject"]) for notice in arrived] == [
        ("erin@example.com", f"Your bgsite password on 127.0.0.1:{mail_site.port} was changed")
    ]
    assert inbox.held_until_released  # the reply came while the mail server still held the notice
