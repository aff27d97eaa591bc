"""bgsite.django_catalog_gaps (its messages in Python, and its script's): each one it marks is one of Django's own that
Django's catalogs still leave untranslated in one of our languages (once they translate it, ours need not)."""

from functools import cache
from pathlib import Path

import django
import polib
import pytest

from bgsite.django_catalog_gaps import ADMIN_MESSAGES
from tests.test_translations import LANGUAGES, REPO, script_messages

DJANGO = Path(django.__file__).parent
ADMIN_SCRIPT_MESSAGES = sorted(script_messages(REPO / "bgsite" / "django_catalog_gaps.js"))


@cache
def djangos_messages(language: str, domain: str = "django") -> set[str]:
    """The messages Django's catalogs translate into `language` (for "en": all of them)."""
    paths = [*DJANGO.glob(f"conf/locale/{language}/LC_MESSAGES/{domain}.po")]
    paths += DJANGO.glob(f"contrib/*/locale/{language}/LC_MESSAGES/{domain}.po")
    entries = (entry for path in paths for entry in polib.pofile(str(path)))
    return {entry.msgid for entry in entries if language == "en" or entry.translated()}


@pytest.mark.parametrize("message", ADMIN_MESSAGES)
def test_each_is_djangos_own_and_untranslated_in_one_of_our_languages(message: str) -> None:
    assert message in djangos_messages("en")
    assert any(message not in djangos_messages(language) for language in LANGUAGES)


@pytest.mark.parametrize("message", ADMIN_SCRIPT_MESSAGES)
def test_each_of_the_script_is_djangos_own_and_untranslated_in_one_of_our_languages(message: str) -> None:
    assert message in djangos_messages("en", "djangojs")
    assert any(message not in djangos_messages(language, "djangojs") for language in LANGUAGES)


def test_the_scripts_messages_are_read() -> None:
    assert "Choose all %s" in ADMIN_SCRIPT_MESSAGES and len(ADMIN_SCRIPT_MESSAGES) > 10
