"""Log filters: what a client can trigger is one WARNING line, and API keys are never written.

A request refused for what its client sent (a Host not in ALLOWED_HOSTS, a body that
is not valid multipart) is not a fault of this server: Django logs some of them at
ERROR with a traceback, which lets anyone fill the log with tracebacks and bury the
real errors. uvicorn logs each websocket handshake with its query string, where a
client may have put `?key=<API key>`.
"""

import logging
import re

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http.multipartparser import MultiPartParserError

from bgsite.access_log import SECRET_PARAMETERS

CLIENT_ERRORS = (SuspiciousOperation, BadRequest, MultiPartParserError, RequestDataTooBig, TooManyFieldsSent)
SECRET_IN_QUERY = re.compile(rf"(?i)\b({'|'.join(sorted(SECRET_PARAMETERS))})=[^&\s\"']*")


class ClientErrorsAsWarnings(logging.Filter):
    """A record about a client's error becomes one WARNING line: no traceback, never ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CLIENT_ERRORS):
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class RefusalsAsWarnings(logging.Filter):
    """django.request's line for a 503 or 504 at WARNING, not ERROR: bgsite answers those on purpose (busy, not ready
    in time, storage or the database down), and a failure behind one has an ERROR line of its own saying why, so that
    a busy minute is no storm of errors. ERROR stays for the 500s, the bugs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (503, 504) and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class RedactKeys(logging.Filter):
    """`key=...` (and the other secret parameters of bgsite.access_log) in a record's arguments becomes [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_IN_QUERY.sub(r"\1=[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
