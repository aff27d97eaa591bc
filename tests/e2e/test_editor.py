"""The mask editor on the batch page, in a real browser: pointer drags, Save, and what the server keeps."""

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import photo_bytes
from tests.e2e.test_browser import (
    PROCESSING_TIMEOUT_MS,
    downloaded_zip,
    signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

BLOCK = 24  # side of a region wholly inside (or outside) the subject, in image pixels


def finished_row(page: Any, photo: Path) -> Any:
    from playwright.sync_api import expect

    page.set_input_files("#file-input", [photo])
    row = page.locator(f'.item[data-filename="{photo.name}"]')
    expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    return row


def astronaut_row(page: Any, tmp_path: Path) -> Any:
    """The astronaut at 640x480, uploaded and cut out: its card."""
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photo_bytes("astronaut.png", size=(640, 480)))
    return finished_row(page, photo)


def model_mask(page: Any, item_id: str) -> np.ndarray:
    reply = page.request.get(f"/api/v1/items/{item_id}/mask")
    assert reply.ok, reply.text()
    return np.asarray(Image.open(io.BytesIO(reply.body())).convert("L"))


def block_where(mask: np.ndarray, value: int) -> tuple[int, int]:
    """The centre of the first BLOCK x BLOCK square (away from the border) whose mask is all `value`."""
    height, width = mask.shape
    for top in range(BLOCK, height - 2 * BLOCK, BLOCK // 2):
        for left in range(BLOCK, width - 2 * BLOCK, BLOCK // 2):
            if (mask[top : top + BLOCK, left : left + BLOCK] == value).all():
                return left + BLOCK // 2, top + BLOCK // 2
    raise AssertionError(f"no {BLOCK}px square of {value} in the model's mask")


def open_editor(page: Any, row: Any) -> Any:
    from playwright.sync_api import expect

    row.locator(".edit-open").click()
    dialog = page.locator("#editor")
    expect(dialog).to_have_attribute("data-ready", "true", timeout=60_000)
    return dialog


def to_screen(page: Any, size: tuple[int, int], point: tuple[int, int]) -> tuple[float, float]:
    """An image pixel on screen: the editor fits the working copy into its canvas, centred."""
    box = page.locator("#editor-canvas").bounding_box()
    working = min(1.0, 2048 / max(size))
    width, height = round(size[0] * working), round(size[1] * working)
    zoom = min(round(box["width"]) / width, round(box["height"]) / height)
    left = box["x"] + (round(box["width"]) - width * zoom) / 2
    top = box["y"] + (round(box["height"]) - height * zoom) / 2
    return left + point[0] * working * zoom, top + point[1] * working * zoom


def drag(page: Any, size: tuple[int, int], start: tuple[int, int], end: tuple[int, int]) -> None:
    page.mouse.move(*to_screen(page, size, start))
    page.mouse.down()
    page.mouse.move(*to_screen(page, size, end), steps=8)
    page.mouse.up()


def erase_hard(page: Any, centre: tuple[int, int]) -> None:
    """A hard-edged 30 px erase stroke across `centre` of the 640x480 astronaut."""
    page.uncheck("#editor-soft")
    page.locator("#editor-size").fill("30")
    drag(page, (640, 480), (centre[0] - 4, centre[1]), (centre[0] + 4, centre[1]))


def erased_and_closed_while_saving(page: Any, row: Any, centre: tuple[int, int]) -> tuple[Any, Any]:
    """The editor opened on `row`, erase_hard at `centre`, Save pressed and its request held, then Cancel: the editor
    (closed) and the held request."""
    from playwright.sync_api import expect

    dialog = open_editor(page, row)
    erase_hard(page, centre)
    held = held_saves(page, row.get_attribute("data-item-id"))
    save_held(page, held)
    page.click("#editor-cancel")
    expect(dialog).to_be_hidden()
    return dialog, held.pop()


def alpha_around(image: Image.Image, centre: tuple[int, int], reach: int = 3) -> np.ndarray:
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    x, y = centre
    return alpha[y - reach : y + reach + 1, x - reach : x + reach + 1]


DISCARD = "Discard the changes you have not saved?"


def held_saves(page: Any, item_id: str) -> list[Any]:
    """The editor's saves of an item's mask, held until the test lets each go on (or fail)."""
    held: list[Any] = []
    page.route(f"**/api/v1/items/{item_id}/mask", lambda route: held.append(route))
    return held


def save_held(page: Any, held: list[Any], button: str = "#editor-save") -> None:
    """Save (or another of the editor's buttons that send) pressed; its request held."""
    page.click(button)
    for _ in range(100):  # a save's PNG is made first
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1


def test_erase_and_restore_with_pointer_drags_then_save(browser: Any, embedded_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        photo = tmp_path / "astronaut.jpg"
        photo.write_bytes(photo_bytes("astronaut.png", size=(640, 480)))
        row = finished_row(page, photo)
        item_id = row.get_attribute("data-item-id")
        mask = model_mask(page, item_id)
        inside, outside = block_where(mask, 255), block_where(mask, 0)

        shown_before = row.locator(".after img").get_attribute("src")
        open_editor(page, row)
        erase_hard(page, inside)
        page.check("input[name=editor-tool][value=restore]")
        drag(page, (640, 480), (outside[0] - 4, outside[1]), (outside[0] + 4, outside[1]))
        page.click("#editor-undo")
        page.click("#editor-redo")
        page.click("#editor-save")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        # The row shows the new revision (its thumbnail's address changes with it).
        expect(row.locator(".after img")).not_to_have_attribute("src", shown_before)

        with page.expect_download() as download_info:
            row.locator(".item-download").click()
        result = Image.open(io.BytesIO(Path(download_info.value.path()).read_bytes()))
        assert result.size == (640, 480)
        assert (alpha_around(result, inside) == 0).all()
        assert (alpha_around(result, outside) == 255).all()
        member = Image.open(downloaded_zip(page).open("astronaut.png"))
        assert np.array_equal(np.asarray(member), np.asarray(result))

        # Opened again, the editor starts from the saved edit: saved untouched, the edit stands.
        open_editor(page, row)
        page.click("#editor-save")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        again = Image.open(io.BytesIO(page.request.get(f"/api/v1/items/{item_id}/result").body()))
        assert (alpha_around(again, inside) == 0).all() and (alpha_around(again, outside) == 255).all()

        # And it can go back to the model's cutout, from the keyboard, once the question is answered yes: answered
        # no, nothing is sent and the editor stays as it was.
        open_editor(page, row)
        questions: list[str] = []
        page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
        page.locator("#editor-revert").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#editor-revert")).to_be_focused()
        assert len(questions) == 1 and "Every hand edit of this cutout, saved or not, is lost." in questions[0]
        still = Image.open(io.BytesIO(page.request.get(f"/api/v1/items/{item_id}/result").body()))
        assert (alpha_around(still, inside) == 0).all()
        page.once("dialog", lambda dialog: dialog.accept())
        page.keyboard.press("Enter")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        reverted = page.request.get(f"/api/v1/items/{item_id}/result")
        assert (alpha_around(Image.open(io.BytesIO(reverted.body())), inside) == 255).all()


def test_a_12_megapixel_photo_opens_and_saves_in_seconds(browser: Any, embedded_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        photo = tmp_path / "big.jpg"
        photo.write_bytes(photo_bytes("astronaut.png", size=(4000, 3000)))
        row = finished_row(page, photo)

        clicked = time.monotonic()
        dialog = open_editor(page, row)
        opened_s = time.monotonic() - clicked
        page.locator("#editor-size").fill("80")
        drag(page, (4000, 3000), (1000, 1000), (3000, 2000))
        clicked = time.monotonic()
        page.click("#editor-save")
        expect(dialog).to_be_hidden(timeout=120_000)
        saved_s = time.monotonic() - clicked
        print(
            f"\n12 MP editor: open {opened_s:.2f} s (in page {dialog.get_attribute('data-open-ms')} ms), "
            f"save {saved_s:.2f} s (in page {dialog.get_attribute('data-save-ms')} ms)"
        )
        assert opened_s < 15 and saved_s < 60


def test_the_keyboard_stays_in_the_editor_and_unsaved_strokes_are_not_lost_to_esc(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row = astronaut_row(page, tmp_path)
        inside = block_where(model_mask(page, row.get_attribute("data-item-id")), 255)
        dialog = open_editor(page, row)
        # The canvas has as many pixels as its box: fitted while the status said "Loading…", it had 15 rows fewer,
        # and the photo was shown stretched by as much.
        canvas = page.locator("#editor-canvas")
        box = canvas.bounding_box()
        expect(canvas).to_have_js_property("height", round(box["height"]))
        assert canvas.evaluate("c => c.width") == round(box["width"])
        drag(page, (640, 480), (inside[0] - 4, inside[1]), (inside[0] + 4, inside[1]))
        page.click("#editor-undo")  # the last stroke undone: Undo turns disabled under the focus
        expect(page.locator("#editor-undo")).to_be_disabled()
        assert page.evaluate("document.activeElement.id") == "editor-canvas"  # not the page behind the dialog
        page.keyboard.press("Control+Shift+Z")  # still reaches the editor
        expect(page.locator("#editor-undo")).to_be_enabled()

        asked: list[str] = []
        page.once("dialog", lambda question: (asked.append(question.message), question.dismiss()))
        page.keyboard.press("Escape")
        expect(dialog).to_be_visible()  # kept: the stroke is not thrown away unasked
        assert asked == [DISCARD]
        page.once("dialog", lambda question: question.accept())
        page.click("#editor-cancel")
        expect(dialog).to_be_hidden()


def test_on_a_phone_the_editor_the_batch_list_and_the_api_reference_fit_the_screen(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.focus("#file-input")  # the hidden input has the keyboard: its button shows it
        assert (
            page.evaluate("getComputedStyle(document.querySelector('label[for=file-input]')).outlineStyle") == "solid"
        )
        open_editor(page, astronaut_row(page, tmp_path))
        for button in ("#editor-save", "#editor-cancel", "#editor-undo"):
            box = page.locator(button).bounding_box()
            assert box is not None and box["y"] + box["height"] <= 844, (button, box)
        assert page.locator("#editor-canvas").bounding_box()["height"] >= 150
        # Across too, with every button a walk through the flagged cutouts shows (five): they wrap, none is cut off.
        page.locator("#editor .editor-actions button").evaluate_all("all => all.forEach((b) => { b.hidden = false; })")
        left, right = page.locator("#editor .compare-box").evaluate(
            """box => { const r = box.getBoundingClientRect(), pad = parseFloat(getComputedStyle(box).paddingLeft);
                       return [r.left + pad, r.right - pad]; }"""
        )  # its content box: inside its padding
        for part in [*page.locator("#editor .editor-actions button").all(), page.locator("#editor .editor-stage")]:
            box = part.bounding_box()
            assert left - 0.5 <= box["x"] and box["x"] + box["width"] <= right + 0.5, (part, box, left, right)
            assert part.evaluate("e => e.tagName") != "BUTTON" or box["height"] < 60, (part, box)  # not in 3 lines
        page.click("#editor-cancel")
        # The batch's settings, locked, fold away: its progress is on the first screen, not under seven settings.
        expect(page.locator("#options-fields")).to_be_hidden()
        assert page.evaluate("document.querySelector('#overall').getBoundingClientRect().top + scrollY") < 844
        page.click("#options-edit")
        expect(page.locator("#opt-quality")).to_be_visible()
        page.goto("/batches/")
        expect(page.locator("#batches")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls, not the page
        # ...and a shadow on its right edge says that more of it (Zip, Delete) is out there; none on the left.
        wrap = Image.open(io.BytesIO(page.locator(".table-wrap").screenshot())).convert("L")
        middle = wrap.height // 2
        assert wrap.getpixel((wrap.width - 2, middle)) < 235 < wrap.getpixel((1, middle)), "no cue of more to scroll"
        page.goto("/api/docs")  # long paths, patterns and descriptions wrap inside their cards
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


FOCUSED = """() => { const e = document.activeElement;
    return [e.id || `${e.name}=${e.value}`, getComputedStyle(e).outlineStyle]; }"""


def test_the_editor_is_used_from_the_keyboard_alone(browser: Any, embedded_server: Any, tmp_path: Path) -> None:
    """Opened from its card, every control a stop of Tab, with a ring; zoom by buttons; on the picture the arrow keys
    move a brush that Space paints with (it had no keyboard at all: the canvas was out of Tab's reach, zoom was the
    wheel's); Escape asks as Cancel does, every time; Save, and the focus is back on the card's Edit."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row = astronaut_row(page, tmp_path)
        item_id = row.get_attribute("data-item-id")
        inside = block_where(model_mask(page, item_id), 255)
        edit = row.locator(".edit-open")
        edit.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#editor")
        expect(dialog).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("input[name=editor-tool][value=erase]")).to_be_focused()

        stops = []
        for _ in range(10):
            stops.append(page.evaluate(FOCUSED))
            page.keyboard.press("Tab")
        assert stops == [
            [stop, "solid"]
            for stop in (
                "editor-tool=erase",
                "editor-size",
                "editor-soft",
                "editor-zoom-in",
                "editor-zoom-out",
                "editor-fit",
                "editor-original",
                "editor-canvas",
                "editor-cancel",
                "editor-save",
            )
        ], stops  # Undo and Redo are stops once there is something to undo (below)
        expect(page.locator("#editor-zoom-in")).to_have_accessible_name("Zoom in")

        page.focus("#editor-soft")
        page.keyboard.press("Space")  # a hard brush: what it paints is all gone
        expect(page.locator("#editor-soft")).not_to_be_checked()
        shown = "() => document.getElementById('editor-canvas').toDataURL()"
        fitted = page.evaluate(shown)
        page.focus("#editor-zoom-in")
        page.keyboard.press("Enter")
        assert page.evaluate(shown) != fitted
        page.keyboard.press("Tab")  # Zoom out
        page.keyboard.press("Tab")  # Fit
        page.keyboard.press("Enter")
        assert page.evaluate(shown) == fitted

        # On the picture: the brush starts in its middle; a step is a quarter of the brush (40 screen pixels).
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.locator("#editor-canvas")).to_be_focused()
        box = page.locator("#editor-canvas").bounding_box()
        zoom = min(round(box["width"]) / 640, round(box["height"]) / 480)
        step = 10 / zoom
        for key, pixels in (("ArrowRight", inside[0] - 320), ("ArrowDown", inside[1] - 240)):
            if pixels < 0:
                key = {"ArrowRight": "ArrowLeft", "ArrowDown": "ArrowUp"}[key]
            for _ in range(round(abs(pixels) / step)):
                page.keyboard.press(key)
        page.keyboard.down("Space")  # held down while the brush moves: a line
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.keyboard.up("Space")
        expect(page.locator("#editor-undo")).to_be_enabled()
        line_end = (inside[0] + round(3 * step), inside[1])

        page.keyboard.press("Shift+Tab")  # back through the tools: Show original, before/after
        expect(page.locator("#editor-original")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#editor-original")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Enter")
        expect(page.locator("#editor-original")).to_have_attribute("aria-pressed", "false")

        # Escape asks as Cancel does, and "keep them" keeps them every time it is asked.
        asked: list[str] = []
        page.on("dialog", lambda question: (asked.append(question.message), question.dismiss()))
        for _ in range(3):
            page.keyboard.press("Escape")
        assert asked == [DISCARD] * 3
        expect(dialog).to_have_attribute("open", "")
        page.focus("#editor-save")
        page.keyboard.press("Enter")
        expect(dialog).to_be_hidden(timeout=60_000)
        expect(edit).to_be_focused()
        result = Image.open(io.BytesIO(page.request.get(f"/api/v1/items/{item_id}/result").body()))
        assert (alpha_around(result, inside) == 0).all() and (alpha_around(result, line_end) == 0).all()


def test_a_cutout_closed_while_loading_does_not_land_in_the_next_one_opened(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Cancelled while its pictures were on their way, the editor still took them when they came: drawn under the next
    cutout opened, and saved as its mask."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        first = astronaut_row(page, tmp_path)
        coffee = tmp_path / "coffee.jpg"
        coffee.write_bytes(photo_bytes("coffee.png", size=(640, 480)))
        second = finished_row(page, coffee)
        second_id = second.get_attribute("data-item-id")
        second_mask = model_mask(page, second_id)

        first_mask = f"/api/v1/items/{first.get_attribute('data-item-id')}/mask?"
        held: list[Any] = []
        page.route(f"**{first_mask}*", lambda route: held.append(route))
        first.locator(".edit-open").click()
        expect(page.locator("#editor-status")).to_have_text("Loading…")
        page.wait_for_function("() => true")  # lets the route's handler see the mask's request
        assert len(held) == 1
        page.click("#editor-cancel")
        expect(page.locator("#editor")).to_be_hidden()
        open_editor(page, second)
        held[0].continue_()
        page.wait_for_function(
            "mask => performance.getEntriesByType('resource').some((entry) => entry.name.includes(mask))",
            arg=first_mask,
        )
        page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # its load event, had it a listener
        page.click("#editor-save")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        saved = model_mask(page, second_id)
        assert np.abs(saved.astype(int) - second_mask).mean() < 1, "the first cutout's mask was saved as the second's"


def test_a_save_answered_after_the_editor_moved_on_leaves_the_cutout_open_now_alone(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Saved, cancelled while the save was out, and opened on another cutout: when the first save's answer came, the
    editor closed under the strokes painted since, unasked."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        first = astronaut_row(page, tmp_path)
        coffee = tmp_path / "coffee.jpg"
        coffee.write_bytes(photo_bytes("coffee.png", size=(640, 480)))
        second = finished_row(page, coffee)
        shown_before = first.locator(".after img").get_attribute("src")
        dialog = open_editor(page, first)
        drag(page, (640, 480), (100, 100), (140, 100))
        held = held_saves(page, first.get_attribute("data-item-id"))
        save_held(page, held)
        page.click("#editor-cancel")  # unasked: its strokes are on their way
        expect(dialog).to_be_hidden()

        open_editor(page, second)
        drag(page, (640, 480), (100, 100), (140, 100))
        held[0].continue_()
        expect(first.locator(".after img")).not_to_have_attribute("src", shown_before, timeout=60_000)  # answered
        expect(dialog).to_be_visible()
        expect(page.locator("#editor-title")).to_have_text("Edit coffee.jpg")
        expect(page.locator("#editor-status")).to_have_text("")
        expect(page.locator("#editor-undo")).to_be_enabled()  # its stroke still there to save
        expect(page.locator("#editor-save")).to_be_enabled()


def test_cancel_while_a_save_of_every_stroke_is_out_closes_the_editor_unasked(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Escape while the save was out asked "Discard the changes you have not saved?" of strokes on their way: yes
    looked like losing them, no kept the editor open for nothing. A stroke painted after Save was pressed is not on
    its way: Escape asks, and the save's answer leaves the editor on it."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row = astronaut_row(page, tmp_path)
        item_id = row.get_attribute("data-item-id")
        asked: list[str] = []
        page.on("dialog", lambda question: (asked.append(question.message), question.dismiss()))
        shown_before = row.locator(".after img").get_attribute("src")
        dialog = open_editor(page, row)
        drag(page, (640, 480), (100, 100), (140, 100))
        held = held_saves(page, item_id)
        save_held(page, held)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert asked == []
        held.pop().continue_()
        expect(row.locator(".after img")).not_to_have_attribute("src", shown_before, timeout=60_000)

        open_editor(page, row)
        drag(page, (640, 480), (100, 200), (140, 200))
        save_held(page, held)
        drag(page, (640, 480), (100, 300), (140, 300))  # painted while the save is out
        page.keyboard.press("Escape")
        assert asked == [DISCARD]
        expect(dialog).to_be_visible()
        held.pop().continue_()
        expect(page.locator("#editor-status")).to_have_text(
            "Saved, except the changes made since: Save again to keep them.", timeout=60_000
        )
        expect(dialog).to_be_visible()
        expect(page.locator("#editor-save")).to_be_enabled()
        page.unroute(f"**/api/v1/items/{item_id}/mask")
        page.click("#editor-save")
        expect(dialog).to_be_hidden(timeout=60_000)
        assert asked == [DISCARD]


def test_a_save_failing_after_the_editor_closed_is_told_on_the_card_and_edit_gives_the_strokes_back(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Closed while its save was out, the editor took no notice of the save's failure: the hand edit was lost, and
    nothing said so."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row = astronaut_row(page, tmp_path)
        item_id = row.get_attribute("data-item-id")
        model = model_mask(page, item_id)
        inside = block_where(model, 255)
        page.on("dialog", lambda question: question.accept())  # asked or not, the editor closes
        dialog, save = erased_and_closed_while_saving(page, row, inside)
        save.abort()  # the connection lost

        error = row.locator(".error")
        expect(error).to_have_text("Your hand edit was not saved: Failed to fetch. Edit opens it again.")
        expect(error).to_have_attribute("role", "alert")
        assert np.array_equal(model_mask(page, item_id), model)

        page.unroute(f"**/api/v1/items/{item_id}/mask")
        open_editor(page, row)
        expect(page.locator("#editor-status")).to_have_text(
            "Your hand edit that was not saved is back: Save to try again."
        )
        expect(error).to_have_count(0)
        expect(page.locator("#editor-undo")).to_be_enabled()  # back to the cutout as saved
        page.click("#editor-save")
        expect(dialog).to_be_hidden(timeout=60_000)
        result = Image.open(io.BytesIO(page.request.get(f"/api/v1/items/{item_id}/result").body()))
        assert (alpha_around(result, inside) == 0).all()


def two_blocks_where(mask: np.ndarray, value: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The centres of two BLOCK x BLOCK squares of `value`, apart by at least two blocks."""
    first = block_where(mask, value)
    height, width = mask.shape
    for top in range(BLOCK, height - 2 * BLOCK, BLOCK // 2):
        for left in range(BLOCK, width - 2 * BLOCK, BLOCK // 2):
            centre = (left + BLOCK // 2, top + BLOCK // 2)
            far = max(abs(centre[0] - first[0]), abs(centre[1] - first[1])) >= 2 * BLOCK
            if far and (mask[top : top + BLOCK, left : left + BLOCK] == value).all():
                return first, centre
    raise AssertionError(f"no two {BLOCK}px squares of {value} in the model's mask")


def test_a_cutout_opened_again_while_its_save_is_out_waits_for_it_and_keeps_both_edits(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Opened again at once, the editor showed the mask from before the save still out: painted and saved from
    there, it put back what the first save had erased."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row = astronaut_row(page, tmp_path)
        item_id = row.get_attribute("data-item-id")
        first, second = two_blocks_where(model_mask(page, item_id), 255)
        dialog, save = erased_and_closed_while_saving(page, row, first)

        row.locator(".edit-open").click()
        expect(page.locator("#editor-status")).to_have_text("Waiting for the save of this cutout…")
        expect(dialog).to_have_attribute("data-ready", "false")
        save.continue_()
        page.unroute(f"**/api/v1/items/{item_id}/mask")
        expect(dialog).to_have_attribute("data-ready", "true", timeout=60_000)
        erase_hard(page, second)
        page.click("#editor-save")
        expect(dialog).to_be_hidden(timeout=60_000)

        result = Image.open(io.BytesIO(page.request.get(f"/api/v1/items/{item_id}/result").body()))
        assert (alpha_around(result, first) == 0).all()
        assert (alpha_around(result, second) == 0).all()


def a_cutout_edited_by_hand(page: Any, tmp_path: Path) -> tuple[Any, str, np.ndarray, Any]:
    """The astronaut's card with a hand edit saved: (its row, its item's id, the model's mask, the editor)."""
    from playwright.sync_api import expect

    row = astronaut_row(page, tmp_path)
    item_id = row.get_attribute("data-item-id")
    model = model_mask(page, item_id)
    dialog = open_editor(page, row)
    erase_hard(page, block_where(model, 255))
    page.click("#editor-save")
    expect(dialog).to_be_hidden(timeout=60_000)
    return row, item_id, model, dialog


def test_cancel_while_a_revert_is_out_closes_the_editor_unasked_and_its_failure_is_told_on_the_card(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Revert pressed over strokes, the question answered yes (every hand edit goes), then Escape while the DELETE was
    out: the editor asked "Discard the changes you have not saved?" of strokes the user had just chosen to lose. And
    the DELETE failing once the editor had closed was told nowhere: the card went on showing the hand edit, as if
    reverted."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row, item_id, model, dialog = a_cutout_edited_by_hand(page, tmp_path)
        edited = model_mask(page, item_id)
        assert not np.array_equal(edited, model)

        asked: list[str] = []
        page.on("dialog", lambda question: (asked.append(question.message), question.accept()))
        open_editor(page, row)
        drag(page, (640, 480), (100, 100), (140, 100))
        held = held_saves(page, item_id)
        save_held(page, held, "#editor-revert")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert len(asked) == 1 and "Every hand edit of this cutout, saved or not, is lost." in asked[0]
        held.pop().abort()  # the connection lost

        error = row.locator(".error")
        expect(error).to_have_text(
            "Could not revert to the model\N{RIGHT SINGLE QUOTATION MARK}s cutout: Failed to fetch"
        )
        expect(error).to_have_attribute("role", "alert")
        assert np.array_equal(model_mask(page, item_id), edited)

        # Reverted from the editor again, answered this time: the card's note is past.
        page.unroute(f"**/api/v1/items/{item_id}/mask")
        open_editor(page, row)
        page.click("#editor-revert")
        expect(dialog).to_be_hidden(timeout=60_000)
        expect(error).to_have_count(0)
        assert np.array_equal(model_mask(page, item_id), model)


def test_a_cutout_opened_again_while_its_revert_is_out_waits_for_it(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Opened again at once, the editor showed the hand edit the Revert still out was taking away: saved from there,
    the hand edit came back over the model's cutout."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        row, item_id, model, dialog = a_cutout_edited_by_hand(page, tmp_path)

        page.on("dialog", lambda question: question.accept())
        open_editor(page, row)
        held = held_saves(page, item_id)
        save_held(page, held, "#editor-revert")
        page.click("#editor-cancel")
        expect(dialog).to_be_hidden()

        row.locator(".edit-open").click()
        expect(page.locator("#editor-status")).to_have_text("Waiting for the save of this cutout…")
        expect(dialog).to_have_attribute("data-ready", "false")
        held.pop().continue_()
        page.unroute(f"**/api/v1/items/{item_id}/mask")
        expect(dialog).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-revert")).to_be_hidden()  # nothing edited by hand now
        page.click("#editor-save")
        expect(dialog).to_be_hidden(timeout=60_000)
        assert np.array_equal(model_mask(page, item_id), model)
