"""bgsite/mail.py: `make run`'s mail, printed with its links whole; mail sent over SMTP with its subject whole."""

import email
import email.policy
import io
from typing import Any

from aiosmtpd.controller import Controller
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends import console
from django.test import override_settings

from bgsite import mail
from tests.conftest import free_port

LINK = "http://127.0.0.1:8000/accounts/email/confirm/" + "eyJ1c2VyIjoxLCJlbWFpbCI6ImFsaWNlQG5ldy5leGFtcGxlIn0" * 2 + "/"


def printed_by(backend_class: type[console.EmailBackend]) -> str:
    stream = io.StringIO()
    body = f"Hello élise,\n\nto confirm, open this link:\n\n{LINK}\n"
    backend_class(stream=stream).send_messages([EmailMessage("Confirm it", body, "site@example.com", ["a@b.example"])])
    return stream.getvalue()


def test_a_long_link_is_printed_whole_with_the_headers_a_reader_needs() -> None:
    printed = printed_by(mail.ConsoleBackend)
    assert LINK in printed.splitlines()
    assert "Subject: Confirm it\n" in printed and "To: a@b.example\n" in printed and "Hello élise," in printed
    assert "Content-Transfer-Encoding" not in printed
    assert LINK not in printed_by(console.EmailBackend)  # Django's: quoted-printable, "=" every 76 characters


class Inbox:
    """aiosmtpd's handler: keeps each message's subject as a mail reader decodes it."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def test_a_long_subject_sent_over_smtp_arrives_with_every_space_and_a_message_id_of_the_senders_domain() -> None:
    """On Python before 3.12.5 (this machine's 3.12.1) Django's SMTP backend sent "… a étéchangée" (gh-92081), and it
    names the machine in Message-ID (in a container, its id)."""
    subject = "Votre adresse e-mail bgsite sur bg.example.com a été changée"
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        options = {"host": "127.0.0.1", "port": port, "timeout": 5}
        with override_settings(MAILERS={"default": {"BACKEND": "bgsite.mail.SmtpBackend", "OPTIONS": options}}):
            assert isinstance(mailers["default"], mail.SmtpBackend)
            assert EmailMessage(subject, "Bonjour", "bgsite <site@example.com>", ["a@b.example"]).send() == 1
    finally:
        controller.stop()
    (received,) = inbox.received
    assert received["Subject"] == subject
    assert received["Message-ID"].endswith("@example.com>")
