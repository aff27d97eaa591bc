"""Each language in a real browser: the first screen, sign-up, the upload page and its scripts, the picker."""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import wait_for_sample_cutout
from tests.e2e.test_browser import drop_files, log_in_new_user, submit_sign_up_form

pytestmark = [pytest.mark.browser, pytest.mark.live]

WAIT_MS = 20_000  # as long as the other browser tests wait: the machine may be busy

# Chromium's locale sets Accept-Language. Per language: the first screen's heading, the upload
# page's heading, what static/js writes for an empty file (its badge, its reason), and how the server's
# refusal of a file that is not an image begins, in the page's language.
LANGUAGES = {
    "en-US": (
        "Remove the background from your photos",
        "Remove backgrounds",
        "rejected",
        "the file is empty",
        "not an image we can read",
    ),
    "de-DE": (
        "Entfernen Sie den Hintergrund Ihrer Fotos",
        "Hintergründe entfernen",
        "abgelehnt",
        "die Datei ist leer",
        "kein Bild, das wir lesen können",
    ),
    "es-ES": (
        "Quita el fondo de tus fotos",
        "Quitar fondos",
        "rechazado",
        "el archivo está vacío",
        "no es una imagen que podamos leer",
    ),
    "fr-FR": (
        "Supprimez l\u2019arrière-plan de vos photos",
        "Supprimer les arrière-plans",
        "refusé",
        "le fichier est vide",
        "ce n\u2019est pas une image que nous savons lire",
    ),
}


@contextmanager
def browsing_in(browser: Any, base_url: str, locale: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, locale=locale)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_each_language_renders_the_first_screen_and_the_upload_page(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
    locale: str,
) -> None:
    from playwright.sync_api import expect

    landing, upload, rejected, empty_file, not_an_image = LANGUAGES[locale]
    with browsing_in(browser, embedded_server.url, locale) as page:
        page.goto("/")
        expect(page.locator("h1")).to_have_text(landing, timeout=WAIT_MS)
        wait_for_sample_cutout(page)

        submit_sign_up_form(page, "lang")
        heading = page.locator("h1")
        expect(heading).to_have_text(upload, timeout=WAIT_MS)
        page.screenshot(path=str(tmp_path / f"upload-{locale}.png"), full_page=True)
        # The heading as drawn: put the English words in its place, and the pixels must change
        # unless this is English.
        drawn = pixels(heading.screenshot())
        heading.evaluate("h1 => { h1.textContent = 'Remove backgrounds'; }")
        english = pixels(heading.screenshot())
        differs = drawn.shape != english.shape or bool(np.abs(drawn - english).max() > 64)
        assert differs == (not locale.startswith("en")), locale
        assert drawn.std() > 10  # text, not a blank box
        # Each setting's controls stay in its own cell, however long their words (French "Quality": "Meilleure
        # (environ deux fois plus long)"), rather than run over the next one's.
        spilled = page.locator("#options-fields .option").evaluate_all(
            """cells => cells.flatMap((cell) => [...cell.querySelectorAll("select, input, label")]
                .filter((control) => control.getBoundingClientRect().right > cell.getBoundingClientRect().right + 1)
                .map((control) => control.id || control.textContent.trim()))"""
        )
        assert spilled == [], (locale, spilled)

        # static/js speaks the language too: an empty file is refused on the page, before any upload.
        empty = tmp_path / "empty.jpg"
        empty.write_bytes(b"")
        drop_files(page, empty)
        row = page.locator("#items .item").first
        expect(row.locator(".badge.status")).to_have_text(rejected, timeout=WAIT_MS)
        expect(row.locator(".error")).to_have_text(empty_file, timeout=WAIT_MS)

        # The server's refusals speak it too, to the page's own calls.
        notes = tmp_path / "notes.jpg"
        notes.write_text("a shopping list, not a photo")
        drop_files(page, notes)
        refused = page.locator("#items .item").nth(1)
        expect(refused.locator(".badge.status")).to_have_text(rejected, timeout=WAIT_MS)
        expect(refused.locator(".error")).to_contain_text(not_an_image, timeout=WAIT_MS)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_each_language_fits_a_320_px_screen(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
    locale: str,
) -> None:
    """WCAG 1.4.10 (reflow at 320 CSS px, a 1280 px screen zoomed to 400%): nothing scrolls the page sideways. In French
    and Spanish the settings' grid was as wide as its longest choice, in German the editor's three brushes did not
    wrap, the API reference's body fields (alpha_matting_foreground_threshold) ran past the edge, and so did a batch's
    page with its heading's buttons."""
    from playwright.sync_api import expect

    from tests.e2e.test_editor import astronaut_row, open_editor

    def page_width() -> int:
        return page.evaluate("document.documentElement.scrollWidth")

    with browsing_in(browser, embedded_server.url, locale) as page:
        page.set_viewport_size({"width": 320, "height": 640})
        log_in_new_user(page, embedded_server)
        page.wait_for_load_state()  # the page's modules have run
        page.click("#options-show")  # folded on so narrow a screen
        expect(page.locator("#opt-quality")).to_be_visible()
        assert page_width() <= 320, locale
        open_editor(page, astronaut_row(page, tmp_path))
        tools = page.locator("#editor .editor-tools > *").evaluate_all(
            "all => all.map((tool) => tool.getBoundingClientRect().right)"
        )
        assert max(tools) <= 320, (locale, tools)
        page.click("#editor-cancel")
        # The batch's own page: its heading's three buttons ("Umbenennen…", "Neuen Stapel beginnen", "Stapel löschen…")
        # stood in one row that did not wrap, 405 px wide on a 390 px phone in German, 409 in French.
        assert page_width() <= 320, locale
        # Nor do its buttons squeeze their words onto two lines, side by side: each takes a line of its own instead.
        squeezed = page.locator(".head-actions .button, .summary-actions .button").evaluate_all(
            """buttons => buttons.filter((button) => button.offsetParent)
                .filter((button) => button.clientHeight > 2 * parseFloat(getComputedStyle(button).lineHeight))
                .map((button) => button.textContent.trim())"""
        )
        assert squeezed == [], (locale, squeezed)
        page.goto("/api/docs")
        assert page_width() <= 320, locale


def test_the_picker_switches_and_remembers_the_language(browser: Any, embedded_server: Any) -> None:
    from playwright.sync_api import expect

    with browsing_in(browser, embedded_server.url, "de-DE") as page:
        page.goto("/accounts/login/")
        expect(page.locator("h1")).to_have_text("Anmelden", timeout=WAIT_MS)
        expect(page.locator("#language-apply")).to_be_hidden(timeout=WAIT_MS)  # language.js applies a choice at once
        with page.expect_navigation():
            page.select_option("#language-select", "fr")
        expect(page.locator("h1")).to_have_text("Se connecter", timeout=WAIT_MS)
        page.goto("/accounts/password/reset/")
        expect(page.locator("h1")).to_have_text("Réinitialiser votre mot de passe", timeout=WAIT_MS)
        assert page.evaluate("document.documentElement.lang") == "fr"


def test_the_picker_waits_for_its_button_when_the_keyboard_chooses(browser: Any, embedded_server: Any) -> None:
    """The arrow keys on a closed select change its value at each press (WCAG 3.2.2: no change of page on input):
    the page stays, the button shows, and the language applies from it."""
    from playwright.sync_api import expect

    with browsing_in(browser, embedded_server.url, "en-US") as page:
        page.goto("/accounts/login/")
        expect(page.locator("#language-apply")).to_be_hidden(timeout=WAIT_MS)  # language.js has run
        page.evaluate("window.stillThisPage = true")
        page.focus("#language-select")
        page.keyboard.press("ArrowDown")
        chosen = page.eval_on_selector("#language-select", "select => select.value")
        assert chosen != "en"
        page.wait_for_timeout(1000)  # a reload would have come by now
        assert page.evaluate("window.stillThisPage === true && document.documentElement.lang") == "en"
        expect(page.locator("#language-apply")).to_be_visible()
        page.keyboard.press("Tab")
        expect(page.locator("#language-apply")).to_be_focused()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.evaluate("document.documentElement.lang") == chosen


def test_the_browsers_time_zone_is_kept_for_the_pages_times(browser: Any, embedded_server: Any) -> None:
    context = browser.new_context(base_url=embedded_server.url, timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.wait_for_load_state()  # language.js, a module, has run
        cookies = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
        assert cookies["time_zone"] == "Asia/Tokyo"
    finally:
        context.close()


def test_a_file_over_the_limit_is_told_its_size_and_the_limit_as_the_page_writes_them(
    browser: Any,
    server_factory: Any,
    tmp_path: Path,
) -> None:
    """With a limit of 0.18 MB, a 0.201 MB photo was refused on the page as "die Datei hat 0,2 MB; erlaubt sind 0,2 MB
    je Datei": the limit rounded to one decimal, as the size, which said nothing; the line of limits says 0,18."""
    from playwright.sync_api import expect

    server = server_factory(MAX_UPLOAD_BYTES="180000")
    server.start()
    big = tmp_path / "kuehe.jpg"
    big.write_bytes(b"\xff\xd8" + bytes(201_096))
    with browsing_in(browser, server.url, "de-DE") as page:
        submit_sign_up_form(page, "limit")
        expect(page.locator("#limits")).to_contain_text("bis 0,18 MB")
        drop_files(page, big)
        expect(page.locator("#items .item .error")).to_have_text("die Datei hat 0,2 MB; erlaubt sind 0,18 MB je Datei")


# 1000, 21000 and 2.5 as the server writes them on the pages (Django's formats: floatformat:"g").
SERVERS_NUMBERS = {
    "en-US": ["1,000", "21,000", "2.5"],
    "de-DE": ["1.000", "21.000", "2,5"],
    "es-ES": ["1\u00a0000", "21\u00a0000", "2,5"],
    "fr-FR": ["1\u00a0000", "21\u00a0000", "2,5"],
}


@pytest.mark.parametrize("locale", SERVERS_NUMBERS)
def test_the_scripts_write_numbers_as_the_server_does(browser: Any, embedded_server: Any, locale: str) -> None:
    """Intl's Spanish wrote "1000" and "21.000" (a count of cards, a file's megabytes) on pages whose server-written
    numbers read "1 000 imágenes por lote"; its French grouped with another space than the server's."""
    with browsing_in(browser, embedded_server.url, locale) as page:
        page.goto("/accounts/login/")
        written = page.evaluate(
            """async () => {
                const { formatNumber } = await import("/static/js/i18n.js");
                return [formatNumber(1000), formatNumber(21000), formatNumber(2.5, 1)];
            }"""
        )
        assert written == SERVERS_NUMBERS[locale]


def test_the_picker_keeps_the_batch_an_upload_made_of_the_page(browser: Any, embedded_server: Any) -> None:
    """Photos dropped on the upload page make a batch, and the address becomes the batch's page; the picker still sent
    the address the page was served at, and a language chosen then opened an empty upload page, the batch gone from
    view; and a batch's filter of the cards that need a look, turned on or off, came back as the page was opened."""
    from playwright.sync_api import expect

    from tests.conftest import photo_path
    from tests.e2e.test_browser import PROCESSING_TIMEOUT_MS

    photo = photo_path("grass.png")  # a texture with no subject: flagged
    with browsing_in(browser, embedded_server.url, "de-DE") as page:
        log_in_new_user(page, embedded_server)
        expect(page.locator("h1")).to_have_text("Hintergründe entfernen")
        drop_files(page, photo)
        card = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(card).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        batch_page = page.url
        assert "/batches/" in batch_page
        with page.expect_navigation():
            page.select_option("#language-select", "es")
        assert page.url == batch_page
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(card.locator(".badge.status")).to_have_text("terminado", timeout=WAIT_MS)

        # Only the cards that need a look, then French: still only those; and all of them again, then German.
        page.click("#filter-flagged")
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "true")
        with page.expect_navigation():
            page.select_option("#language-select", "fr")
        assert page.url == f"{batch_page}?flagged=1"
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
        page.click("#filter-flagged")
        with page.expect_navigation():
            page.select_option("#language-select", "de")
        assert page.url == batch_page
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "false", timeout=WAIT_MS)


def test_a_rename_speaks_german_tab_or_no_answer(browser: Any, embedded_server: Any, tmp_path: Path) -> None:
    """A spreadsheet's cells pasted into the name field keep their tab, which the API refuses, in English for programs:
    the German page said "Der Stapel konnte nicht umbenannt werden: name: a line break, tab or other control character
    has no place in a batch's name". The page sends a space for it. And a request with no answer said the browser's
    reason, "Failed to fetch", English whatever the page's language."""
    from playwright.sync_api import expect

    from tests.e2e.test_browser import PROCESSING_TIMEOUT_MS, small_photos

    (photo,) = small_photos(tmp_path, 1)
    with browsing_in(browser, embedded_server.url, "de-DE") as page:
        log_in_new_user(page, embedded_server)
        drop_files(page, photo)
        expect(page.locator(f'.item[data-filename="{photo.name}"]')).to_have_attribute(
            "data-status", "done", timeout=PROCESSING_TIMEOUT_MS
        )
        page.click("#rename-batch")
        page.fill("#rename-input", "")
        page.keyboard.insert_text("Frühjahr\tSchuhe")
        assert page.eval_on_selector("#rename-input", "input => input.value") == "Frühjahr\tSchuhe"
        page.keyboard.press("Enter")
        expect(page.locator("#batch-heading")).to_have_text("Frühjahr Schuhe")
        expect(page.locator("#rename-error")).to_be_hidden()

        # With no answer at all (the connection lost), the page said "… (Failed to fetch)": the browser's words, English
        # on every page.
        page.route("**/api/v1/batches/*", lambda route: route.abort("connectionreset"))
        page.click("#rename-batch")
        page.fill("#rename-input", "Sommer")
        page.keyboard.press("Enter")
        expect(page.locator("#rename-error")).to_have_text(
            "Der Stapel konnte nicht umbenannt werden: der Server war nicht erreichbar"
        )
