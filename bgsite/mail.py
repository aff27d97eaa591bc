"""bgsite's mail backends: Django's own, each mending one way its messages arrived broken.

ConsoleBackend (`EMAIL_URL=consolemail://`, the default, and so `make run`'s) prints each message with its body as
text. Django's console backend prints a message as it would be sent, and a text line over 78 characters (every
password-reset or address-confirmation link) is sent quoted-printable: the link came out broken by "=" at every
76th character, and a user copying it from the log got a page saying the link does not work.

SmtpBackend (`EMAIL_URL=smtp://…`) writes headers unfolded up to RFC 5322's 998 characters: Python before 3.12.5
(CPython gh-92081; Ubuntu 24.04 has 3.12.3) folds a header of encoded words past 78 characters and drops the space
between two of them, so the French notice of a changed address arrived as "… a étéchangée". And it names the
sender's domain in each Message-ID, where Django names the machine's (in a container its id, "@3f2a1b9c0d1e"), a
mark of spam to some filters.
"""

from email.message import EmailMessage as SentMessage
from email.utils import make_msgid, parseaddr
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends import console, smtp
from django.core.mail.utils import DNS_NAME

ENCODING_HEADERS = ("Content-Transfer-Encoding", "MIME-Version")
# RFC 5322's limit on a line; bgsite's subjects are far shorter, so none is folded.
LONGEST_LINE = 998


class ConsoleBackend(console.EmailBackend):
    def write_message(self, message: Any) -> None:
        sent: SentMessage = message.message()
        for name, value in sent.items():
            if name not in ENCODING_HEADERS:
                self.stream.write(f"{name}: {value}\n")
        text = sent.get_body(preferencelist=("plain",))
        self.stream.write(f"\n{text.get_content() if text is not None else ''}\n{'-' * 79}\n")


class SmtpBackend(smtp.EmailBackend):
    def _send(self, email_message: EmailMessage) -> bool:
        return super()._send(_AsSent(email_message))  # type: ignore[misc]  # where Django sends each message


class _AsSent:
    """`message` as Django's SMTP backend sends it, its headers written with lines of up to LONGEST_LINE, and its
    Message-ID (unless the message has one of its own) on the sender's domain."""

    def __init__(self, message: EmailMessage) -> None:
        self._message = message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)

    def message(self, *, policy: Any) -> SentMessage:
        sent = self._message.message(policy=policy.clone(max_line_length=LONGEST_LINE))
        if "message-id" not in {name.lower() for name in self._message.extra_headers}:
            sent.replace_header("Message-ID", make_msgid(domain=_domain_of(self._message.from_email)))
        return sent


def _domain_of(address: str) -> str:
    """The domain of `address` ("bgsite <noreply@example.com>"), or the machine's name where it has none in ASCII."""
    domain = parseaddr(address)[1].rpartition("@")[2]
    return domain if domain and domain.isascii() else str(DNS_NAME)
