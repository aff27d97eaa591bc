"""Fixtures of the browser tests."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM, launch_chromium, require_or_skip


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests a pytest process runs (each xdist worker its own), where each module
    launched one (a second or two of CPU each); each test gets a context of its own (its cookies)."""
    if not CHROMIUM.exists():
        require_or_skip("chromium not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
