"""The batch page at the scale users bring, hundreds of photos (static/js/upload.js, static/js/waiting-cards.js,
static/js/frames.js, static/js/card-parts.js): its cards as small as what they show, made a frame's worth at a time,
in the list's order, those where its user was first after a reload, and the websocket's messages drawn once a frame,
in a real browser against a live server. Batches are seeded in the server's shell (seeded_batch), none of their
photos processed."""

import time
from typing import Any

import pytest
import requests

from tests.e2e.test_browser import browsing, log_in_new_user, seeded_batch

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Each change of the summary's count, with the cards made and the flagged and failed counts then (from before the
# page's script runs: the snapshot's first drawing is the one this is about).
NOTE_SUMMARIES = """
window.summaries = [];
document.addEventListener("DOMContentLoaded", () => {
    const overall = document.getElementById("overall");
    new MutationObserver(() => window.summaries.push({
        text: overall.textContent,
        cards: document.querySelectorAll("#items > .item").length,
        flagged: document.getElementById("filter-flagged").textContent,
        failed: document.getElementById("filter-failed").textContent,
    })).observe(overall, { childList: true, characterData: true, subtree: true });
});
"""

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def test_a_large_batch_opens_counted_at_once_its_cards_made_in_order_over_several_frames(
    browser: Any, embedded_server: Any
) -> None:
    """The snapshot of a batch of 1,000 photos was made into cards at once, which held the page 0.9-1.3 s: now a
    frame's worth at a time, the first ones first, the counts of the whole batch said from the first frame."""
    from playwright.sync_api import expect

    statuses = ["done", "done", "flagged", "done", "done", "done", "failed", "done"] * 40  # 320 photos
    with browsing(browser, embedded_server.url) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.add_init_script(NOTE_SUMMARIES)
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator(".item")).to_have_count(len(statuses))
        names = page.locator(".item").evaluate_all("cards => cards.map((card) => card.dataset.filename)")
        assert names == [f"photo-{position:04}.jpg" for position in range(len(statuses))]
        expect(page.locator("#overall")).to_have_text("280 of 320 done, 40 failed")

        summaries = [summary for summary in page.evaluate("window.summaries") if "of 320" in summary["text"]]
        first = summaries[0]
        assert first["text"] == "280 of 320 done, 40 failed"
        assert (first["flagged"], first["failed"]) == ("Needs a look (40)", "Failed (40)")
        assert 0 < first["cards"] < len(statuses)  # the rest in the next frames


# The nodes of the cards' list (elements, their text), and how many of its cards show each part a flagged or a failed
# photo's card has.
CARDS_NODES = """() => {
    const list = document.getElementById("items");
    const walker = document.createTreeWalker(list);
    let nodes = 0;
    while (walker.nextNode()) nodes++;
    const count = (selector) => list.querySelectorAll(selector).length;
    return {
        nodes,
        cards: count(".item"),
        named: count(".item .filename:not(:empty)"),
        flagged: count(".item.flagged .badge.needs-look:not([hidden]) + .badge.status"),
        looksFine: count(".item.flagged .looks-fine:not([hidden])"),
        failed: count('.item[data-status="failed"] .error:not([hidden])'),
        removable: count(".item .item-remove:not([hidden])"),
    };
}"""

# Nodes a card may hold, generous: each card held 61 (24 elements, 37 texts, mostly the template's whitespace),
# 61,000 at 1,000 photos, for the browser to keep, match styles against and clone; now 22-26.
NODES_PER_CARD = 40


def test_a_thousand_cards_hold_only_the_parts_they_show(browser: Any, embedded_server: Any) -> None:
    """Every card held every part any card may show, hidden (badges, the upload's bar, an error, six controls) and the
    whitespace of its template: now a part is put in a card only while it shows it, and a card's controls answer
    through one listener on the list."""
    from playwright.sync_api import expect

    statuses = ["done", "done", "flagged", "done", "done", "done", "failed", "done"] * 125  # 1,000 photos
    with browsing(browser, embedded_server.url, viewport=WIDE) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator(".item")).to_have_count(len(statuses))
        cards = page.evaluate(CARDS_NODES)
        assert cards["nodes"] <= NODES_PER_CARD * len(statuses), cards["nodes"] / len(statuses)
        parts = {"cards": 1000, "named": 1000, "flagged": 125, "looksFine": 125, "failed": 125, "removable": 1000}
        assert {name: cards[name] for name in parts} == parts


def test_a_burst_of_messages_is_drawn_once_at_the_next_frame(browser: Any, embedded_server: Any) -> None:
    """Each websocket message counted and sorted every card again (6 ms at 320 cards, more with more): a burst of them
    held the page. Now a frame draws them once: with the page's clock held, twenty items deleted by a program change
    the cards, and the count only once the next frame comes."""
    from playwright.sync_api import expect

    with browsing(browser, embedded_server.url) as page:
        page.clock.install()  # the page's frames come when the test says
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, ["done"] * 30)
        key = embedded_server.shell(
            "from django.contrib.auth.models import User; from accounts.services import api_key_create; "
            f"result = api_key_create(user=User.objects.get(username={username!r}), name='tests')[1]"
        )
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator("#overall")).to_have_text("30 of 30 done, 0 failed")
        page.evaluate(
            """() => {
                window.drawings = 0;
                new MutationObserver(() => window.drawings++).observe(
                    document.getElementById("overall"), { childList: true, characterData: true, subtree: true },
                );
            }"""
        )
        page.clock.pause_at(page.evaluate("Date.now()"))
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {key}"
        for item in api.get(f"{embedded_server.url}/api/v1/batches/{batch_id}", timeout=10).json()["items"][:20]:
            deleted = api.delete(f"{embedded_server.url}/api/v1/items/{item['id']}", timeout=10)
            assert deleted.status_code == 204, deleted.text
        expect(page.locator(".item")).to_have_count(10)  # each message taken as it came
        assert page.evaluate("window.drawings") == 0
        page.clock.run_for(100)
        assert page.evaluate("window.drawings") == 1
        expect(page.locator("#overall")).to_have_text("10 of 10 done, 0 failed")


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_a_card_out_of_view_takes_the_height_it_has_in_view(
    browser: Any, embedded_server: Any, viewport: dict[str, int]
) -> None:
    """A card out of view is not laid out (site.css: content-visibility), and took the height it was given instead:
    178 px for a card of 148 on a wide screen, so that every row of cards shrank as it came into view, and a page
    scrolled to a card ended some rows away from it (which cards were laid out changed as it went)."""
    from playwright.sync_api import expect

    statuses = ["done", "flagged", "done", "failed"] * 30
    with browsing(browser, embedded_server.url, viewport=viewport) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator(".item")).to_have_count(len(statuses))
        last = page.locator(".item").last
        height = "card => card.getBoundingClientRect().height"
        out_of_view = last.evaluate(height)
        last.scroll_into_view_if_needed()
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        assert abs(last.evaluate(height) - out_of_view) <= 1, (out_of_view, last.evaluate(height))


# The filenames of the cards each change of the list brought, in order (from before the page's script runs).
NOTE_CARDS_MADE = """
window.cardsMade = [];
window.cardsMoved = 0;
document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("items");
    if (!list) return; // not a batch page
    new MutationObserver((records) => {
        const added = records.flatMap((record) => [...record.addedNodes]);
        window.cardsMade.push(added.map((card) => card.dataset.filename));
        const removed = records.flatMap((record) => [...record.removedNodes]);
        window.cardsMoved += removed.filter((card) => card.isConnected).length; // taken out and put back
    }).observe(list, { childList: true });
});
"""


def test_least_confident_first_ticked_while_the_cards_are_made_sorts_them_once_and_makes_the_rest_in_order(
    browser: Any, embedded_server: Any
) -> None:
    """Ticked while a large batch's cards were being made, "Least confident first" sorted the whole list again at each
    frame, the cards made in upload order each time. Now the cards made are sorted once, the others made in the
    sorted order, each in its place: no card moves after the first sort. The page's frames come when the test says."""
    statuses = ["done", "flagged", "done", "failed"] * 80  # 320 photos, 50 cards a frame
    with browsing(browser, embedded_server.url) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.add_init_script(NOTE_CARDS_MADE)
        page.clock.install()
        page.clock.pause_at(time.time() * 1000 + 1000)
        page.goto(f"/batches/{batch_id}/")
        while not page.locator(".item").count():  # until the snapshot came and a frame made the first cards
            page.clock.run_for(20)
        assert page.locator(".item").count() < len(statuses)
        page.locator("#sort-confidence").check()
        page.evaluate("window.cardsMoved = 0")
        frames = 0
        while page.locator(".item").count() < len(statuses):
            page.clock.run_for(20)
            frames += 1
        assert frames > 1
        assert page.evaluate("window.cardsMoved") == 0

        names = page.locator(".item").evaluate_all("cards => cards.map((card) => card.dataset.filename)")
        named = {status: [f"photo-{n:04}.jpg" for n, of in enumerate(statuses) if of == status] for status in statuses}
        assert names == named["flagged"] + named["done"] + named["failed"]  # 5% confident, 95%, none


# A card's top, px from the top of the window.
CARD_TOP = "card => card.getBoundingClientRect().top"


def scroll_card_to(page: Any, filename: str, top: int) -> None:
    """Scroll the page so that the card of `filename` is `top` px below the top of the window (again once the cards
    come into view took their own heights)."""
    card = page.locator(f'.item[data-filename="{filename}"]')
    for _ in range(5):
        card.evaluate(f"card => scrollBy(0, card.getBoundingClientRect().top - {top})")
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        if round(card.evaluate(CARD_TOP)) == top:
            return
    raise AssertionError(f"{filename} stays at {card.evaluate(CARD_TOP)} px")


def test_a_reloaded_or_returned_batch_page_opens_where_its_user_was_with_the_cards_there_made_first(
    browser: Any, embedded_server: Any
) -> None:
    """The browser's own restoring of the scroll gave up on the page, still too short when it loaded, and the cards
    were made from the top: a reload or a return to a batch of 1,000 photos, scrolled down to the 600th, showed the
    first ones. Now the cards from the one that was first in view on are made first, put back where they were, and
    held there while those above them are made."""
    from playwright.sync_api import expect

    statuses = ["done", "done", "flagged", "done", "done", "done", "failed", "done"] * 125  # 1,000 photos
    with browsing(browser, embedded_server.url, viewport=WIDE) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.add_init_script(NOTE_CARDS_MADE)
        page.goto(f"/batches/{batch_id}/")
        expect(page.locator(".item")).to_have_count(len(statuses))

        def comes_back_to(filename: str, top: int) -> None:
            expect(page.locator(".item")).to_have_count(len(statuses))
            first_made = page.evaluate("window.cardsMade[0]")
            assert filename in first_made and "photo-0000.jpg" not in first_made, first_made
            assert round(page.locator(f'.item[data-filename="{filename}"]').evaluate(CARD_TOP)) == top
            names = page.locator(".item").evaluate_all("cards => cards.map((card) => card.dataset.filename)")
            assert names == [f"photo-{position:04}.jpg" for position in range(len(statuses))]  # all in their places

        scroll_card_to(page, "photo-0600.jpg", 120)
        page.reload()  # at once: the place is kept as the page goes
        comes_back_to("photo-0600.jpg", 120)

        scroll_card_to(page, "photo-0301.jpg", 300)
        page.goto("/batches/")
        page.go_back()
        comes_back_to("photo-0301.jpg", 300)

        page.goto(f"/batches/{batch_id}/")  # opened anew (a link, the address typed): at its top
        expect(page.locator(".item")).to_have_count(len(statuses))
        assert page.evaluate("window.cardsMade[0]")[0] == "photo-0000.jpg"
        assert page.evaluate("scrollY") == 0


def test_a_large_batch_opened_with_a_filter_makes_the_cards_it_shows_first(browser: Any, embedded_server: Any) -> None:
    """Opened with only its failed photos (the batch list's count links there), a batch made every card in upload
    order, the hidden ones too: its last photos, failed, showed only once every card before them was made. Now the
    cards the filter shows come first. The page's frames come when the test says."""
    from playwright.sync_api import expect

    statuses = ["done"] * 300 + ["failed"] * 20
    with browsing(browser, embedded_server.url) as page:
        username = log_in_new_user(page, embedded_server)
        batch_id = seeded_batch(embedded_server, username, statuses)
        page.clock.install()
        page.clock.pause_at(time.time() * 1000 + 1000)
        page.goto(f"/batches/{batch_id}/?failed=1")
        while not page.locator(".item").count():  # until the snapshot came and a frame made the first cards
            page.clock.run_for(20)
        assert page.locator(".item").count() < len(statuses)
        failed = [f"photo-{position:04}.jpg" for position in range(300, 320)]
        expect(page.locator(".item:visible")).to_have_count(20)
        assert (
            page.locator(".item:visible").evaluate_all("cards => cards.map((card) => card.dataset.filename)") == failed
        )
