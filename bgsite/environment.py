"""The reader bgsite/settings.py takes the environment through: django-environ's, refusing what it would guess at.

django-environ reads a yes/no it does not know as no (RATE_LIMITS_ENABLED=ture turned the rate limits off), keeps
the digits of a number and drops the rest (REVIEW_CONFIDENCE_BELOW=60% was 60.0: every cutout flagged), and a blank
number, as .env.example shows one (ORT_SOLO_THREADS=), stopped the start with a bare ValueError. Here a blank value
is the default, as if unset, and any other that is not a yes/no or a number stops the start, naming the variable.
"""

import math
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
