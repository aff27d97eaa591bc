"""removal.cutout's messages (a template and its values) in the active language: the words through gettext, the
decimals with the language's mark. A program's call is English (accounts.auth activates it for an API key)."""

from typing import Any

from django.utils.formats import get_format
from django.utils.translation import gettext

from removal.cutout.decode import ImageRejected, filled


def in_language(template: str, values: dict[str, Any]) -> str:
    return filled(gettext(template), values, english=template, decimal_mark=_decimal_mark())


def refusal_text(refused: ImageRejected) -> str:
    return in_language(refused.template, refused.values)


def _decimal_mark() -> str:
    return str(get_format("DECIMAL_SEPARATOR"))
