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


def wait_for_sample_cutout(page: Any, *, timeout_ms: float = 60_000) -> None:
    """Wait until the first screen shows the sample's cutout (not the photo shown while a worker makes it): a
    480 x 480 image, transparent where the studio backdrop was."""
    page.wait_for_function(
        """img => {
            if (img.classList.contains("sample-waiting") || !img.complete || img.naturalWidth !== 480) return false;
            const canvas = document.createElement("canvas");
            canvas.width = canvas.height = 480;
            const drawn = canvas.getContext("2d");
            drawn.drawImage(img, 0, 0);
            return drawn.getImageData(360, 20, 1, 1).data[3] === 0;
        }""",
        arg=page.locator("#sample-cutout").element_handle(),
        timeout=timeout_ms,
    )
