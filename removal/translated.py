"""Messages (a template and its values) in the active language: the words through gettext, the numbers as the
language writes them (its decimal mark and digit grouping: 1,000 / 1.000 / 1 000). A program's call is English
(accounts.auth activates it for an API key).

A value may itself be a message (`message(template, values)`), as the reason inside "improving this cutout failed
(%(reason)s)" is: it is put in the same language before it goes in, so no English sentence sits inside a translated
one."""

from collections.abc import Callable
from typing import Any

from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.translation import gettext

from removal.cutout.results import ImageRejected, filled


def message(template: str, values: dict[str, Any]) -> dict[str, Any]:
    """A message to put inside another one's values: what in_language translates before it fills the outer one."""
    return {"template": template, "values": values}


def in_language(template: str, values: dict[str, Any]) -> str:
    return filled(gettext(template), _inner(values, in_language), english=template, write_number=_written)


def in_english(template: str, values: dict[str, Any]) -> str:
    """The message in the words of its template, whatever the active language: what the API says (Item.error)."""
    return filled(template, _inner(values, in_english), english=template)


def refusal_text(refused: ImageRejected) -> str:
    return in_language(refused.template, refused.values)


def _inner(values: dict[str, Any], said: Callable[..., str]) -> dict[str, Any]:
    """`values` with each one that is a message of its own (`message`) put in words by `said`."""
    return {name: said(**value) if _is_message(value) else value for name, value in values.items()}


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"template", "values"}


def _written(number: int | float, spec: str) -> str:
    """`number` as the active language writes it, grouped as Django's `floatformat:"g"` groups the page's numbers."""
    return str(
        numberformat.format(
            format(number, spec),
            get_format("DECIMAL_SEPARATOR"),
            grouping=get_format("NUMBER_GROUPING"),
            thousand_sep=get_format("THOUSAND_SEPARATOR"),
            force_grouping=True,
        )
    )
