"""The LOGGING setting: one line per record on stderr, at the level LOG_LEVEL names, with the request or job it
belongs to (bgsite/log_context.py): plain text, or with LOG_FORMAT=json one JSON object a line (python-json-logger),
which log shippers read without a pattern, a traceback included. E-mail addresses are written as [e-mail].

Kept apart from bgsite/log_filters.py, which imports Django's request machinery: the
settings module builds this dict before Django is set up.
"""

import logging
import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# Written as [e-mail] in every line: a mail server's refusal names its recipient (smtplib's SMTPRecipientsRefused),
# and Django's password-reset form logs that traceback.
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class WithoutAddresses(logging.Formatter):
    """A formatted line with every e-mail address in it as [e-mail] (an address holds no character JSON escapes)."""

    def format(self, record: logging.LogRecord) -> str:
        return EMAIL_ADDRESS.sub("[e-mail]", super().format(record))


class JsonLines(WithoutAddresses, JsonFormatter):
    pass


FORMATS = ("plain", "json")
# Keys of a JSON line: time (ISO 8601, UTC), level, logger, message, and the request_id, batch_id and item_id it is
# about, status_code (django.request's) or exc_info (a traceback) where it has them.
JSON_FORMAT = {
    "()": JsonLines,
    "fmt": "%(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level", "name": "logger"},
    "timestamp": "time",
    # Besides logging's own: the plain format's `context`, and django.request's request object.
    "reserved_attrs": [*RESERVED_ATTRS, "context", "request"],
}


def logging_config(level: str, *, log_format: str = "plain") -> dict[str, Any]:
    level, log_format = level.upper(), log_format.lower()
    if not isinstance(logging.getLevelNamesMapping().get(level), int):
        raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}")
    if log_format not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {log_format!r}")
    # Their DEBUG lines hold request signatures, the access key's id and whole URLs (a presigned `img`, a webhook's
    # token): at INFO at most, whatever LOG_LEVEL says.
    at_most_info = logging.getLevelName(max(logging.getLevelNamesMapping()[level], logging.INFO))
    quiet = {name: {"level": at_most_info} for name in ("botocore", "boto3", "s3transfer", "urllib3")}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # %(context)s: " [request_id=… batch_id=… item_id=…]", what bgsite.log_context knows of a line's request or job.
        "formatters": {
            "plain": {"()": WithoutAddresses, "fmt": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"},
            "json": JSON_FORMAT,
        },
        # What clients can trigger (a foreign Host, a malformed body) is one WARNING line, without traceback.
        "filters": {
            "client_errors": {"()": "bgsite.log_filters.ClientErrorsAsWarnings"},
            "redact_keys": {"()": "bgsite.log_filters.RedactKeys"},
            "refusals": {"()": "bgsite.log_filters.RefusalsAsWarnings"},
            "context": {"()": "bgsite.log_context.LogContext"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["client_errors", "context"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            **quiet,
            # A line per job state change is noise at hundreds of images per batch.
            "django.tasks": {"level": "WARNING"},
            "django_tasks_db": {"level": "WARNING"},
            # A 503 or 504 is a refusal bgsite chose (busy, or a failure logged at ERROR where it happened): WARNING.
            "django.request": {"filters": ["refusals"]},
            # uvicorn's own lines (start, stop, websocket handshakes) in the same format, through the same handler.
            "uvicorn": {"handlers": ["console"], "level": level, "propagate": False},
            # Never uvicorn's access log, which prints query strings as they came (?key=<API key>): bgsite.access
            # writes that line, redacted. Configured here, or it would be reset to pass its lines to "uvicorn".
            "uvicorn.access": {"handlers": [], "propagate": False},
            # uvicorn logs each websocket handshake with its query string, which may hold ?key=.
            "uvicorn.error": {"filters": ["redact_keys"]},
        },
    }
