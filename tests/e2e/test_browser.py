"""The web UI in a real browser (Debian's Chromium through Playwright) against a live server."""

import io
import itertools
import re
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.conftest import heic_bytes, photo_bytes, photo_path
from tests.e2e.conftest import wait_for_sample_cutout

pytestmark = [pytest.mark.browser, pytest.mark.live]

PROCESSING_TIMEOUT_MS = 120_000


@contextmanager
def browsing(browser: Any, base_url: str, **context_options: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies; `context_options`: Playwright's, a phone's screen and
    touch); fails on uncaught JavaScript errors."""
    context = browser.new_context(base_url=base_url, accept_downloads=True, **context_options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert page_errors == [], f"JavaScript errors on the page: {page_errors}"


@contextmanager
def signed_in(browser: Any, server: Any) -> Iterator[Any]:
    """browsing `server`, logged in as a fresh user (log_in_new_user)."""
    with browsing(browser, server.url) as page:
        log_in_new_user(page, server)
        yield page


@pytest.fixture
def page(browser: Any, embedded_server: Any) -> Iterator[Any]:
    with browsing(browser, embedded_server.url) as page:
        yield page


def drop_files(page: Any, *paths: Path) -> None:
    """Drop files on the drop zone together, as dragging them from the desktop does, once the
    page's script has run (a module: before the load event); a drop before it would be lost."""
    page.wait_for_load_state()
    page.evaluate(
        """(files) => {
            const data = new DataTransfer();
            for (const [name, hex] of files) {
                const bytes = new Uint8Array((hex.match(/../g) ?? []).map((pair) => parseInt(pair, 16)));
                data.items.add(new File([bytes], name, { type: "image/jpeg" }));
            }
            const drop = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
            document.getElementById("dropzone").dispatchEvent(drop);
        }""",
        [[path.name, path.read_bytes().hex()] for path in paths],
    )


def small_photos(folder: Path, count: int) -> list[Path]:
    """`count` small photos in `folder`, photo-0.jpg on, each of its own size (so of its own bytes)."""
    photos = [folder / f"photo-{number}.jpg" for number in range(count)]
    for number, photo in enumerate(photos):
        photo.write_bytes(photo_bytes("coffee.png", size=(64 + number, 48)))
    return photos


def downloaded_zip(page: Any) -> zipfile.ZipFile:
    """Click "Download all" and open the zip it downloads."""
    with page.expect_download() as download_info:
        page.click("#download-zip")
    return zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))


def shown(page: Any, image: Any, source: str) -> tuple[int, int, str]:
    """Once the browser shows `image` from an address matching `source`: its natural width and height, and its
    address."""
    from playwright.sync_api import expect

    image.scroll_into_view_if_needed()
    expect(image).to_have_attribute("src", re.compile(source))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    width, height, src = image.evaluate("img => [img.naturalWidth, img.naturalHeight, img.src]")
    return width, height, src


def expect_done_with_cutouts_shown(page: Any, photos: list[Path]) -> None:
    """Each photo's row finishes, and the browser displays its cutout and its photo as thumbnails."""
    from playwright.sync_api import expect

    for photo in photos:
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        # A photo dropped here shows from the browser's own copy; after a reload, from its thumbnail.
        for image, source in (
            (".after img", r"/result/thumbnail\?r="),
            (".before img", r"^blob:|/original/thumbnail$"),
        ):
            width, height, src = shown(page, row.locator(image), source)
            assert 0 < max(width, height) <= (320 if src.startswith("blob:") else 256)


def submit_sign_up_form(page: Any, prefix: str = "e2e") -> str:
    """Fill in and send the sign-up form, in whatever language it is shown: the fields are
    found by their ids, not their labels. Returns the username."""
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_password1", "correct horse battery")
    page.fill("#id_password2", "correct horse battery")
    page.click("button[type=submit]")
    return username


def sign_up(page: Any) -> str:
    """Sign up a fresh user through the sign-up page; returns the username."""
    from playwright.sync_api import expect

    username = submit_sign_up_form(page)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".messages")).to_contain_text(f"Welcome, {username}")
    return username


def log_in_new_user(page: Any, server: Any) -> str:
    """Log `page`'s browser context in to `server` as a fresh user, made and logged in by the server's shell
    (LiveServer.new_user_session), and open the home page, where sign_up ends; returns the username. For the tests
    about something else than signing up: the sign-up page has the server hash the password (half a second of CPU)."""
    username = f"e2e-{uuid.uuid4().hex[:8]}"
    session_key = server.new_user_session(username, user_agent=page.evaluate("navigator.userAgent"))
    cookie = {"name": "sessionid", "value": session_key, "url": server.url, "httpOnly": True, "sameSite": "Lax"}
    page.context.add_cookies([cookie])
    page.goto("/")
    return username


def seeded_batch(server: Any, username: str, statuses: list[str]) -> str:
    """A batch of `username`'s with an item per status, photo-0000.jpg on in that order, as processing leaves them:
    "done" (95% confident), "flagged" (done, 5% confident: it needs a look) or "failed". Made by the server's shell,
    with no files behind them (their cards show no pictures): a batch of hundreds of photos, none processed. Its id."""
    return server.shell(
        "from django.contrib.auth.models import User\n"
        "from django.utils import timezone\n"
        "from removal.models import Batch, Item\n"
        "now = timezone.now()\n"
        f"batch = Batch.objects.create(owner=User.objects.get(username={username!r}))\n"
        "Item.objects.bulk_create(\n"
        "    Item(batch=batch, filename=f'photo-{position:04}.jpg', position=position, source='seeded', width=64,\n"
        "         height=48, source_bytes=1000 + position, queued_at=now, finished_at=now,\n"
        "         status='failed' if status == 'failed' else 'done', error='seeded' if status == 'failed' else '',\n"
        "         confidence={'done': 0.95, 'flagged': 0.05}.get(status))\n"
        f"    for position, status in enumerate({statuses!r})\n"
        ")\n"
        "result = batch.id\n"
    )


def test_a_signed_out_visitor_sees_what_bgsite_does_and_the_way_in(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.locator("h1")).to_have_text("Remove the background from your photos")
    wait_for_sample_cutout(page)
    page.click("#landing-login")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.locator("h1")).to_have_text("Log in")


def test_the_first_screen_shows_the_sample_cutout_once_a_worker_process_has_made_it(
    browser: Any, server_factory: Any
) -> None:
    """A web process of the scaled layout has no worker threads: until a worker has made the sample, the page shows
    the photo faded with a note, and its script asks for the cutout again (the 503's Retry-After) until it comes."""
    from playwright.sync_api import expect

    web = server_factory(EMBEDDED_WORKERS="0", sample_made=False)
    web.start()
    with browsing(browser, web.url) as page:
        page.goto("/")
        expect(page.locator("#sample-cutout")).to_have_class("sample-waiting")
        expect(page.locator("#sample-caption")).to_have_text("After: this server is cutting it out, reload in a moment")
        # A worker's passes, until the job the script queued by asking for the cutout has run.
        web.shell(
            "import time\nfrom removal.ops.worker import run_ready_jobs\ndeadline = time.monotonic() + 20\n"
            "while not run_ready_jobs() and time.monotonic() < deadline:\n    time.sleep(0.1)\nresult = 1"
        )
        wait_for_sample_cutout(page, timeout_ms=20_000)
        expect(page.locator("#sample-caption")).to_have_text("After: cut out by this server")
        alt = "The same photo cut out by this server: only the astronaut is left"
        expect(page.locator("#sample-cutout")).to_have_attribute("alt", alt)


def test_upload_photos_follow_progress_download_the_zip_remove_one_delete_all(page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    sign_up(page)
    photos = []
    for name in ("astronaut", "chelsea", "coffee"):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(photo_bytes(f"{name}.png", size=(640, 480)))
        photos.append(path)
    # First in line, so the batch is created by the second file after this one is refused.
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("shopping list: milk, eggs")

    expect(page.locator(".dropzone-title")).to_have_text("Drop photos or folders here")  # with a mouse, yes
    page.set_input_files("#file-input", [not_an_image, *photos])

    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    # As the batch's page, reloaded, is titled and headed (its progress before the name while it runs).
    expect(page).to_have_title(re.compile(r"^(\d+/4 )?Batch · bgsite$"))
    batch_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("h1")).to_have_text(f"Batch {batch_id[:8]}…")
    expect(page.locator('.nav a[aria-current="page"]')).to_have_count(0)
    expect(page.locator(".messages")).to_have_count(0)  # the sign-up's welcome was said once, to the page it was
    refused = page.locator('.item[data-filename="notes.jpg"]')
    expect(refused).to_have_attribute("data-status", "rejected")
    expect(refused.locator(".error")).to_be_visible()
    expect(refused.locator(".error")).to_contain_text("not an image we can read")
    for photo in photos:
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        expect(row).to_have_attribute("data-item-id", re.compile(r"^[0-9a-f-]{36}$"))
        expect(row.locator(".error")).to_be_hidden()
        cutout = row.locator(".after img")
        cutout.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=cutout.element_handle())
    expect(page.locator("#overall")).to_have_text("3 of 4 done, 1 failed")
    expect(page.locator(".item")).to_have_count(4)

    archive = downloaded_zip(page)
    assert archive.namelist()[-1] == "manifest.json"
    assert sorted(archive.namelist()[:-1]) == ["astronaut.png", "chelsea.png", "coffee.png"]
    for member in archive.namelist()[:-1]:
        with Image.open(io.BytesIO(archive.read(member))) as cutout:
            assert cutout.format == "PNG" and cutout.mode == "RGBA" and cutout.size == (640, 480)
            alpha = np.asarray(cutout)[:, :, 3]
        assert (alpha == 0).any() and (alpha == 255).any(), f"{member} is not a cutout"

    # The address is the batch's page: a reload shows the same batch from the server.
    batch_url = page.url
    page.reload()
    for photo in photos:
        expect(page.locator(f'.item[data-filename="{photo.name}"]')).to_have_attribute("data-status", "done")
    expect(page.locator(".item")).to_have_count(3)  # the refused file never joined the batch
    expect(page.locator("#overall")).to_have_text("3 of 3 done, 0 failed")

    page.click("nav >> text=Batches")
    batch_id = batch_url.rstrip("/").rsplit("/", 1)[1]
    listed = page.locator(f'tr[data-batch-id="{batch_id}"]')
    expect(listed).to_contain_text("done")
    expect(listed.locator("a", has_text="Zip")).to_have_attribute("href", f"/api/v1/batches/{batch_id}/zip")

    # One photo removed from the batch, from the keyboard: its card goes, and so does its place in the zip; the
    # keyboard stays among the cards, on the next one, rather than falling back to the top of the page.
    page.goto(batch_url)
    chelsea = page.locator('.item[data-filename="chelsea.jpg"]')
    page.once("dialog", lambda dialog: dialog.accept())
    chelsea.locator(".item-remove").focus()
    page.keyboard.press("Enter")
    expect(chelsea).to_have_count(0)
    expect(page.locator('.item[data-filename="coffee.jpg"] .compare-open')).to_be_focused()
    expect(page.locator("#overall")).to_have_text("2 of 2 done, 0 failed")
    assert sorted(downloaded_zip(page).namelist()) == ["astronaut.png", "coffee.png", "manifest.json"]

    # The batch deleted from its page, once the question is answered yes: the list says so and no longer has it.
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("#delete-batch")
    expect(page.locator("#delete-batch")).to_be_enabled()
    assert questions and "2 images" in questions[0] and page.url == batch_url
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-batch")
    expect(page).to_have_url(re.compile(r"/batches/\?deleted=1$"))
    expect(page.locator("#deleted-notice")).to_be_visible()
    expect(page.locator(f'tr[data-batch-id="{batch_id}"]')).to_have_count(0)
    assert page.request.get(f"/api/v1/batches/{batch_id}/zip").status == 404


# Counts the object URLs the page makes and lets go of (URL.createObjectURL, URL.revokeObjectURL).
COUNT_OBJECT_URLS = """
window.objectUrls = { made: 0, revoked: 0 };
const make = URL.createObjectURL, revoke = URL.revokeObjectURL;
URL.createObjectURL = (object) => { window.objectUrls.made += 1; return make.call(URL, object); };
URL.revokeObjectURL = (url) => { window.objectUrls.revoked += 1; return revoke.call(URL, url); };
"""


def test_a_done_card_shows_the_photo_thumbnail_and_lets_the_dropped_photo_go(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """Hundreds of dropped 12 MP photos do not stay in the page's memory: once a cutout is done, its card shows the
    server's thumbnail of the photo and the browser's copy of the file is let go (its object URL revoked)."""
    from playwright.sync_api import expect

    page.add_init_script(COUNT_OBJECT_URLS)
    log_in_new_user(page, embedded_server)
    photos = []
    for name in ("chelsea", "coffee"):
        photos.append(tmp_path / f"{name}.jpg")
        photos[-1].write_bytes(photo_bytes(f"{name}.png", size=(1200, 900)))
    page.set_input_files("#file-input", photos)
    for photo in photos:
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        width, height, _ = shown(page, row.locator(".before img"), r"/original/thumbnail$")
        assert max(width, height) <= 256
    assert page.evaluate("window.objectUrls") == {"made": 2, "revoked": 2}


def test_files_dropped_later_join_the_same_batch_deleted_from_the_list(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    first, second = tmp_path / "rocket.jpg", tmp_path / "astronaut-small.jpg"
    first.write_bytes(photo_bytes("rocket.jpg", size=(320, 240)))
    second.write_bytes(photo_bytes("astronaut.png", size=(320, 240)))
    too_big = tmp_path / "huge.jpg"
    too_big.write_bytes(b"\xff" * 25_100_000)  # over the default limit: refused without uploading

    page.set_input_files("#file-input", [first])
    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    batch_url = page.url
    page.set_input_files("#file-input", [too_big])
    drop_files(page, second)

    refused = page.locator('.item[data-filename="huge.jpg"]')
    expect(refused).to_have_attribute("data-status", "rejected")
    expect(refused.locator(".error")).to_have_text("the file is 25.1 MB; the limit is 25 MB per file")
    expect(refused.locator(".before")).to_have_class(re.compile(r"\bno-preview\b"))  # a placeholder, no broken image

    for photo in (first, second):
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    assert page.url == batch_url
    expect(page.locator(".item")).to_have_count(3)
    expect(page.locator("#overall")).to_have_text("2 of 3 done, 1 failed")
    expect(page.locator("#download-zip")).to_have_attribute("href", re.compile(r"/zip$"))
    expect(page.locator("#download-zip")).to_have_text("Download all (zip)")  # nothing left on its way
    # Every card's "Remove" is described by its own photo's name, for a screen reader.
    described_by = refused.locator(".item-remove").get_attribute("aria-describedby")
    expect(page.locator(f"#{described_by}")).to_have_text("huge.jpg")
    expect(refused.locator(".upload-progress")).to_have_count(0)  # refused unsent: no upload to show
    # A refused card can be cleared away: nothing of it is stored, so it goes at once, unasked.
    asked: list[str] = []

    def ask(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", ask)
    refused.locator(".item-remove").click()
    expect(refused).to_have_count(0)
    expect(page.locator(".item")).to_have_count(2)
    expect(page.locator("#overall")).to_have_text("2 of 2 done, 0 failed")
    expect(page.locator(".item .item-links button:focus, .item .item-links a:focus")).to_have_count(1)
    page.remove_listener("dialog", ask)
    assert asked == []

    # Deleted from the list of batches: its row goes.
    batch_id = batch_url.rstrip("/").rsplit("/", 1)[1]
    page.goto("/batches/")
    row = page.locator(f'tr[data-batch-id="{batch_id}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.batch-delete").click()
    expect(row).to_have_count(0)
    assert page.request.get(f"/api/v1/batches/{batch_id}").status == 404


def holiday_folder(root: Path) -> Path:
    """A phone's export: photos (one in a subfolder) beside what is not a photo."""
    folder = root / "holiday"
    (folder / "day 2").mkdir(parents=True)
    for path, name in (("IMG_10.jpg", "coffee.png"), ("IMG_9.jpg", "chelsea.png"), ("day 2/IMG_1.jpg", "rocket.jpg")):
        (folder / path).write_bytes(photo_bytes(name, size=(160, 120)))
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "IMG_9.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + bytes(64))
    (folder / "notes.txt").write_text("the beach on day 2")
    return folder


def drop_folder(page: Any, folder: Path) -> None:
    """Drag a folder from the desktop onto the drop zone: Chromium's own drag and drop (DevTools' Input domain),
    which gives the page the folder's entries as the desktop does.

    A drop is done once the page has seen it. Chromium takes a drop only once it has the page's answer to the
    last dragover (a drop before it is turned into a dragleave), and on a loaded machine CI saw drops that came
    to nothing (once none, once one the page never saw in 5 s): the page's drag events are logged, and a drag
    whose drop the page has not seen is dragged again (nothing was dropped before)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    session = page.context.new_cdp_session(page)
    box = page.locator("#dropzone").bounding_box()
    at = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(folder)], "dragOperationsMask": 1}
    page.evaluate(
        """() => { window.dragEvents = [];
            for (const kind of ["dragenter", "dragover", "dragleave", "drop"])
                document.addEventListener(kind, () => window.dragEvents.push(kind), true); }"""
    )
    seen = "() => window.dragEvents.join(' ')"
    for _ in range(3):
        for kind in ("dragEnter", "dragOver"):
            session.send("Input.dispatchDragEvent", {"type": kind, **at, "data": data})
        page.wait_for_function("() => window.dragEvents.at(-1) === 'dragover'", timeout=10_000)
        session.send("Input.dispatchDragEvent", {"type": "drop", **at, "data": data})
        try:
            page.wait_for_function("() => ['drop', 'dragleave'].includes(window.dragEvents.at(-1))", timeout=10_000)
        except PlaywrightTimeoutError:
            continue
        if page.evaluate("() => window.dragEvents.at(-1)") == "drop":
            return
    raise AssertionError(f"the page never saw the folder dropped; its drag events: {page.evaluate(seen)}")


@pytest.mark.parametrize("way", ["chosen", "dropped"])
def test_a_folder_brings_its_photos_in_name_order_and_says_what_it_left_out(
    page: Any, embedded_server: Any, tmp_path: Path, way: str
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    folder = holiday_folder(tmp_path)
    if way == "chosen":
        # Chosen before the page's script has run (a slow link): the script takes it when it starts.
        held: list[Any] = []
        page.route("**/static/js/upload.js", lambda route: held.append(route))
        page.goto("/", wait_until="commit")
        page.set_input_files("#folder-input", folder)
        page.wait_for_function("() => true")  # lets the route's handler see the script's request
        assert len(held) == 1
        held[0].continue_()
    else:
        page.wait_for_load_state()  # the page's script takes drops once it has run (a module: before the load event)
        drop_folder(page, folder)

    left_out = "3 files of the folder were left out: hidden, or not images by their names."
    expect(page.locator("#left-out")).to_have_text(left_out)
    rows = page.locator(".item")
    expect(rows).to_have_count(3)
    names = rows.evaluate_all("rows => rows.map((row) => row.dataset.filename)")
    assert names == ["IMG_1.jpg", "IMG_9.jpg", "IMG_10.jpg"]
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    expect(page.locator("#left-out")).to_have_text(left_out)  # still said, the batch's live updates running
    expect(page.locator("#batch-heading")).to_have_text("holiday")  # a batch made of one folder is named after it
    expect(page).to_have_title("holiday · bgsite")


def test_a_folder_named_past_the_fields_length_in_utf16_units_names_its_batch_whole(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """61 characters, 121 UTF-16 units: cut to the field's 100 units, the last emoji's half was kept as "\ufffd"."""
    from playwright.sync_api import expect

    name = "a" + "\N{GRINNING FACE}" * 60
    folder = tmp_path / name
    folder.mkdir()
    (folder / "IMG_1.jpg").write_bytes(photo_bytes("coffee.png", size=(160, 120)))
    log_in_new_user(page, embedded_server)
    page.wait_for_load_state()
    page.set_input_files("#folder-input", folder)
    expect(page.locator("#batch-heading")).to_have_text(name)
    expect(page.locator(".item")).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    page.reload()  # the name as the server keeps it
    expect(page.locator("#batch-heading")).to_have_text(name)


def test_the_tabs_title_tells_a_batch_finished_while_it_was_in_the_background(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    page.wait_for_load_state()
    set_hidden = "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true}); }"
    page.evaluate(set_hidden, True)  # the user went to another tab
    page.set_input_files("#file-input", small_photos(tmp_path, 2))
    expect(page.locator(".item[data-status=done]")).to_have_count(2, timeout=PROCESSING_TIMEOUT_MS)
    expect(page).to_have_title("✓ Batch · bgsite")
    page.evaluate(set_hidden, False)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # and came back
    expect(page).to_have_title("Batch · bgsite")


def test_a_batch_is_renamed_on_its_page_and_listed_under_its_name(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    page.set_input_files("#file-input", small_photos(tmp_path, 1))
    expect(page.locator("#batch-heading")).to_contain_text("Batch")
    page.click("#rename-batch")
    expect(page.locator("#rename-input")).to_be_focused()
    page.keyboard.type("Cats")
    page.keyboard.press("Escape")  # cancelled: nothing sent, the focus back on the button
    expect(page.locator("#rename-form")).to_be_hidden()
    expect(page.locator("#rename-batch")).to_be_focused()
    expect(page.locator("#batch-heading")).to_contain_text("Batch")
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    expect(other_tab.locator("#batch-heading")).to_contain_text("Batch")
    page.click("#rename-batch")
    page.fill("#rename-input", "Spring catalogue, shoes")
    page.keyboard.press("Enter")
    expect(page.locator("#batch-heading")).to_have_text("Spring catalogue, shoes")
    expect(page).to_have_title("Spring catalogue, shoes · bgsite")
    expect(page.locator("#rename-batch")).to_be_focused()
    expect(other_tab.locator("#batch-heading")).to_have_text("Spring catalogue, shoes")  # told by the websocket
    other_tab.close()
    page.reload()
    expect(page.locator("#batch-heading")).to_have_text("Spring catalogue, shoes")
    page.goto("/batches/")
    expect(page.locator("#batches tbody tr").first.locator("a").first).to_have_text("Spring catalogue, shoes")


def test_a_name_is_typed_up_to_the_servers_length_in_characters_not_utf16_units(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """The field's maxlength (100) counted UTF-16 units: a name of 60 emoji, which the server takes, stopped at 50.
    Past 100 characters, what is typed or pasted is left out, as maxlength leaves it out, the caret after it."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    page.set_input_files("#file-input", small_photos(tmp_path, 1))
    expect(page.locator("#batch-heading")).to_contain_text("Batch")
    page.click("#rename-batch")
    emoji = "\N{GRINNING FACE}" * 60
    page.keyboard.insert_text(emoji)
    expect(page.locator("#rename-input")).to_have_value(emoji)
    page.keyboard.press("Enter")
    expect(page.locator("#batch-heading")).to_have_text(emoji)
    page.reload()  # the name as the server keeps it
    expect(page.locator("#batch-heading")).to_have_text(emoji)

    page.click("#rename-batch")
    name = page.locator("#rename-input")
    name.fill("")
    page.keyboard.insert_text("\N{CAT FACE}" * 98)
    page.keyboard.press("Home")
    page.keyboard.insert_text("\N{DOG FACE}\N{DOG FACE}xyz")  # pasted at the start: its last three left out
    expect(name).to_have_value("\N{DOG FACE}\N{DOG FACE}" + "\N{CAT FACE}" * 98)
    assert name.evaluate("field => field.selectionStart") == len("\N{DOG FACE}\N{DOG FACE}".encode("utf-16-le")) // 2
    page.keyboard.press("End")
    page.keyboard.type("z")  # typed at the end of a full field: left out
    expect(name).to_have_value("\N{DOG FACE}\N{DOG FACE}" + "\N{CAT FACE}" * 98)


def test_an_empty_folder_dropped_says_so(page: Any, embedded_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    (tmp_path / "empty").mkdir()
    page.wait_for_load_state()
    drop_folder(page, tmp_path / "empty")
    expect(page.locator("#left-out")).to_have_text("The folder holds no files.")
    expect(page.locator(".item")).to_have_count(0)


def test_after_a_reload_the_cards_keep_the_order_the_photos_were_chosen_in(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """The page uploads two files at a time, so a small photo after a large one arrives first: each upload says its
    place (`file_position`), and the batch keeps the chosen order."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    sizes = {"1-first.jpg": (160, 120), "2-large.jpg": (4000, 3000), "3-small.jpg": (160, 120), "4-small.jpg": (96, 72)}
    photos = []
    for name, size in sizes.items():
        photos.append(tmp_path / name)
        photos[-1].write_bytes(photo_bytes("coffee.png", size=size))
    page.set_input_files("#file-input", photos)
    rows = page.locator(".item")
    for photo in photos:
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)

    page.reload()
    expect(rows).to_have_count(4)
    assert rows.evaluate_all("rows => rows.map((row) => row.dataset.filename)") == list(sizes)


def test_cards_out_of_view_are_left_unrendered_until_scrolled_to(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """Cards the screen does not show skip their layout and style (content-visibility): a batch of 1,000 cards opened,
    after the script made its cards, with a long task of 0.5-0.9 s laying out and styling every card, and each re-sort
    by confidence blocked the page for 0.76-1.04 s; now 0.06-0.17 s and 0.1-0.17 s. Empty files make cards (refused
    here) with no server work."""
    log_in_new_user(page, embedded_server)
    page.set_viewport_size({"width": 800, "height": 500})
    empties = []
    for number in range(30):
        empties.append(tmp_path / f"empty-{number}.jpg")
        empties[-1].write_bytes(b"")
    page.set_input_files("#file-input", empties)
    cards = page.locator(".item")
    first, last = cards.first, cards.last
    last.wait_for(state="attached")
    page.evaluate("window.scrollTo(0, 0)")
    rendered = "card => card.querySelector('.filename').checkVisibility({ contentVisibilityAuto: true })"
    page.wait_for_function(f"() => ({rendered})(document.querySelector('.item'))")
    assert last.evaluate(rendered) is False
    last.scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({rendered})([...document.querySelectorAll('.item')].at(-1))")
    assert first.evaluate(rendered) is False


def test_photos_added_again_after_a_reload_are_left_out_and_only_the_missing_ones_go_up(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """A reload (or a closed tab) cut a batch's uploads short: its page shows those that went up, and the whole
    folder chosen again brings only the missing ones, not a second copy of each (a second card, a second cutout in
    the zip). A file of the same name but other bytes is another photo, and goes up."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    photos = {}
    for name in ("chelsea", "coffee", "astronaut"):
        photos[name] = tmp_path / f"{name}.jpg"
        photos[name].write_bytes(photo_bytes(f"{name}.png", size=(320, 240)))
    (tmp_path / "other").mkdir()
    same_name = tmp_path / "other" / "coffee.jpg"
    same_name.write_bytes(photo_bytes("coffee.png", size=(330, 240)))
    cut_short = tmp_path / "cut.jpg"  # accepted from its header, failed by its worker: tried again when added again
    cut_short.write_bytes(photo_bytes("chelsea.png", size=(640, 480))[:5000])
    page.set_input_files("#file-input", [photos["chelsea"], photos["coffee"], cut_short])
    for name, status in (("chelsea.jpg", "done"), ("coffee.jpg", "done"), ("cut.jpg", "failed")):
        expect(page.locator(f'.item[data-filename="{name}"]')).to_have_attribute("data-status", status)

    page.reload()
    expect(page.locator(".item")).to_have_count(3)
    expect(page.locator('.item[data-filename="coffee.jpg"]')).to_have_attribute("data-status", "done")
    page.set_input_files("#file-input", [*photos.values(), same_name, cut_short])
    expect(page.locator("#left-out")).to_have_text("2 files are in this batch already: left out.")
    expect(page.locator(".item")).to_have_count(6)
    expect(page.locator(".item[data-status=done]")).to_have_count(4, timeout=PROCESSING_TIMEOUT_MS)
    expect(page.locator(".item[data-status=failed]")).to_have_count(2)
    names = page.locator(".item .filename").all_text_contents()
    assert names == ["chelsea.jpg", "coffee.jpg", "cut.jpg", "astronaut.jpg", "coffee.jpg", "cut.jpg"]


@pytest.mark.parametrize("lost", ["creation", "addition"])
def test_an_upload_whose_reply_is_lost_is_sent_again_without_a_second_copy(
    page: Any, embedded_server: Any, tmp_path: Path, lost: str
) -> None:
    """The page sends a file again when its request got no answer; when the server had saved it and only the reply
    was lost (a connection cut, a proxy's timeout), the batch had it twice (two cards, cutouts and credits), or a
    lost creation left a batch of one photo behind and made another."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    photos = small_photos(tmp_path, 2)  # the first creates the batch; the second is the one request to /files
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    sent: list[int] = []

    def lose_the_first_reply(route: Any) -> None:
        if sent:
            route.continue_()
            return
        # The request as the page sends it (Playwright cannot replay a file's body), whose answer never comes.
        photo = photos[0 if lost == "creation" else 1]
        headers = {"X-CSRFToken": cookies["csrftoken"], "Accept": "application/json"}
        if lost == "creation":
            headers["Idempotency-Key"] = route.request.headers["idempotency-key"]
        saved = requests.post(
            route.request.url,
            files={"files": (photo.name, photo.read_bytes())},
            data={"file_position": str(photos.index(photo))},
            cookies=cookies,
            headers=headers,
            timeout=30,
        )
        sent.append(saved.status_code)
        route.abort("connectionreset")

    page.route("**/api/v1/batches" + ("" if lost == "creation" else "/*/files"), lose_the_first_reply)
    page.set_input_files("#file-input", photos)
    expect(page.locator(".item[data-status=done]")).to_have_count(2, timeout=PROCESSING_TIMEOUT_MS)
    assert sent == [201]
    page.reload()
    expect(page.locator(".item[data-status=done]")).to_have_count(2)
    page.wait_for_timeout(500)  # a second copy would be listed with them
    assert page.locator(".item .filename").all_text_contents() == [photo.name for photo in photos]
    page.goto(page.url.rsplit("/batches/", 1)[0] + "/batches/")
    expect(page.locator("#batches tr[data-batch-id]")).to_have_count(1)


def test_settings_chosen_before_upload_apply_to_the_batch_and_a_rerun_uses_new_ones(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    photos = []
    for name in ("astronaut", "chelsea"):
        photos.append(tmp_path / f"{name}.jpg")
        photos[-1].write_bytes(photo_bytes(f"{name}.png", size=(320, 240)))
    expect(page.locator("#opt-model")).to_have_value("u2netp-int8")  # the server's default, from /api/v1/models
    expect(page.locator("#opt-measured")).to_contain_text("real photos: IoU")  # make quality's figures
    fast_figures = page.locator("#opt-measured").inner_text()
    page.select_option("#opt-quality", "best")
    expect(page.locator("#opt-measured")).not_to_have_text(fast_figures)
    page.select_option("#opt-format", "webp")
    page.uncheck("#opt-transparent")
    page.fill("#opt-bg-color", "#3366cc")
    page.check("#opt-crop")
    page.fill("#opt-crop-margin", "10px")

    drop_files(page, *photos)

    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    first_batch_url = page.url
    expect(page.locator("#opt-format")).to_be_disabled()  # the batch's settings, no longer editable
    expect_done_with_cutouts_shown(page, photos)  # webp results display
    expect(page.locator(".item-download").first).to_have_text("Download WEBP")
    archive = downloaded_zip(page)
    assert archive.namelist()[-1] == "manifest.json"
    assert sorted(archive.namelist()[:-1]) == ["astronaut.webp", "chelsea.webp"]
    for member in archive.namelist()[:-1]:
        with Image.open(io.BytesIO(archive.read(member))) as cutout:
            assert cutout.format == "WEBP"
            corner = cutout.convert("RGB").getpixel((0, 0))  # in the crop margin: the chosen colour
        assert all(abs(got - want) <= 8 for got, want in zip(corner, (0x33, 0x66, 0xCC), strict=True)), corner

    # A reload shows the batch's own settings, from the server, and the photos from their thumbnails.
    page.reload()
    for before in page.locator(".item .before img").all():
        expect(before).to_have_attribute("src", re.compile(r"/original/thumbnail$"))
    expect(page.locator("#opt-format")).to_have_value("webp")
    expect(page.locator("#opt-quality")).to_have_value("best")
    expect(page.locator("#opt-bg-color")).to_have_value("#3366cc")
    expect(page.locator("#opt-crop")).to_be_checked()
    expect(page.locator("#opt-crop-margin")).to_have_value("10px")
    expect(page.locator("#opt-format")).to_be_disabled()

    # With the batch's own settings a re-run would only copy the batch: it waits for a setting to differ, saying so.
    expect(page.locator("#rerun")).to_be_visible()
    expect(page.locator("#rerun")).to_be_disabled()
    expect(page.locator("#rerun-hint")).to_be_visible()
    page.click("#options-edit")
    expect(page.locator("#rerun")).to_be_disabled()
    page.fill("#opt-crop-margin", "12px")  # typed: the button follows each value
    expect(page.locator("#rerun")).to_be_enabled()
    expect(page.locator("#rerun-hint")).to_be_hidden()
    page.fill("#opt-crop-margin", "10px")  # back to the batch's: a copy again
    expect(page.locator("#rerun")).to_be_disabled()
    page.locator("#opt-crop-margin").press("Enter")  # Enter submits the form: no copy made either
    page.wait_for_timeout(300)
    expect(page).to_have_url(first_batch_url)
    page.select_option("#opt-format", "png")
    page.check("#opt-transparent")
    page.click("#rerun")

    expect(page).not_to_have_url(first_batch_url)
    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    second_batch_url = page.url
    expect_done_with_cutouts_shown(page, photos)
    expect(page.locator("#opt-format")).to_have_value("png")
    expect(page.locator(".badge.reused")).to_have_count(0)  # new settings: processed afresh
    archive = downloaded_zip(page)
    assert archive.namelist()[-1] == "manifest.json"
    assert sorted(archive.namelist()[:-1]) == ["astronaut.png", "chelsea.png"]
    for member in archive.namelist()[:-1]:
        with Image.open(io.BytesIO(archive.read(member))) as cutout:
            assert cutout.format == "PNG" and cutout.mode == "RGBA"

    seconds = re.compile(r"\d s( |$)")
    expect(page.locator(".item .meta").first).to_contain_text(seconds)  # processed afresh: its time

    # The first batch's settings again: its results are reused, and say so, with no time of their own ("0.0 s").
    expect(page.locator("#rerun")).to_be_disabled()
    page.click("#options-edit")
    page.select_option("#opt-format", "webp")
    page.uncheck("#opt-transparent")
    page.fill("#opt-bg-color", "#3366cc")
    page.click("#rerun")
    expect(page).not_to_have_url(second_batch_url)
    expect(page.locator("#opt-format")).to_have_value("webp")
    expect_done_with_cutouts_shown(page, photos)
    for photo in photos:
        expect(page.locator(f'.item[data-filename="{photo.name}"] .badge.reused')).to_be_visible()
        expect(page.locator(f'.item[data-filename="{photo.name}"] .meta')).not_to_contain_text(seconds)


def test_a_batch_with_settings_the_panel_cannot_hold_may_be_rerun_without_them(page: Any, embedded_server: Any) -> None:
    """A re-run from the page leaves out what only the API sets (alpha matting): with the panel's values unchanged it
    still makes something new, so the re-run button is on for it, beside the note saying what is left out."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    made = requests.post(
        f"{embedded_server.url}/api/v1/batches",
        files={"files": ("chelsea.jpg", photo_bytes("chelsea.png", size=(320, 240)))},
        data={"alpha_matting": "true"},
        cookies=cookies,
        headers={"X-CSRFToken": cookies["csrftoken"], "Accept": "application/json"},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    page.goto(f"/batches/{made.json()['id']}/")
    expect(page.locator(".item[data-status=done]")).to_have_count(1, timeout=PROCESSING_TIMEOUT_MS)
    expect(page.locator("#options-extra")).to_contain_text("alpha matting")
    expect(page.locator("#rerun")).to_be_enabled()
    expect(page.locator("#rerun-hint")).to_be_hidden()

    page.click("#rerun")
    expect(page).not_to_have_url(re.compile(made.json()["id"]))
    expect(page.locator(".item[data-status=done]")).to_have_count(1, timeout=PROCESSING_TIMEOUT_MS)
    rerun_id = re.search(r"/batches/([0-9a-f-]{36})/", page.url)[1]  # type: ignore[index]
    assert not page.request.get(f"/api/v1/batches/{rerun_id}").json()["options"].get("alpha_matting")


def test_the_compare_slider_is_the_line_between_before_and_after(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(photo_bytes("coffee.png", size=(320, 240)))
    page.set_input_files("#file-input", [photo])
    expect_done_with_cutouts_shown(page, [photo])

    page.click(".item .after img")
    dialog = page.locator("#compare")
    expect(dialog).to_be_visible()
    cutout = page.locator("#compare-after")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=cutout.element_handle())
    expect(cutout).to_have_class(re.compile(r"\bcheckerboard\b"))  # transparent: on a checkerboard
    clip = "el => el.style.clipPath"
    assert cutout.evaluate(clip) == "inset(0px 0px 0px 50%)"  # the original left of the line, the cutout right

    page.focus("#compare-slider")
    page.keyboard.press("End")
    assert cutout.evaluate(clip) == "inset(0px 0px 0px 100%)"  # the line at the right: all original
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert cutout.evaluate(clip) == "inset(0px 0px 0px 97%)"

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_phone_photo_in_heic_is_cut_out_shown_compared_and_edited(
    page: Any, embedded_server: Any, tmp_path: Path
) -> None:
    """Chromium cannot show HEIC: the card, compare and the editor show the server's upright WebPs of it."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    photo = tmp_path / "IMG_0001.HEIC"
    upright = Image.open(io.BytesIO(photo_bytes("coffee.png", size=(320, 240))))
    photo.write_bytes(heic_bytes(upright.transpose(Image.Transpose.ROTATE_90), orientation=6))
    row = page.locator('.item[data-filename="IMG_0001.HEIC"]')
    # The card asks for the photo's thumbnail once the worker has made it with the cutout, not before.
    asked_when: list[str | None] = []

    def note_status(route: Any) -> None:
        asked_when.append(row.get_attribute("data-status"))
        route.continue_()

    page.route("**/original/thumbnail", note_status)
    page.set_input_files("#file-input", [photo])
    expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    expect(row.locator(".meta")).to_contain_text("320\N{MULTIPLICATION SIGN}240")

    assert shown(page, row.locator(".before img"), r"/original/thumbnail$")[:2] == (256, 192)
    assert asked_when == ["done"]
    assert shown(page, row.locator(".after img"), r"/result/thumbnail\?r=")[:2] == (256, 192)

    row.locator(".compare-open").click()
    assert shown(page, page.locator("#compare-before"), r"/original/display$")[:2] == (320, 240)
    page.keyboard.press("Escape")
    row.locator(".edit-open").click()
    expect(page.locator("#editor")).to_have_attribute("data-ready", "true", timeout=60_000)
    expect(page.locator("#editor-status")).to_have_text("")


def test_api_key_is_shown_once_and_revoking_it_refuses_it(page: Any, embedded_server: Any) -> None:
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    page.click("nav >> text=API keys")
    page.fill("#id_name", "browser test")
    page.click("text=Create key")

    shown = page.locator("#new-key")
    expect(shown).to_be_visible()
    expect(page.locator(".new-key")).to_contain_text("you will not see it again")
    key = shown.inner_text().strip()
    assert key.startswith("bgs_")
    api = f"{embedded_server.url}/api/v1/batches"
    assert requests.get(api, headers={"X-Api-Key": key}, timeout=10).status_code == 200

    page.reload()
    expect(page.locator("#new-key")).to_have_count(0)
    assert key not in page.content()
    row = page.locator("#api-keys tr", has_text="browser test")
    expect(row).to_contain_text(key[:12] + "…")
    expect(row).to_contain_text("active")

    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("text=Revoke").click()
    page.wait_for_timeout(500)  # a form sent despite the answer would have been handled by now
    assert requests.get(api, headers={"X-Api-Key": key}, timeout=10).status_code == 200
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("text=Revoke").click()

    expect(page.locator(".messages")).to_contain_text("The key was revoked")
    expect(page.locator("#api-keys tr", has_text="browser test")).to_contain_text("revoked")
    refused = requests.get(api, headers={"X-Api-Key": key}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "this API key was revoked"


def test_a_new_email_address_is_confirmed_from_the_link_the_console_shows(page: Any, embedded_server: Any) -> None:
    """As after `make run`, whose mail is printed in its log: the account page's link, the form, the mailed link,
    its confirmation, and the account page showing the new address."""
    from playwright.sync_api import expect

    username = sign_up(page)
    page.click("nav >> text=API keys")  # the account page
    page.click("#email-change-link")
    page.fill("#id_email", f"{username}@new.example")
    page.fill("#id_password", "correct horse battery")
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"We sent a link to {username}@new.example")
    links = re.findall(r"http://\S+/accounts/email/confirm/[^/\s]+/", embedded_server.log())
    assert links, embedded_server.log()[-3000:]
    page.goto(links[-1])
    expect(page.locator("main")).to_contain_text(f"{username}@new.example")
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Your e-mail address is now {username}@new.example")
    expect(page.locator("main")).to_contain_text(f"{username}@new.example")


@pytest.fixture(scope="module")
def server_to_restart(server_factory: Any) -> Iterator[Any]:
    """A server of the default settings for the tests that stop it and start it again, shared by them (each signs up
    its own user), where each started one of its own; not the embedded server, which the other tests share."""
    server = server_factory()
    yield server
    server.stop()


@pytest.fixture
def restartable_server(server_to_restart: Any) -> Any:
    """server_to_restart, running: started, or started again if a test before left it stopped (it failed)."""
    if server_to_restart.process is None or server_to_restart.process.poll() is not None:
        server_to_restart.start()
    return server_to_restart


def test_page_recovers_when_the_server_restarts(browser: Any, restartable_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = restartable_server
    photos = {}
    for name in ("chelsea", "coffee", "astronaut"):
        photos[name] = tmp_path / f"{name}.jpg"
        photos[name].write_bytes(photo_bytes(f"{name}.png", size=(320, 240)))

    with browsing(browser, server.url) as page:
        sign_up(page)
        page.set_input_files("#file-input", [photos["chelsea"]])
        expect(page.locator(".item")).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)

        server.stop()
        expect(page.locator("#notice")).to_contain_text("reconnecting")
        # Chosen while the server is down: they wait for it in line, rather than each be refused.
        page.set_input_files("#file-input", [photos["coffee"], photos["astronaut"]])
        for name in ("coffee.jpg", "astronaut.jpg"):
            waiting = page.locator(f'.item[data-filename="{name}"]')
            expect(waiting).to_have_attribute("data-status", "pending")
        expect(page.locator('.item[data-filename="coffee.jpg"] .badge.status')).to_have_text(
            "waiting for the connection", timeout=10_000
        )
        expect(page.locator("#overall")).to_contain_text("2 still uploading")

        server.start()
        expect(page.locator("#notice")).to_be_hidden(timeout=45_000)
        for name in ("coffee.jpg", "astronaut.jpg"):
            row = page.locator(f'.item[data-filename="{name}"]')
            expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        expect(page.locator("#overall")).to_have_text("3 of 3 done, 0 failed")
        names = page.locator(".item .filename").all_text_contents()
        assert names == ["chelsea.jpg", "coffee.jpg", "astronaut.jpg"]


def test_reconnecting_is_said_once_and_tried_at_once_when_back_online(browser: Any, restartable_server: Any) -> None:
    """The notice (a live region) was written again at every reconnection try, the same words read out each time.
    Back online (a phone out of a tunnel), the page waited out its last wait, which grows to 30 s."""
    from playwright.sync_api import expect

    server = restartable_server
    with browsing(browser, server.url) as page:
        page.clock.install()  # the page's timers: 17 s of reconnection tries pass in a moment
        sign_up(page)
        page.set_input_files("#file-input", [photo_path("coffee.png")])
        expect(page.locator(".item")).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        page.evaluate(
            """() => {
                window.noticeChanges = 0;
                new MutationObserver(() => window.noticeChanges++).observe(
                    document.getElementById("notice"), { subtree: true, childList: true, characterData: true },
                );
            }"""
        )
        tries: list[str] = []
        page.on("websocket", lambda socket: tries.append(socket.url))
        server.stop()
        expect(page.locator("#notice")).to_contain_text("reconnecting")
        page.clock.pause_at(page.evaluate("Date.now()"))
        for _ in range(20):  # tries after about 1, 2, 4 and 8 s; the next one about 16 s later
            page.clock.run_for(1000)
            page.wait_for_timeout(150)  # the try fails (in real time) and sets its next wait
        assert len(tries) >= 4
        assert page.evaluate("window.noticeChanges") == 1
        server.start()
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("#notice")).to_be_hidden(timeout=5_000)


def test_uploads_wait_out_the_rate_limit(browser: Any, server_factory: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = server_factory(RATE_LIMIT_PER_USER="3/s")
    server.start()
    photos = small_photos(tmp_path, 8)

    with browsing(browser, server.url) as page:
        sign_up(page)
        # Every status a card's badge shows, however briefly.
        page.evaluate("""() => {
            window.labels = new Set();
            new MutationObserver(() => {
                for (const badge of document.querySelectorAll(".item .badge.status")) labels.add(badge.textContent);
            }).observe(document.getElementById("items"), { subtree: true, childList: true, characterData: true });
        }""")
        page.set_input_files("#file-input", photos)
        for photo in photos:
            row = page.locator(f'.item[data-filename="{photo.name}"]')
            expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        expect(page.locator("#overall")).to_have_text("8 of 8 done, 0 failed")
        # The account's own limit, not a busy server.
        waits = [label for label in page.evaluate("[...window.labels]") if "retry in" in label]
        assert waits and all(re.fullmatch(r"your limit is reached for now, retry in \d+ s", label) for label in waits)
    assert re.search(r'"POST /api/v1/batches/[0-9a-f-]+/files" 429', server.log())  # the limit was hit, waited out


@pytest.fixture(scope="module")
def limited_server(server_factory: Any) -> Any:
    """A server of small limits, shared: two files a batch, two images a day per account (each test signs up its
    own user)."""
    server = server_factory(MAX_ITEMS_PER_BATCH="2", DAILY_IMAGE_QUOTA="2")
    server.start()
    return server


def test_files_past_the_batch_limit_are_refused_before_they_are_uploaded(
    browser: Any, limited_server: Any, tmp_path: Path
) -> None:
    """A folder larger than MAX_ITEMS_PER_BATCH: the files past it are refused at once, in the server's words, rather
    than each uploaded whole to be refused (1,200 photos dropped sent 200 of them up for nothing)."""
    from playwright.sync_api import expect

    server = limited_server
    photos = small_photos(tmp_path, 3)
    log_before = len(server.log())  # the server's log holds the module's other tests too

    with browsing(browser, server.url) as page:
        sign_up(page)
        page.set_input_files("#file-input", photos)
        for photo in photos[:2]:
            row = page.locator(f'.item[data-filename="{photo.name}"]')
            expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        past = page.locator('.item[data-filename="photo-2.jpg"]')
        expect(past).to_have_attribute("data-status", "rejected")
        expect(past.locator(".error")).to_have_text("the batch is full (2 files at most); start a new batch")
        expect(page.locator("#overall")).to_have_text("2 of 3 done, 1 failed")
    posts = re.findall(r'"POST /api/v1/batches[^"]*" (\d+)', server.log()[log_before:])
    assert posts == ["201", "201"]  # the third file never went up


def test_once_the_daily_quota_is_reached_the_files_in_line_are_refused_unsent_and_said_so(
    browser: Any, limited_server: Any, tmp_path: Path
) -> None:
    """The daily quota reached mid-drop: the files still in line are refused at once with its reason, and the notice
    says the uploads stopped and how many files were not taken, rather than each uploaded whole to be refused alike (a
    drop of 40 photos past a quota of 10 sent all 30 others up, a request each, with nothing said above the cards)."""
    from playwright.sync_api import expect

    server = limited_server
    photos = small_photos(tmp_path, 4)
    log_before = len(server.log())

    with browsing(browser, server.url) as page:
        sign_up(page)
        page.set_input_files("#file-input", photos[:2])  # the day's two images, the batch's two files
        for photo in photos[:2]:
            row = page.locator(f'.item[data-filename="{photo.name}"]')
            expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        page.goto("/")
        page.set_input_files("#file-input", photos[2:])
        quota = re.compile(r"^daily quota of 2 credits reached .*it resets at 00:00 UTC$")
        for photo in photos[2:]:
            row = page.locator(f'.item[data-filename="{photo.name}"]')
            expect(row).to_have_attribute("data-status", "rejected")
            expect(row.locator(".error")).to_have_text(quota)
        stopped = r"^Uploads stopped: daily quota of 2 credits .*\. 2 files were not taken; add them again later\.$"
        expect(page.locator("#notice")).to_have_text(re.compile(stopped))
        expect(page.locator("#overall")).to_have_text("0 of 2 done, 2 failed")
    posts = re.findall(r'"POST /api/v1/batches[^"]*" (\d+)', server.log()[log_before:])
    assert posts == ["201", "201", "429"]  # the new drop's first file was refused; the other never went up


def test_the_first_tab_offers_to_skip_to_the_content(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # shown once focused (it waits above the page until then)
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_the_count_is_said_now_and_then_not_at_every_change(page: Any, embedded_server: Any, tmp_path: Path) -> None:
    """The live region (#overall-said) has the count read out when the batch starts and when it stops, and at most
    every 10 s between; #overall, shown, moves at each change. Said at each change, six photos were some 25
    announcements, two by two the same; a batch of hundreds queued up thousands."""
    from playwright.sync_api import expect

    photos = small_photos(tmp_path, 6)
    log_in_new_user(page, embedded_server)
    page.evaluate(
        """() => {
            window.said = [];
            window.shown = 0;
            const record = (target, note) => new MutationObserver(note).observe(target, {
                subtree: true, childList: true, characterData: true,
            });
            record(document.getElementById("overall-said"), () => window.said.push(
                [performance.now(), document.getElementById("overall-said").textContent],
            ));
            record(document.getElementById("overall"), () => window.shown++);
        }"""
    )
    page.set_input_files("#file-input", photos)
    for photo in photos:
        row = page.locator(f'.item[data-filename="{photo.name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    expect(page.locator("#overall-said")).to_have_text("6 of 6 done, 0 failed")
    said, shown = page.evaluate("[window.said, window.shown]")
    texts = [text for _, text in said]
    assert texts[0].startswith("0 of 6 done, 0 failed · ") and texts[-1] == "6 of 6 done, 0 failed", texts
    assert all(one != other for one, other in itertools.pairwise(texts)), texts
    # Between the first words and the last (said at once when the batch stops), 10 s apart at least.
    assert all(later - earlier >= 9_900 for (earlier, _), (later, _) in itertools.pairwise(said[:-1]))
    assert len(texts) <= 2 + (said[-1][0] - said[0][0]) // 10_000, texts
    assert shown > len(texts)  # what is shown moved on meanwhile


def test_deleting_a_batch_from_the_list_leaves_the_keyboard_on_the_next_row(page: Any, embedded_server: Any) -> None:
    """Delete on a row of the list of batches: its row gone, the button took the focus with it, and a keyboard was
    back at the top of the page. The next row's Delete takes it; after a no, the button keeps it."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    batches = []
    for name in ("coffee.png", "chelsea.png"):
        page.goto("/")
        page.set_input_files("#file-input", [photo_path(name)])
        row = page.locator(f'.item[data-filename="{name}"]')
        expect(row).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
        batches.append(page.url.rstrip("/").rsplit("/", 1)[1])

    page.goto("/batches/")
    first, second = (page.locator(f'tr[data-batch-id="{batch}"] button.batch-delete') for batch in batches)
    page.once("dialog", lambda dialog: dialog.dismiss())
    first.focus()
    page.keyboard.press("Enter")
    expect(first).to_be_focused()
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    expect(page.locator(f'tr[data-batch-id="{batches[0]}"]')).to_have_count(0)
    expect(second).to_be_focused()


def test_deleting_a_batch_with_no_images_left_asks_a_question_that_fits(page: Any, embedded_server: Any) -> None:
    """A batch whose photos were all removed asked "Its 0 images, their cutouts and any hand edits are deleted"."""
    from playwright.sync_api import expect

    log_in_new_user(page, embedded_server)
    page.set_input_files("#file-input", [photo_path("coffee.png")])
    card = page.locator('.item[data-filename="coffee.png"]')
    expect(card).to_have_attribute("data-status", "done", timeout=PROCESSING_TIMEOUT_MS)
    batch_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator(".item-remove").click()
    expect(card).to_have_count(0)

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("#delete-batch")
    expect(page.locator("#delete-batch")).to_be_enabled()
    page.goto("/batches/")
    row = page.locator(f'tr[data-batch-id="{batch_id}"]')
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.locator("button.batch-delete").click()
    expect(row).to_have_count(0)
    assert questions == ["Delete this batch? It has no images."] * 2
