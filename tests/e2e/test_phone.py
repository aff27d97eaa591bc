"""The site on a phone: Chromium emulating one (a touch screen, a mobile viewport, three device pixels to a CSS pixel),
driven by taps and by touches sent as the screen sends them (CDP's Input.dispatchTouchEvent), not by a mouse."""

import itertools
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import photo_bytes, photo_path
from tests.e2e.test_browser import (
    PROCESSING_TIMEOUT_MS,
    browsing,
    log_in_new_user,
    sign_up,
)
from tests.e2e.test_editor import block_where, model_mask, to_screen

pytestmark = [pytest.mark.browser, pytest.mark.live]

PORTRAIT = (390, 844)
LANDSCAPE = (740, 360)  # a 360x740 phone on its side


def phone(chromium: Any, base_url: str, size: tuple[int, int] = PORTRAIT) -> AbstractContextManager[Any]:
    """A page in a fresh context that a phone's browser would give; fails on uncaught JavaScript errors."""
    viewport = {"width": size[0], "height": size[1]}
    return browsing(chromium, base_url, viewport=viewport, device_scale_factor=3, is_mobile=True, has_touch=True)


def tapped_upload(page: Any, photo: Path) -> Any:
    """Choose `photo` as a phone does, with the file chooser its button opens (no drag and drop); its finished card."""
    from playwright.sync_api import expect

    with page.expect_file_chooser() as chooser:
        page.tap("label[for=file-input]")
    chooser.value.set_files([photo])
    row = page.locator(f'.item[data-filename="{photo.name}"]')
    expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    return row


def astronaut(tmp_path: Path) -> Path:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photo_bytes("astronaut.png", size=(640, 480)))
    return photo


def in_view(page: Any, selector: str, size: tuple[int, int]) -> bool:
    """Whether all of the element is on the screen and inside the editor's dialog as it shows, unscrolled."""
    box = page.locator(selector).bounding_box()
    shown = page.locator("#editor").bounding_box()
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= min(size[1], shown["y"] + shown["height"]) + 0.5
        and box["x"] >= 0
        and box["x"] + box["width"] <= size[0]
    )


def test_on_a_phone_on_its_side_before_after_and_the_editor_show_all_they_hold_without_scrolling(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url, LANDSCAPE) as page:
        log_in_new_user(page, embedded_server)
        row = tapped_upload(page, astronaut(tmp_path))
        row.locator(".compare-open").tap()
        dialog = page.locator("#compare")
        expect(page.locator("#compare-slider")).to_be_focused()
        # The dialog was 40 px taller than the screen; scrolled to the focused slider, its title and Close were above
        # its top edge.
        shown = dialog.bounding_box()
        for part in ("#compare-title", "#compare-close", "#compare-stage", "#compare-slider"):
            box = page.locator(part).bounding_box()
            assert box is not None and shown["y"] <= box["y"], part
            assert box["y"] + box["height"] <= shown["y"] + shown["height"] <= LANDSCAPE[1], part
        assert page.locator("#compare-stage").bounding_box()["height"] >= 150
        page.tap("#compare-close")
        expect(dialog).to_be_hidden()

        row.locator(".edit-open").tap()
        expect(page.locator("#editor")).to_have_attribute("data-ready", "true", timeout=60_000)
        # Save and Cancel were under the dialog's bottom edge, to be found by scrolling it (a swipe anywhere but on
        # the canvas, which paints), with a canvas of 160 px squeezed between.
        for part in ("#editor-save", "#editor-cancel", "#editor-undo", "#editor-canvas"):
            assert in_view(page, part, LANDSCAPE), part
        assert page.locator("#editor-canvas").bounding_box()["height"] >= 150
        page.tap("#editor-cancel")
        expect(page.locator("#editor")).to_be_hidden()


def touchscreen(page: Any) -> Any:
    """Touch events as the screen sends them: touch("touchStart", (x, y), ...), each point a finger down, in CSS
    pixels of the page; touch("touchEnd") lifts them all."""
    session = page.context.new_cdp_session(page)

    def touch(kind: str, *points: tuple[float, float]) -> None:
        fingers = [{"x": x, "y": y, "id": finger} for finger, (x, y) in enumerate(points)]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": fingers})

    return touch


def test_on_a_phone_a_finger_paints_in_the_editor_and_two_fingers_zoom(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        row = tapped_upload(page, astronaut(tmp_path))
        item_id = row.get_attribute("data-item-id")
        inside = block_where(model_mask(page, item_id), 255)
        row.locator(".edit-open").tap()
        expect(page.locator("#editor")).to_have_attribute("data-ready", "true", timeout=60_000)
        page.tap("#editor-soft")  # a hard brush: what it erased is wholly gone
        expect(page.locator("#editor-soft")).not_to_be_checked()

        # One finger drawn across the subject, 40 image pixels: a line is erased, not one dab at its start (a canvas
        # the browser may pan under a finger gets a pointercancel as the finger moves), and nothing scrolls.
        touch = touchscreen(page)
        scrolled = page.evaluate("[scrollY, document.getElementById('editor').scrollTop]")
        start, end = (inside[0] - 20, inside[1]), (inside[0] + 20, inside[1])
        (x0, y0), (x1, y1) = to_screen(page, (640, 480), start), to_screen(page, (640, 480), end)
        touch("touchStart", (x0, y0))
        for step in range(1, 11):
            touch("touchMove", (x0 + (x1 - x0) * step / 10, y0 + (y1 - y0) * step / 10))
        touch("touchEnd")
        assert page.evaluate("[scrollY, document.getElementById('editor').scrollTop]") == scrolled
        expect(page.locator("#editor-undo")).to_be_enabled()

        # Two fingers moving apart zoom in (and paint nothing); Fit goes back.
        canvas = page.locator("#editor-canvas")
        before_pinch = canvas.screenshot()
        middle = ((x0 + x1) / 2, (y0 + y1) / 2 + 60)
        touch("touchStart", (middle[0] - 20, middle[1]), (middle[0] + 20, middle[1]))
        for step in range(1, 11):
            touch("touchMove", (middle[0] - 20 - 6 * step, middle[1]), (middle[0] + 20 + 6 * step, middle[1]))
        touch("touchEnd")
        assert page.evaluate("visualViewport.scale") == 1  # the canvas zoomed, not the page
        assert canvas.screenshot() != before_pinch
        page.tap("#editor-fit")

        page.tap("#editor-save")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        with page.expect_download() as download:
            row.locator(".item-download").tap()
        alpha = np.asarray(Image.open(Path(download.value.path())).convert("RGBA").getchannel("A"))
        # Along the stroke, its end included, the subject is erased.
        for x in range(start[0], end[0] + 1, 5):
            assert alpha[start[1], x] == 0, (x, alpha[start[1], x])


def test_on_a_phone_a_revoked_keys_time_of_revoking_is_shown_not_left_to_a_hover(
    browser: Any,
    embedded_server: Any,
) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        page.goto("/accounts/")
        page.tap("#id_name")
        page.keyboard.type("phone key")
        page.tap("form[action$='/keys/'] button[type=submit]")
        expect(page.locator("#new-key")).to_be_visible()
        page.once("dialog", lambda question: question.accept())  # "Revoke the key …?"
        page.locator("#api-keys button.danger").tap()
        status = page.locator("#api-keys tbody tr").first.locator("td").nth(4)
        expect(status.locator(".badge")).to_have_text("revoked")
        revoked = status.locator("time").first
        expect(revoked).to_be_visible()
        expect(status.locator(".removed-after")).to_be_visible()  # and when the row goes, 30 days later
        when = datetime.fromisoformat(revoked.get_attribute("datetime"))
        assert abs((datetime.now(UTC) - when).total_seconds()) < 60
        assert str(when.year) in revoked.inner_text()  # written out, as the page writes its other times
        # On the screen: the table scrolls sideways to it, inside the card, and the page does not.
        revoked.scroll_into_view_if_needed()
        box = revoked.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PORTRAIT[0]
        assert page.evaluate("document.documentElement.scrollWidth") <= PORTRAIT[0]


def small_targets(page: Any, selector: str) -> list[str]:
    """The shown controls under `selector` that are less than 24 px across or high (WCAG 2.5.8's size), each with its
    size."""
    return page.locator(selector).evaluate_all(
        """all => all.filter((e) => e.getClientRects().length).map((e) => [e, e.getBoundingClientRect()])
                 .filter(([, box]) => box.width < 24 || box.height < 24)
                 .map(([e, box]) => `${e.className} ${e.textContent.trim()}: ${box.width}x${box.height}`)"""
    )


def test_on_a_phone_a_cards_controls_and_the_batch_lists_are_targets_a_finger_can_hit(
    browser: Any,
    embedded_server: Any,
) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        row = tapped_upload(page, photo_path("grass.png"))  # a texture the model is unsure of: flagged
        expect(row.locator(".badge.needs-look")).to_be_visible()
        # Compare, Edit, Looks fine, Download, Remove: 21 px high, in two rows 4 px apart, Edit over Remove.
        assert small_targets(page, ".item .item-links > *, .item .badge.needs-look") == []
        links = row.locator(".item-links > :not([hidden])").all()
        rows = sorted({round(link.bounding_box()["y"]) for link in links})
        assert all(lower - upper >= 30 for upper, lower in itertools.pairwise(rows)), rows  # 6 px apart at least
        page.goto("/batches/")
        # The count of cutouts that need a look ("1", a link 10 px wide), Open and Zip (19 px high).
        assert small_targets(page, "#batches td a, #batches td button") == []


FIELDS = """form => [...form.querySelectorAll("input:not([type=hidden])")].map((field) => ({
    name: field.name, type: field.type, autocomplete: field.getAttribute("autocomplete"),
    autocapitalize: field.getAttribute("autocapitalize"), autocorrect: field.getAttribute("autocorrect"),
    spellcheck: field.getAttribute("spellcheck"), fontPx: parseFloat(getComputedStyle(field).fontSize),
}))"""


def test_on_a_phone_sign_up_and_log_in_fields_take_a_username_as_typed(browser: Any, embedded_server: Any) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        page.goto("/accounts/signup/")
        signup = {field["name"]: field for field in page.locator("form.form").evaluate(FIELDS)}
        username = sign_up(page)
        page.tap("form[action$='/logout/'] button")
        expect(page.locator(".nav-user")).to_have_count(0)
        page.goto("/accounts/login/")
        login = {field["name"]: field for field in page.locator("form.form").evaluate(FIELDS)}
        # The username as typed: no capital letter, no correction to a dictionary word (iOS), no misspelling mark.
        for form in (signup, login):
            assert form["username"] | {"fontPx": 0} == {
                "name": "username",
                "type": "text",
                "autocomplete": "username",
                "autocapitalize": "none",
                "autocorrect": "off",
                "spellcheck": "false",
                "fontPx": 0,
            }
            # 16 px at least: iOS zooms the page into a field of smaller type when it is focused.
            assert all(field["fontPx"] >= 16 for field in form.values()), form
        assert (signup["email"]["type"], signup["email"]["autocomplete"]) == ("email", "email")
        assert [signup[name]["autocomplete"] for name in ("password1", "password2")] == ["new-password"] * 2
        assert login["password"]["autocomplete"] == "current-password"

        page.tap("#id_username")
        page.keyboard.type(username)
        page.tap("#id_password")
        page.keyboard.type("correct horse battery")
        page.tap("form.form button[type=submit]")
        expect(page.locator(".nav-user")).to_have_text(username)


def test_on_a_phone_the_upload_page_shows_choose_images_on_its_first_screen(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        sign_up(page)  # the welcome above the page's heading, as a new user sees it first
        # Seven settings, one under another, put it 290 px below the screen's bottom edge.
        choose = page.locator("label[for=file-input]").bounding_box()
        assert page.evaluate("scrollY") == 0 and choose["y"] + choose["height"] <= PORTRAIT[1], choose
        expect(page.locator("#options-fields")).to_be_hidden()
        expect(page.locator("#options-note")).to_be_visible()  # what they are, and that they may be changed
        # A finger drops nothing: "Drop photos or folders here, or" is not said, the buttons are.
        expect(page.locator(".dropzone")).not_to_contain_text("Drop photos", use_inner_text=True)
        expect(page.locator(".dropzone label[for=file-input]")).to_have_text("choose images…")
        page.wait_for_load_state()  # the page's modules have run
        page.tap("#options-show")
        expect(page.locator("#opt-format")).to_be_focused()
        expect(page.locator("#options-show")).to_be_hidden()
        page.select_option("#opt-format", "webp")
        row = tapped_upload(page, astronaut(tmp_path))
        expect(row.locator(".item-download")).to_have_text("Download WEBP")
        expect(page.locator("#options-fields")).to_be_hidden()  # locked, folded as before
        expect(page.locator("#options-show")).to_be_hidden()


def test_on_a_phone_a_tapped_button_does_not_keep_its_hover_colours(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    background = "e => getComputedStyle(e).backgroundColor"
    with phone(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        tapped_upload(page, astronaut(tmp_path))
        delete = page.locator("#delete-batch")
        untouched = delete.evaluate(background)
        asked: list[str] = []
        page.once("dialog", lambda question: (asked.append(question.message), question.dismiss()))
        delete.tap()
        assert asked and page.locator(".item").count() == 1  # asked, answered no: nothing deleted
        # A phone keeps what was tapped in :hover: the button stayed filled in red, as if about to delete.
        assert delete.evaluate(background) == untouched
        expect(delete).to_be_visible()


def test_on_a_phone_choose_a_folder_is_not_offered_where_a_computer_offers_it(
    browser: Any,
    embedded_server: Any,
) -> None:
    """A phone's browser cannot choose a folder (iOS Safari and Android's browsers open their file picker, or
    nothing, though `webkitdirectory` is in their inputs): its button is not shown there, nor its input reached by
    Tab; a computer's browser offers it."""
    from playwright.sync_api import expect

    with phone(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        page.wait_for_load_state()  # the page's modules have run
        expect(page.locator("label[for=file-input]")).to_be_visible()
        assert page.evaluate("'webkitdirectory' in document.createElement('input')")  # no sign that it works
        expect(page.locator("label[for=folder-input]")).to_be_hidden()
        expect(page.locator("#folder-input")).to_be_hidden()  # not a stop of the keyboard either
    with browsing(browser, embedded_server.url) as page:
        log_in_new_user(page, embedded_server)
        page.wait_for_load_state()
        expect(page.locator("label[for=folder-input]")).to_have_text("choose a folder…")
        expect(page.locator("label[for=folder-input]")).to_be_visible()
        page.focus("#file-input")
        page.keyboard.press("Tab")
        expect(page.locator("#folder-input")).to_be_focused()


def test_on_a_phone_the_browsers_logged_in_fit_the_screen_however_long_a_browsers_name(
    browser: Any,
    embedded_server: Any,
) -> None:
    """A User-Agent that ua-parser does not know is listed as it came, cut at 60 characters: one without a space
    (an app's, a script's) made the whole account page scroll sideways on a phone."""
    from playwright.sync_api import expect

    unknown = "SomeInternalTool/1.0_build_2026_12_06_release_candidate_final_x86_64_linux"
    with browsing(browser, embedded_server.url, user_agent=unknown) as computer:
        username = sign_up(computer)
        with phone(browser, embedded_server.url) as page:
            page.goto("/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", "correct horse battery")
            page.tap("button[type=submit]")
            page.wait_for_url(lambda url: "/accounts/login/" not in url)
            page.goto("/accounts/#browsers")
            listed = page.locator("#browser-sessions li[data-current=false] .browser-named")
            expect(listed).to_contain_text(unknown[:60])
            box = listed.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PORTRAIT[0]
            assert page.evaluate("document.documentElement.scrollWidth") <= PORTRAIT[0]
