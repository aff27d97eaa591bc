"""The reader bgsite/settings.py takes the environment through: django-environ's, refusing what it would guess at.

django-environ reads a yes/no it does not know as no (RATE_LIMITS_ENABLED=ture turned the rate limits off), keeps
the digits of a number and drops the rest (REVIEW_CONFIDENCE_BELOW=60% was 60.0: every cutout flagged), and a blank
number, as .env.example shows one (ORT_SOLO_THREADS=), stopped the start with a bare ValueError. Here a blank value
is the default, as if unset, and any other that is not a yes/no or a number stops the start, naming the variable.
"""

import math
from collections.abc import Mapping
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

YES = frozenset(environ.Env.BOOLEAN_TRUE_STRINGS)
NO = frozenset(("false", "off", "no", "n", "0"))


class Env(environ.Env):
    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        if cast not in (bool, int, float):
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        text = self.ENVIRON.get(f"{self.prefix}{var}", "").strip()
        if not text:
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable")
            return default
        return read(var, text, cast)


def read(var: str, text: str, cast: type) -> bool | int | float:
    if cast is bool:
        if text.lower() in YES | NO:
            return text.lower() in YES
        raise ImproperlyConfigured(f"{var} must be true or false (or yes/no, on/off, 1/0), not {text!r}")
    try:
        number = cast(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        kind = "a whole number" if cast is int else "a number such as 0.5"
        raise ImproperlyConfigured(f"{var} must be {kind}, not {text!r}")
    return number


# The limits that must be at least 1; those where 0 means none (below it, a mistake); the seconds that may be 0.
POSITIVE_LIMITS = ("MAX_UPLOAD_BYTES", "MAX_IMAGE_PIXELS", "MAX_FILES_PER_REQUEST", "MAX_ITEMS_PER_BATCH")
ZERO_FOR_NONE_LIMITS = ("DAILY_IMAGE_QUOTA", "STORE_DAILY_MB", "MAX_QUEUED_ITEMS_PER_USER", "BODY_MIN_BYTES_PER_SECOND")
NOT_NEGATIVE_SECONDS = ("BODY_RATE_GRACE_SECONDS",)


def check_limits(settings: Mapping[str, Any]) -> None:
    """ImproperlyConfigured, naming it, for a limit of `settings` (the settings module's names) out of its range."""
    for name in POSITIVE_LIMITS:
        if settings[name] <= 0:
            raise ImproperlyConfigured(f"{name} must be a positive integer")
    for name in ZERO_FOR_NONE_LIMITS:
        if settings[name] < 0:
            raise ImproperlyConfigured(f"{name} must be 0 (no limit) or a positive integer")
    for name in NOT_NEGATIVE_SECONDS:
        if settings[name] < 0:
            raise ImproperlyConfigured(f"{name} must be 0 or more seconds")
