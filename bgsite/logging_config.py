"""The LOGGING setting: one plain line per record on the console, at the level LOG_LEVEL names.

Kept apart from bgsite/log_filters.py, which imports Django's request machinery: the
settings module builds this dict before Django is set up.
"""

from typing import Any


def logging_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        # What clients can trigger (a foreign Host, a malformed body) is one WARNING line, without traceback.
        "filters": {
            "client_errors": {"()": "bgsite.log_filters.ClientErrorsAsWarnings"},
            "redact_keys": {"()": "bgsite.log_filters.RedactKeys"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_errors"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # A line per job state change is noise at hundreds of images per batch.
            "django.tasks": {"level": "WARNING"},
            "django_tasks_db": {"level": "WARNING"},
            # uvicorn logs each websocket handshake with its query string, which may hold ?key=.
            "uvicorn.error": {"filters": ["redact_keys"]},
        },
    }
