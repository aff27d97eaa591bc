"""removal.cutout's messages (a template and its values) in the active language: the words through gettext, the
decimals with the language's mark. A program's call is English (accounts.auth activates it for an API key).

A value may itself be a message (`message(template, values)`), as the reason inside "improving this cutout failed
(%(reason)s)" is: it is put in the same language before it goes in, so no English sentence sits inside a translated
one."""

from typing import Any

from django.utils.formats import get_format
from django.utils.translation import gettext

from removal.cutout.decode import ImageRejected, filled


def message(template: str, values: dict[str, Any]) -> dict[str, Any]:
    """A message to put inside another one's values: what in_language translates before it fills the outer one."""
    return {"template": template, "values": values}


def in_language(template: str, values: dict[str, Any]) -> str:
    shown = {name: in_language(**value) if _is_message(value) else value for name, value in values.items()}
    return filled(gettext(template), shown, english=template, decimal_mark=_decimal_mark())


def in_english(template: str, values: dict[str, Any]) -> str:
    """The message in the words of its template, whatever the active language: what the API says (Item.error)."""
    shown = {name: in_english(**value) if _is_message(value) else value for name, value in values.items()}
    return filled(template, shown, english=template)


def refusal_text(refused: ImageRejected) -> str:
    return in_language(refused.template, refused.values)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"template", "values"}


def _decimal_mark() -> str:
    return str(get_format("DECIMAL_SEPARATOR"))
