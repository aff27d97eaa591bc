"""The defaults the docs quote beside a setting's name are the ones the server uses."""

import re

import pytest
from django.conf import settings

from tests.conftest import REPO

# `SETTING` (12 ...) or `SETTING` frames (300): a default quoted in the text, in bytes, seconds or a count.
QUOTED_DEFAULT = re.compile(r"`([A-Z][A-Z0-9_]{5,})`(?: \w+)? \((\d[\d,]*(?:\.\d+)?)")
DJANGO_OWN = {"DATA_UPLOAD_MAX_MEMORY_SIZE"}  # Django's default, quoted in MB (it is 2.5 MiB)


@pytest.mark.parametrize("page", ["api.md", "deploy.md", "reliability.md"])
def test_quoted_defaults_match_the_settings(page: str) -> None:
    text = (REPO / "docs" / page).read_text()
    quoted = [
        (name, value)
        for name, value in QUOTED_DEFAULT.findall(text)
        if hasattr(settings, name) and name not in DJANGO_OWN
    ]
    for name, value in quoted:
        actual = getattr(settings, name)
        assert float(value.replace(",", "")) == float(actual), f"docs/{page} says {name} ({value}), the server {actual}"
    if page == "api.md":
        assert {"MAX_ANIMATION_FRAMES", "MAX_VIDEO_SECONDS"} <= {name for name, _ in quoted}
