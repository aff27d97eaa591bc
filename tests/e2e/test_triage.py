"""Which cutouts need a look, on the batch page in a real browser (static/js/triage.js).

Real photos the served model is sure of (coffee.png: a cup on a table) and ones it is not
(grass.png, brick.png: textures with no subject, confidence near 0), processed by a live
server; the page's count, badge, filter, order, "Looks fine", editor and "Improve flagged
with best" are checked against what the batch API says of the same items.
"""

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import photo_bytes, photo_path
from tests.e2e.test_browser import (
    PROCESSING_TIMEOUT_MS,
    browsing,
    log_in_new_user,
    seeded_batch,
    signed_in,
)
from tests.e2e.test_editor import drag, save_held

pytestmark = [pytest.mark.browser, pytest.mark.live]

SURE = "coffee.png"
UNSURE = ("grass.png", "brick.png")


def upload_and_finish(page: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """Upload the photos into one batch, wait until every card is done; the batch API's items by filename."""
    from playwright.sync_api import expect

    page.set_input_files("#file-input", [photo_path(name) for name in names])
    for name in names:
        expect(card(page, name)).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    return items_by_name(page)


def items_by_name(page: Any) -> dict[str, dict[str, Any]]:
    batch_id = re.search(r"/batches/([0-9a-f-]{36})/", page.url)[1]  # type: ignore[index]
    reply = page.request.get(f"/api/v1/batches/{batch_id}")
    assert reply.ok, reply.text()
    batch = reply.json()
    return {item["filename"]: {**item, "batch": batch} for item in batch["items"]}


def as_percent(confidence: float) -> str:
    """As the page writes it in English (Intl rounds the JSON's decimal digits half up)."""
    return f"{(Decimal(str(confidence)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


def card(page: Any, name: str) -> Any:
    return page.locator(f'.item[data-filename="{name}"]')


def shown_names(page: Any) -> list[str]:
    return page.locator(".item:visible").evaluate_all("rows => rows.map((row) => row.dataset.filename)")


def test_flagged_cards_are_counted_badged_filtered_ordered_and_cleared(browser: Any, embedded_server: Any) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        names = [UNSURE[0], SURE, UNSURE[1]]
        items = upload_and_finish(page, names)
        flagged = sorted(name for name, item in items.items() if item["needs_review"])
        assert flagged == sorted(UNSURE), {name: item["confidence"] for name, item in items.items()}
        assert items[SURE]["batch"]["counts"]["needs_review"] == 2

        # The count and the badge, with the confidence in its title, as a percentage.
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (2)")
        expect(page.locator("#improve-flagged")).to_have_text("Improve flagged with best (2)")
        expect(page.locator("#improve-flagged")).to_be_enabled()
        for name in UNSURE:
            badge = card(page, name).locator(".badge.needs-look")
            expect(badge).to_be_visible()
            expect(badge).to_have_text("needs a look")
            percent = as_percent(items[name]["confidence"])
            expect(badge).to_have_attribute("title", re.compile(f"The model is {percent} sure .*Click to edit it"))
            expect(card(page, name).locator(".looks-fine")).to_be_visible()
            expect(card(page, name).locator(".filename")).to_have_attribute("title", name)  # the name in full
        expect(card(page, SURE).locator(".badge.needs-look")).to_be_hidden()
        expect(card(page, SURE).locator(".looks-fine")).to_be_hidden()
        expect(card(page, SURE).locator(".meta")).to_contain_text(f"{as_percent(items[SURE]['confidence'])} confident")

        # Least confident first, then back to upload order.
        page.check("#sort-confidence")
        by_confidence = sorted(names, key=lambda name: items[name]["confidence"])
        expect(page.locator(".item")).to_have_count(3)
        assert shown_names(page) == by_confidence
        page.uncheck("#sort-confidence")
        assert shown_names(page) == names

        # The batch list's count of flagged cutouts opens the batch showing only those (in another tab:
        # a batch opened again lists its cards in the server's order, which two parallel uploads may swap).
        listing = page.context.new_page()
        listing.goto("/batches/")
        expect(listing.locator("a.needs-look-link")).to_have_text("2")
        listing.locator("a.needs-look-link").click()
        expect(listing.locator(".item")).to_have_count(3)
        expect(listing.locator("#filter-flagged")).to_have_attribute("aria-pressed", "true")
        expect(card(listing, SURE)).to_be_hidden()
        assert sorted(shown_names(listing)) == sorted(UNSURE)
        listing.close()

        # The filter shows only the flagged cards, and toggles back.
        page.click("#filter-flagged")
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "true")
        expect(card(page, SURE)).to_be_hidden()
        assert shown_names(page) == [UNSURE[0], UNSURE[1]]

        # "Looks fine" clears the badge, here and on the server; the card stays in the filtered
        # view (nothing moves under the pointer) until the filter is toggled.
        card(page, UNSURE[1]).locator(".looks-fine").click()
        expect(card(page, UNSURE[1]).locator(".badge.needs-look")).to_be_hidden()
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (1)")
        fine = items_by_name(page)[UNSURE[1]]
        assert fine["reviewed"] and not fine["needs_review"]
        assert shown_names(page) == [UNSURE[0], UNSURE[1]]
        page.click("#filter-flagged")
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "false")
        assert shown_names(page) == names
        page.click("#filter-flagged")
        expect(card(page, UNSURE[1])).to_be_hidden()
        assert shown_names(page) == [UNSURE[0]]

        # The badge opens the editor; a saved hand edit clears it.
        card(page, UNSURE[0]).locator(".badge.needs-look").click()
        expect(page.locator("#editor")).to_have_attribute("data-ready", "true", timeout=60_000)
        page.locator("#editor-size").fill("60")
        page.check("input[name=editor-tool][value=restore]")
        drag(page, (512, 512), (200, 250), (320, 260))
        page.click("#editor-save")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        expect(card(page, UNSURE[0]).locator(".badge.needs-look")).to_be_hidden()
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (0)")
        expect(page.locator("#improve-flagged")).to_be_disabled()
        edited = items_by_name(page)[UNSURE[0]]
        assert edited["edited"] and edited["reviewed"] and not edited["needs_review"]
        assert edited["batch"]["counts"]["needs_review"] == 0


def test_looks_fine_from_the_keyboard_leaves_the_focus_on_its_card(browser: Any, embedded_server: Any) -> None:
    """The button, disabled while its request is out and then hidden with the flag, let go of the focus: the keyboard
    was back at the top of the page, 40 stops from the card. The card's first link takes it."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        upload_and_finish(page, [UNSURE[0], SURE])
        looks_fine = card(page, UNSURE[0]).locator(".looks-fine")
        looks_fine.focus()
        page.keyboard.press("Enter")
        expect(card(page, UNSURE[0]).locator(".badge.needs-look")).to_be_hidden()
        expect(looks_fine).to_be_hidden()
        expect(card(page, UNSURE[0]).locator(".compare-open")).to_be_focused()


def test_the_editor_walked_from_the_keyboard_keeps_the_focus_in_reach(browser: Any, embedded_server: Any) -> None:
    """Opened from a badge: "Looks fine, next" keeps the focus on the next cutout (disabled while its request was out,
    the button had let go of it: the dialog had none); closed, by Escape or by the last "Looks fine", the focus goes
    to the card of the badge, which is hidden by then (the browser could not give it back, and it fell to the page)."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        upload_and_finish(page, [UNSURE[0], SURE, UNSURE[1]])
        editor = page.locator("#editor")
        card(page, UNSURE[0]).locator(".badge.needs-look").focus()
        page.keyboard.press("Enter")
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 1 of 2")
        page.focus("#editor-fine")
        page.keyboard.press("Enter")
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 2 of 2")
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-fine")).to_be_focused()
        page.keyboard.press("Escape")
        expect(editor).not_to_have_attribute("open", "")
        expect(card(page, UNSURE[0]).locator(".compare-open")).to_be_focused()

        card(page, UNSURE[1]).locator(".badge.needs-look").focus()
        page.keyboard.press("Enter")
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        page.focus("#editor-fine")
        page.keyboard.press("Enter")  # the last one: the editor closes
        expect(editor).not_to_have_attribute("open", "")
        expect(card(page, UNSURE[1]).locator(".badge.needs-look")).to_be_hidden()
        expect(card(page, UNSURE[1]).locator(".compare-open")).to_be_focused()


def flagged_and_painted_in_the_editor(page: Any, name: str) -> tuple[Any, Any]:
    """Photo `name` cut out, its card's badge opening the editor, a stroke painted: (its card, the editor)."""
    from playwright.sync_api import expect

    upload_and_finish(page, [name])
    flagged = card(page, name)
    editor = page.locator("#editor")
    flagged.locator(".badge.needs-look").click()
    expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
    drag(page, (512, 512), (200, 250), (320, 260))
    return flagged, editor


def test_cancel_while_looks_fine_is_out_closes_the_editor_unasked_and_its_failure_is_told_on_the_card(
    browser: Any,
    embedded_server: Any,
) -> None:
    """ "Looks fine" pressed over strokes, then Escape while its request was out: the editor asked "Discard the changes
    you have not saved?", though marked fine it leaves them anyway (the cutout is fine as saved), and no kept it open
    for nothing. And the request failing once the editor had closed was told nowhere: the badge simply stayed. (In the
    editor, its refusal read "Not saved: Could not mark it fine: ...".)"""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        asked: list[str] = []
        page.on("dialog", lambda question: (asked.append(question.message), question.dismiss()))
        flagged, editor = flagged_and_painted_in_the_editor(page, UNSURE[0])
        page.route("**/api/v1/items/*/review", lambda route: route.abort())
        page.click("#editor-fine")  # refused while the editor is on the cutout: said there, in the request's words
        expect(page.locator("#editor-status")).to_have_text("Could not mark it fine: the server could not be reached")
        page.unroute("**/api/v1/items/*/review")
        held: list[Any] = []
        page.route("**/api/v1/items/*/review", lambda route: held.append(route))
        save_held(page, held, "#editor-fine")
        page.keyboard.press("Escape")
        expect(editor).to_be_hidden()
        assert asked == []
        held.pop().abort()  # the connection lost

        error = flagged.locator(".error")
        expect(error).to_have_text("Could not mark it fine: the server could not be reached")
        expect(error).to_have_attribute("role", "alert")
        expect(flagged.locator(".badge.needs-look")).to_be_visible()

        # Marked fine from the card, answered this time: the card's note is past.
        page.unroute("**/api/v1/items/*/review")
        flagged.locator(".looks-fine").click()
        expect(error).to_have_count(0)
        expect(flagged.locator(".badge.needs-look")).to_be_hidden()
        assert items_by_name(page)[UNSURE[0]]["reviewed"]


def test_a_hand_edit_not_saved_stays_told_on_its_card_when_the_cutout_is_marked_fine_from_there(
    browser: Any,
    embedded_server: Any,
) -> None:
    """A failed "Looks fine" of the editor's is told on the card until the item changes; a failed save is not: the
    editor keeps its strokes, and Edit gives them back whatever the item went through meanwhile."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        flagged, editor = flagged_and_painted_in_the_editor(page, UNSURE[0])
        held: list[Any] = []
        page.route("**/api/v1/items/*/mask", lambda route: held.append(route))
        save_held(page, held)
        page.keyboard.press("Escape")
        expect(editor).to_be_hidden()
        held.pop().abort()
        error = flagged.locator(".error")
        expect(error).to_have_text("Your hand edit was not saved: Failed to fetch. Edit opens it again.")

        flagged.locator(".looks-fine").click()
        expect(flagged.locator(".badge.needs-look")).to_be_hidden()
        expect(error).to_have_text("Your hand edit was not saved: Failed to fetch. Edit opens it again.")


def test_improve_flagged_from_the_keyboard_leaves_the_focus_in_the_bar(browser: Any, embedded_server: Any) -> None:
    """Disabled while its request is out, and after it with nothing left to improve, the button let go of the focus:
    the keyboard was back at the top of the page. The bar's first control that can takes it."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        upload_and_finish(page, [UNSURE[0], SURE])
        page.focus("#improve-flagged")
        page.keyboard.press("Enter")
        expect(page.locator("#improve-flagged")).to_be_disabled()
        in_the_bar = "() => document.getElementById('triage').contains(document.activeElement)"
        page.wait_for_function(in_the_bar, timeout=10_000)


def test_the_editor_goes_through_the_flagged_cutouts_one_after_another(browser: Any, embedded_server: Any) -> None:
    """Looks fine, next / Save and next: each flagged cutout in the page's order, without closing the editor."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        names = [UNSURE[0], SURE, UNSURE[1]]
        upload_and_finish(page, names)
        order = shown_names(page)  # the page's order: the walk follows it
        first, second = (name for name in order if name in UNSURE)
        editor = page.locator("#editor")

        card(page, first).locator(".badge.needs-look").click()
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-title")).to_have_text(f"Edit {first}")
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 1 of 2")
        expect(page.locator("#editor-fine")).to_have_text("Looks fine, next")
        expect(page.locator("#editor-save-next")).to_be_visible()

        page.locator("#editor-size").fill("60")
        page.check("input[name=editor-tool][value=restore]")
        drag(page, (512, 512), (200, 250), (320, 260))
        page.click("#editor-save-next")  # saves the first and opens the second
        expect(page.locator("#editor-title")).to_have_text(f"Edit {second}")
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(card(page, first).locator(".badge.needs-look")).to_be_hidden()
        # Its card says it was edited by hand, not the model's confidence, which was about the mask it had before.
        expect(card(page, first).locator(".meta")).to_contain_text("edited by hand")
        expect(card(page, first).locator(".meta")).not_to_contain_text("confident")
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (1)")
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 2 of 2")  # the first keeps its place
        # The last one that needs a look: no next to go to.
        expect(page.locator("#editor-fine")).to_have_text("Looks fine")
        expect(page.locator("#editor-save-next")).to_be_hidden()

        page.click("#editor-fine")
        expect(editor).to_be_hidden(timeout=60_000)
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (0)")
        items = items_by_name(page)
        assert items[first]["reviewed"] and items[first]["edited"]
        assert items[second]["reviewed"] and not items[second]["edited"]

        # A cutout nobody flagged opens without the walk's buttons.
        card(page, SURE).locator(".edit-open").click()
        expect(editor).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-fine")).to_be_hidden()
        expect(page.locator("#editor-save-next")).to_be_hidden()
        expect(page.locator("#editor-position")).to_be_hidden()
        page.click("#editor-cancel")


def test_the_walks_count_follows_cutouts_marked_fine_or_removed_in_another_tab(
    browser: Any, embedded_server: Any
) -> None:
    """The editor said "1 of 3" while the other two were marked fine and removed in another tab, and offered "Save
    and next" with nothing left to go to: its count stayed the one of when the cutout opened."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        names = [*UNSURE, "gravel.png"]  # textures with no subject: all three flagged
        items = upload_and_finish(page, names)
        assert all(items[name]["needs_review"] for name in names), {n: i["confidence"] for n, i in items.items()}
        first, second, third = shown_names(page)
        card(page, first).locator(".badge.needs-look").click()
        expect(page.locator("#editor")).to_have_attribute("data-ready", "true", timeout=60_000)
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 1 of 3")

        other_tab = page.context.new_page()
        other_tab.goto(page.url)
        card(other_tab, second).locator(".looks-fine").click()
        expect(card(other_tab, second).locator(".badge.needs-look")).to_be_hidden()
        expect(page.locator("#editor-position")).to_have_text("Needs a look: 1 of 2")
        other_tab.once("dialog", lambda dialog: dialog.accept())
        card(other_tab, third).locator(".item-remove").click()
        expect(card(other_tab, third)).to_have_count(0)
        other_tab.close()

        expect(page.locator("#editor-position")).to_have_text("Needs a look: 1 of 1")
        expect(page.locator("#editor-fine")).to_have_text("Looks fine")  # no next one left
        expect(page.locator("#editor-save-next")).to_be_hidden()
        page.click("#editor-fine")
        expect(page.locator("#editor")).to_be_hidden(timeout=60_000)
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (0)")


def test_improve_flagged_with_best_reruns_only_the_flagged_cards_live(browser: Any, embedded_server: Any) -> None:
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        before = upload_and_finish(page, [SURE, UNSURE[0]])
        assert before[UNSURE[0]]["needs_review"] and not before[SURE]["needs_review"]
        assert before[UNSURE[0]]["quality"] == before[SURE]["quality"] == "fast"
        expect(page.locator("#improve-flagged")).to_have_text("Improve flagged with best (1)")

        flagged_card = card(page, UNSURE[0])
        flagged_card.evaluate(
            """row => {
                window.statusesSeen = [];
                new MutationObserver(() => window.statusesSeen.push(row.dataset.status))
                    .observe(row, { attributes: true, attributeFilter: ["data-status"] });
                window.summariesSeen = [];
                const overall = document.getElementById("overall");
                new MutationObserver(() => window.summariesSeen.push(overall.textContent))
                    .observe(overall, { childList: true, characterData: true, subtree: true });
            }"""
        )
        page.click("#improve-flagged")
        # The flagged card goes through processing again, live, and finishes with quality best.
        expect(flagged_card.locator(".meta")).to_contain_text("best quality")
        expect(flagged_card).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        assert {"queued", "processing"} & set(page.evaluate("window.statusesSeen"))
        # Its cutout kept while it is made again, it is not "done": the summary says what it is instead.
        assert "1 of 2 done, 0 failed · 1 being improved" in page.evaluate("window.summariesSeen")
        expect(flagged_card.locator(".meta")).to_contain_text("best quality")
        expect(card(page, SURE).locator(".meta")).not_to_contain_text("best quality")

        after = items_by_name(page)
        assert after[UNSURE[0]]["quality"] == "best" and after[UNSURE[0]]["revision"] > before[UNSURE[0]]["revision"]
        assert after[SURE]["quality"] == "fast" and after[SURE]["revision"] == before[SURE]["revision"]
        assert after[SURE]["result"] == before[SURE]["result"]
        # A texture with no subject stays unsure even with best: still flagged, still counted.
        assert after[UNSURE[0]]["needs_review"], after[UNSURE[0]]["confidence"]
        expect(flagged_card.locator(".badge.needs-look")).to_be_visible()
        expect(page.locator("#filter-flagged")).to_have_text("Needs a look (1)")
        # Made with best already: another run would give the same cutout, so the button is off and says why.
        expect(page.locator("#improve-flagged")).to_have_text("Improve flagged with best (0)")
        expect(page.locator("#improve-flagged")).to_be_disabled()
        expect(page.locator("#improve-done")).to_be_visible()

        # In German: the bar's words from the catalog, the percentage as German writes it.
        page.context.add_cookies([{"name": "django_language", "value": "de", "url": embedded_server.url}])
        page.reload()
        expect(page.locator("#filter-flagged")).to_have_text("Zu prüfen (1)")
        expect(page.locator("#improve-flagged")).to_have_text("Markierte mit „Beste“ verbessern (0)")
        expect(page.locator("#improve-done")).to_contain_text("bereits mit „Beste“ erstellt")
        confidence_pct, threshold_pct = (
            as_percent(value)[:-1] for value in (after[UNSURE[0]]["confidence"], after[SURE]["batch"]["review_below"])
        )
        german_title = re.compile(rf"zu {confidence_pct}\s% sicher \(unter {threshold_pct}\s% wird markiert\)")
        expect(flagged_card.locator(".badge.needs-look")).to_have_attribute("title", german_title)


def test_already_made_with_best_is_not_said_while_flagged_cutouts_are_being_improved(
    browser: Any,
    embedded_server: Any,
) -> None:
    """With two flagged cards improved, the one finished first (still unsure, now best) does not bring up "Every
    flagged cutout was already made with best" while the other is still being made again: only once both are."""
    from playwright.sync_api import expect

    with signed_in(browser, embedded_server) as page:
        upload_and_finish(page, list(UNSURE))
        page.evaluate(
            """() => {
                window.noteWhileImproving = [];
                const note = document.getElementById("improve-done");
                new MutationObserver(() => {
                    const improving = document.querySelectorAll(
                        '.item[data-status="queued"], .item[data-status="processing"]').length;
                    if (!note.hidden && improving) window.noteWhileImproving.push(improving);
                }).observe(document.getElementById("items"), { attributes: true, subtree: true });
            }"""
        )
        page.click("#improve-flagged")
        for name in UNSURE:
            expect(card(page, name).locator(".meta")).to_contain_text("best quality", timeout=PROCESSING_TIMEOUT_MS)
            expect(card(page, name)).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        expect(page.locator("#improve-done")).to_be_visible()
        assert page.evaluate("window.noteWhileImproving") == []


def test_the_failed_filter_shows_the_failed_and_refused_cards_live_and_after_a_reload(
    browser: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """Among hundreds of photos, the few that failed could not be found: a filter shows only the cards that failed or
    were refused, counted, one filter at a time, as new failures come, and after a reload or from the batch list."""
    from playwright.sync_api import expect

    with browsing(browser, embedded_server.url) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, ["done", "failed", "done", "flagged", "failed", "done"])
        page.goto(f"/batches/{batch_id}/")
        failed = page.locator("#filter-failed")
        expect(failed).to_have_text("Failed (2)")
        expect(failed).to_have_attribute("aria-pressed", "false")

        failed.click()
        expect(failed).to_have_attribute("aria-pressed", "true")
        assert shown_names(page) == ["photo-0001.jpg", "photo-0004.jpg"]
        assert page.url.endswith(f"/batches/{batch_id}/?failed=1")
        # One filter at a time: the other one takes over, and lets go.
        page.click("#filter-flagged")
        expect(failed).to_have_attribute("aria-pressed", "false")
        assert shown_names(page) == ["photo-0003.jpg"]
        assert page.url.endswith(f"/batches/{batch_id}/?flagged=1")
        failed.click()
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "false")
        assert shown_names(page) == ["photo-0001.jpg", "photo-0004.jpg"]

        # Live: a file refused here at once (empty), one its worker cannot read; the others' cards stay out of view.
        empty, cut_short, fine = tmp_path / "empty.jpg", tmp_path / "cut.jpg", tmp_path / "fine.jpg"
        empty.write_bytes(b"")
        cut_short.write_bytes(photo_bytes("chelsea.png", size=(640, 480))[:5000])
        fine.write_bytes(photo_bytes("coffee.png", size=(160, 120)))
        page.set_input_files("#file-input", [empty, cut_short, fine])
        expect(page.locator('.item[data-filename="fine.jpg"]')).to_have_attribute(
            "data-status", "done", timeout=PROCESSING_TIMEOUT_MS
        )
        expect(failed).to_have_text("Failed (4)")
        assert shown_names(page) == ["photo-0001.jpg", "photo-0004.jpg", "empty.jpg", "cut.jpg"]

        # After a reload, still only those (the refused file never joined the batch).
        page.reload()
        expect(failed).to_have_text("Failed (3)")
        expect(failed).to_have_attribute("aria-pressed", "true")
        expect(page.locator(".item")).to_have_count(8)
        assert shown_names(page) == ["photo-0001.jpg", "photo-0004.jpg", "cut.jpg"]

        # The batch list's count of failed photos opens the batch showing only those.
        page.goto("/batches/")
        link = page.locator(f'tr[data-batch-id="{batch_id}"] a.failed-link')
        expect(link).to_have_text("3")
        link.click()
        expect(failed).to_have_attribute("aria-pressed", "true")
        expect(page.locator(".item")).to_have_count(8)
        assert shown_names(page) == ["photo-0001.jpg", "photo-0004.jpg", "cut.jpg"]

        # A batch with no failure, opened with the filter on: said, and the filter can be turned off.
        clean_id = seeded_batch(embedded_server, username, ["done", "flagged"])
        page.goto(f"/batches/{clean_id}/?failed=1")
        expect(page.locator("#filter-failed-empty")).to_have_text("No image failed or was refused.")
        expect(page.locator(".item")).to_have_count(2)
        assert shown_names(page) == []
        failed.click()
        expect(failed).to_have_attribute("aria-pressed", "false")
        expect(failed).to_be_disabled()
        expect(page.locator("#filter-failed-empty")).to_be_hidden()
        assert shown_names(page) == ["photo-0000.jpg", "photo-0001.jpg"]


def test_least_confident_first_is_kept_by_the_address_through_a_reload(browser: Any, embedded_server: Any) -> None:
    """The filters were kept by the page's address, not the order: a reload showed the cards as uploaded, the box
    unticked (or ticked, where the browser restores a form's boxes, over cards as uploaded)."""
    from playwright.sync_api import expect

    with browsing(browser, embedded_server.url) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, ["done", "flagged", "failed", "flagged", "done"])
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator(".item")).to_have_count(5)
        sort = page.locator("#sort-confidence")
        sort.check()
        sorted_names = ["photo-0001.jpg", "photo-0003.jpg", "photo-0000.jpg", "photo-0004.jpg", "photo-0002.jpg"]
        assert shown_names(page) == sorted_names
        assert page.url.endswith(f"/batches/{batch_id}/?sort=confidence")
        page.click("#filter-flagged")
        assert page.url.endswith(f"/batches/{batch_id}/?flagged=1&sort=confidence")

        page.reload()
        expect(page.locator(".item")).to_have_count(5)
        expect(sort).to_be_checked()
        expect(page.locator("#filter-flagged")).to_have_attribute("aria-pressed", "true")
        assert shown_names(page) == ["photo-0001.jpg", "photo-0003.jpg"]
        page.click("#filter-flagged")
        assert shown_names(page) == sorted_names

        sort.uncheck()
        assert page.url.endswith(f"/batches/{batch_id}/")
        page.reload()
        expect(page.locator(".item")).to_have_count(5)
        expect(sort).not_to_be_checked()
        assert shown_names(page) == [f"photo-{position:04}.jpg" for position in range(5)]
