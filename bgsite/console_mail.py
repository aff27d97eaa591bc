"""The mail backend of `EMAIL_URL=consolemail://` (the default, and so `make run`'s): each message printed with its
body as text.

Django's console backend prints a message as it would be sent, and a text line over 78 characters (every
password-reset or address-confirmation link) is sent quoted-printable: the link came out broken by "=" at every
76th character, and a user copying it from the log got a page saying the link does not work.
"""

from email.message import EmailMessage as SentMessage
from typing import Any

from django.core.mail.backends import console

ENCODING_HEADERS = ("Content-Transfer-Encoding", "MIME-Version")


class EmailBackend(console.EmailBackend):
    def write_message(self, message: Any) -> None:
        sent: SentMessage = message.message()
        for name, value in sent.items():
            if name not in ENCODING_HEADERS:
                self.stream.write(f"{name}: {value}\n")
        text = sent.get_body(preferencelist=("plain",))
        self.stream.write(f"\n{text.get_content() if text is not None else ''}\n{'-' * 79}\n")
