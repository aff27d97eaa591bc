"""bgsite/console_mail.py: `make run`'s mail, printed with its links whole."""

import io

from django.core.mail import EmailMessage
from django.core.mail.backends import console

from bgsite import console_mail

LINK = "http://127.0.0.1:8000/accounts/email/confirm/" + "eyJ1c2VyIjoxLCJlbWFpbCI6ImFsaWNlQG5ldy5leGFtcGxlIn0" * 2 + "/"


def printed_by(backend_class: type[console.EmailBackend]) -> str:
    stream = io.StringIO()
    body = f"Hello élise,\n\nto confirm, open this link:\n\n{LINK}\n"
    backend_class(stream=stream).send_messages([EmailMessage("Confirm it", body, "site@example.com", ["a@b.example"])])
    return stream.getvalue()


def test_a_long_link_is_printed_whole_with_the_headers_a_reader_needs() -> None:
    printed = printed_by(console_mail.EmailBackend)
    assert LINK in printed.splitlines()
    assert "Subject: Confirm it\n" in printed and "To: a@b.example\n" in printed and "Hello élise," in printed
    assert "Content-Transfer-Encoding" not in printed
    assert LINK not in printed_by(console.EmailBackend)  # Django's: quoted-printable, "=" every 76 characters
