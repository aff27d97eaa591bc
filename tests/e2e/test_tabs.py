"""One person, several tabs: pages of one browser context share its session cookie, and a log-out, a log-in as
someone else or an ended session in one tab changes what every other tab's requests are sent as."""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from removal.web.consumers import CREDENTIALS_RECHECK_SECONDS
from tests.conftest import photo_path
from tests.e2e.test_browser import (
    PROCESSING_TIMEOUT_MS,
    drop_files,
    log_in_new_user,
    small_photos,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

PASSWORD = "correct horse battery"  # log_in_new_user's
GONE_UP = 3  # uploads let through before a log-out: the batch's creation with its first file, and two files


@contextmanager
def one_person(browser: Any, base_url: str) -> Iterator[Any]:
    """A browser context (one person's cookies), failing on uncaught JavaScript errors in any of its tabs."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(20_000)
    page_errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda error: page_errors.append(str(error))))
    try:
        yield context
    finally:
        context.close()
    assert page_errors == [], f"JavaScript errors on the page: {page_errors}"


def log_out(tab: Any) -> None:
    with tab.expect_navigation():
        tab.locator("form[action$='/accounts/logout/'] button").click()


def log_in(tab: Any, username: str) -> None:
    from playwright.sync_api import expect

    tab.goto("/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", PASSWORD)
    tab.click("button[type=submit]")
    expect(tab.locator(".nav-user")).to_have_text(username)


def next_try_of_live_updates(tab: Any, sockets: list[Any]) -> None:
    """Once the page's live updates are cut off (its socket, opened before a log-out, closed at the next news), their
    next try comes at once, not after its back-off (up to 30 s), and is over when this returns. `sockets` are the
    page's, as Playwright saw them opened; the page has the clock installed."""
    for socket in sockets:
        if not socket.is_closed():
            socket.wait_for_event("close", timeout=10_000)
    tried = len(sockets)
    deadline = time.monotonic() + 20
    while len(sockets) == tried and time.monotonic() < deadline:  # the page sets its next try once told why
        tab.clock.fast_forward(31_000)  # the back-off's most, and its half a second at random
        tab.wait_for_timeout(100)
    assert len(sockets) > tried, "the live updates were not tried again"
    if not sockets[-1].is_closed():
        sockets[-1].wait_for_event("close")


def statuses(tab: Any) -> dict[str, str]:
    return dict(
        tab.locator("#items .item").evaluate_all(
            "rows => rows.map((row) => [row.dataset.filename, row.dataset.status])"
        )
    )


def test_uploads_cut_off_by_a_log_out_in_another_tab_wait_and_go_up_after_logging_in_again(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """8 files dropped, and a log-out in the other tab after 3 went up. Each file still in line had been
    refused, with words about API keys, to be found and added again, and the batch's live updates had stopped for
    good: they wait, saying why, go up once the person has logged in again, and are followed to the end, with the
    photo the person's program added meanwhile."""
    from playwright.sync_api import expect

    photos = small_photos(tmp_path, 8)
    with one_person(browser, embedded_server.url) as person:
        tab_a = person.new_page()
        tab_a.clock.install()  # time flows, and the test may skip ahead to the page's next try
        sockets: list[Any] = []
        tab_a.on("websocket", lambda socket: sockets.append(socket))
        username = log_in_new_user(tab_a, embedded_server)
        tab_b = person.new_page()
        tab_b.goto("/accounts/")
        tab_b.fill("#id_name", "a program of the same person")
        tab_b.click("text=Create key")
        api_key = tab_b.locator("#new-key").inner_text().strip()

        # The batch's creation and two more files go up; the uploads after them are held until the session has
        # ended, so that they meet its end with files still in line.
        sent: list[Any] = []

        def hold_after_the_first(route: Any) -> None:
            sent.append(route)
            if len(sent) <= GONE_UP:
                route.continue_()

        uploads = re.compile(r"/api/v1/batches(/[^/]+/files)?$")
        tab_a.route(uploads, hold_after_the_first)
        drop_files(tab_a, *photos)
        expect(
            tab_a.locator('#items .item[data-status="queued"], #items .item[data-status="done"]').first
        ).to_be_attached()
        log_out(tab_b)
        logged_out_at = time.monotonic()
        for held in sent[GONE_UP:]:
            held.continue_()
        tab_a.unroute(uploads)

        waiting = tab_a.locator("#items .item", has_text="waiting for you to log in")
        expect(waiting.first).to_be_visible()
        # Its upload's bar, named after its photo for a screen reader.
        # That card by its photo: `waiting.first` is looked up again at each use, and another card that starts to
        # wait meanwhile can come before it (the name read from one card, the bar from the next).
        name = waiting.first.get_attribute("data-filename")
        card = tab_a.locator(f'#items .item[data-filename="{name}"]')
        expect(card.locator(".upload-progress")).to_have_attribute("aria-label", f"Upload of {name}")
        expect(tab_a.locator("#notice")).to_have_text("Uploads wait: you are logged out; log in again to go on.")
        # A photo the person's program adds meanwhile: its news ends the page's live updates, logged out too, which
        # try again now and then; the notice stays through those tries.
        tab_a.evaluate(
            """() => {
                const notice = document.getElementById("notice");
                new MutationObserver(() => { if (notice.hidden) window.noticeGone = true; })
                    .observe(notice, { attributes: true, childList: true });
            }"""
        )
        batch_url = f"{embedded_server.url}/api/v1/batches/{tab_a.url.rstrip('/').rsplit('/', 1)[1]}"
        # Past the socket's recheck period, the news is sure to meet its check, which refuses it.
        time.sleep(max(0.0, logged_out_at + CREDENTIALS_RECHECK_SECONDS + 0.1 - time.monotonic()))
        added = requests.post(
            f"{batch_url}/files",
            files={"files": ("by-program.jpg", photos[0].read_bytes())},
            headers={"X-Api-Key": api_key},
            timeout=10,
        )
        assert added.status_code == 201, added.text
        next_try_of_live_updates(tab_a, sockets)
        assert tab_a.evaluate("window.noticeGone") is None
        in_line = statuses(tab_a)
        assert "rejected" not in in_line.values(), in_line
        assert "pending" in in_line.values(), in_line
        expect(tab_a.locator("#overall")).to_contain_text("still uploading")

        # What else the page asks, it is told the same.
        accepted_name = next(name for name, status in in_line.items() if status in ("queued", "processing", "done"))
        accepted = tab_a.locator(f'#items .item[data-filename="{accepted_name}"]')
        tab_a.once("dialog", lambda dialog: dialog.accept())
        accepted.locator(".item-remove").click()
        expect(accepted.locator(".error")).to_have_text(
            "Could not remove it: you are logged out; log in again to go on"
        )

        log_in(tab_b, username)
        # What the page waits before asking again (5 s at most) and its live updates before trying again (backed off
        # to 30 s at most while logged out) are skipped: the tries themselves then come at once.
        tab_a.clock.fast_forward(31_000)
        expect(tab_a.locator('#items .item[data-status="done"]')).to_have_count(
            len(photos) + 1, timeout=PROCESSING_TIMEOUT_MS
        )
        expect(tab_a.locator("#notice")).to_be_hidden()
        batch = tab_b.request.get(batch_url).json()
        assert sorted(item["filename"] for item in batch["items"]) == sorted(
            [*(photo.name for photo in photos), "by-program.jpg"]
        )


def test_a_tab_shown_to_one_user_does_nothing_as_another_who_logged_in_since(
    browser: Any,
    embedded_server: Any,
    tmp_path: Path,
) -> None:
    """Tab A shows user 1's batch, tab H user 1's empty upload page; tab B logs in as user 2. A's remove and H's
    upload had gone out as user 2: the remove found nothing and took the card away as if done, and the upload made
    a batch in user 2's account under user 1's name in the bar. Both are told, nothing of user 2's is touched, and
    H's photo goes up as user 1 once user 1 is back."""
    from playwright.sync_api import expect

    first, second = small_photos(tmp_path, 2)
    with one_person(browser, embedded_server.url) as other:
        other_user = log_in_new_user(other.new_page(), embedded_server)
    with one_person(browser, embedded_server.url) as person:
        tab_a = person.new_page()
        user = log_in_new_user(tab_a, embedded_server)
        drop_files(tab_a, first)
        card = tab_a.locator(f'.item[data-filename="{first.name}"]')
        expect(card).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        tab_h = person.new_page()
        tab_h.goto("/")
        tab_b = person.new_page()
        tab_b.goto("/")
        log_out(tab_b)
        log_in(tab_b, other_user)

        said = "another user has logged in in this browser since this page was opened"
        tab_a.once("dialog", lambda dialog: dialog.accept())
        card.locator(".item-remove").click()
        expect(card.locator(".error")).to_contain_text(f"Could not remove it: {said}")
        drop_files(tab_h, second)
        expect(tab_h.locator("#notice")).to_contain_text(said)
        expect(tab_h.locator(f'.item[data-filename="{second.name}"]')).to_have_attribute("data-status", "pending")
        assert tab_b.request.get("/api/v1/batches").json()["count"] == 0  # user 2's account

        log_out(tab_b)
        log_in(tab_b, user)
        expect(tab_h.locator(f'.item[data-filename="{second.name}"]')).to_have_attribute(
            "data-status", "done", timeout=PROCESSING_TIMEOUT_MS
        )
        batches = tab_b.request.get("/api/v1/batches").json()
        assert batches["count"] == 2, batches  # user 1's: A's (its photo kept) and H's


@contextmanager
def a_flagged_cutout_in_two_tabs(browser: Any, server: Any) -> Iterator[tuple[Any, Any, Any, Any]]:
    """A new user's batch of one flagged cutout (a texture with no subject, flagged even when made with best), open in
    two tabs: tab A, its card, tab B, its card."""
    from playwright.sync_api import expect

    unsure = photo_path("grass.png")
    with one_person(browser, server.url) as person:
        tab_a = person.new_page()
        log_in_new_user(tab_a, server)
        tab_a.set_input_files("#file-input", [unsure])
        card_a = tab_a.locator(f'.item[data-filename="{unsure.name}"]')
        expect(card_a).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        tab_b = person.new_page()
        tab_b.goto(tab_a.url)
        yield tab_a, card_a, tab_b, tab_b.locator(f'.item[data-filename="{unsure.name}"]')


def test_a_could_not_improve_goes_once_the_tab_sees_the_improvement_another_tab_made(
    browser: Any,
    embedded_server: Any,
) -> None:
    """Both tabs of a batch press "Improve flagged with best" at once; A's goes first, so B's is refused (nothing is
    left to improve: it is being made). B then follows the improvement live to its end, yet its "Could not improve"
    stayed under the bar, as if the cutout had not been improved: it goes once B sees the improvement."""
    from playwright.sync_api import expect

    with a_flagged_cutout_in_two_tabs(browser, embedded_server) as (tab_a, _, tab_b, card_b):
        expect(tab_b.locator("#improve-flagged")).to_have_text("Improve flagged with best (1)")

        # B's press is held on its way until A's has been taken: the order two presses at once may have.
        held: list[Any] = []
        answers: list[int] = []
        tab_b.route("**/improve", lambda route: held.append(route))
        tab_b.on("response", lambda response: answers.append(response.status) if "/improve" in response.url else None)
        tab_b.evaluate(
            """() => {
                window.barSaid = [];
                new MutationObserver((records) => records.forEach((record) =>
                    record.addedNodes.forEach((node) => window.barSaid.push(node.textContent))
                )).observe(document.getElementById("triage-error"), { childList: true });
            }"""
        )
        tab_b.click("#improve-flagged")
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # Playwright runs the route's handler while the test waits
            tab_b.wait_for_timeout(50)
        assert len(held) == 1
        with tab_a.expect_response("**/improve") as taken:
            tab_a.click("#improve-flagged")
        assert taken.value.status == 202
        held[0].continue_()

        expect(card_b.locator(".meta")).to_contain_text("best quality", timeout=PROCESSING_TIMEOUT_MS)
        expect(card_b).to_have_attribute("data-status", "done")
        assert answers == [409], answers  # B's own press was refused, and the bar said so
        assert tab_b.evaluate("window.barSaid") == [
            "Could not improve: no finished item of this batch needs review now (1 still being made)"
        ]
        expect(tab_b.locator("#triage-error")).to_be_hidden()


def test_a_could_not_mark_it_fine_goes_once_the_tab_sees_the_item_marked_fine_by_another_tab(
    browser: Any,
    embedded_server: Any,
) -> None:
    """B's "Looks fine" reaches the server while A's improvement has the item queued, and is refused. Once the item
    is done again, A marks it fine: B shows it reviewed, yet its "Could not mark it fine" stayed under the bar, as if
    the cutout still needed a look. It goes once B sees the item reviewed (and not before: nothing had answered it)."""
    from playwright.sync_api import expect

    with a_flagged_cutout_in_two_tabs(browser, embedded_server) as (tab_a, card_a, tab_b, card_b):
        expect(card_b.locator(".looks-fine")).to_be_visible()

        # B's press is held on its way until A's improvement has queued the item.
        held: list[Any] = []
        tab_b.route("**/review", lambda route: held.append(route))
        card_b.locator(".looks-fine").click()
        tab_b.wait_for_function("() => true")  # lets the route's handler see the request
        assert len(held) == 1
        with tab_a.expect_response("**/improve") as taken:
            tab_a.click("#improve-flagged")
        assert taken.value.status == 202
        with tab_b.expect_response("**/review") as refused:
            held[0].continue_()
        assert refused.value.status == 409, refused.value.text()
        error = tab_b.locator("#triage-error")
        expect(error).to_have_text(re.compile(r"^Could not mark it fine: this item is \w+; only a finished cutout"))

        expect(card_b.locator(".meta")).to_contain_text("best quality", timeout=PROCESSING_TIMEOUT_MS)
        expect(card_b).to_have_attribute("data-status", "done")
        expect(card_b.locator(".looks-fine")).to_be_visible()  # still flagged: the refusal still stands
        expect(error).to_be_visible()

        with tab_a.expect_response("**/review") as marked:
            card_a.locator(".looks-fine").click()
        assert marked.value.status == 200
        expect(card_b.locator(".looks-fine")).to_be_hidden()
        expect(error).to_be_hidden()
