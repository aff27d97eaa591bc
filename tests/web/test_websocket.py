"""Live: a real server process, the batch API over HTTP, progress over the real websocket."""

import contextlib
import io
import json
import time
import zipfile
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from removal.ops.limits import WEBSOCKETS_PER_USER
from tests.conftest import LiveServer, photo_bytes

pytestmark = pytest.mark.live

FINISHED = {"done", "failed"}


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("wsuser")


def follow(server: LiveServer, batch_id: str, key: str, **options: Any) -> ClientConnection:
    return connect(f"{server.ws_url}/ws/batches/{batch_id}", additional_headers={"X-Api-Key": key}, **options)


def upload(server: LiveServer, key: str, url: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}{url}",
        headers={"X-Api-Key": key},
        files=[("files", (name, data, "image/jpeg")) for name, data in files],
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_every_state_change_reaches_the_owner_and_the_zip_is_complete(embedded_server: LiveServer, key: str) -> None:
    batch = upload(embedded_server, key, "/api/v1/batches", [("first.jpg", photo_bytes("astronaut.png"))])
    with follow(embedded_server, batch["id"], key) as socket:
        snapshot = json.loads(socket.recv(timeout=10))
        assert snapshot["event"] == "snapshot"
        assert snapshot["batch"]["id"] == batch["id"]
        assert [item["filename"] for item in snapshot["batch"]["items"]] == ["first.jpg"]

        whole = photo_bytes("coffee.png", size=(1280, 960))
        added = upload(
            embedded_server,
            key,
            f"/api/v1/batches/{batch['id']}/files",
            [("second.jpg", whole), ("third.jpg", photo_bytes("chelsea.png")), ("broken.jpg", whole[:5000])],
        )
        added_ids = {item["id"]: item["filename"] for item in added["items"]}
        seen: dict[str, list[tuple[int, str]]] = {item_id: [] for item_id in added_ids}
        latest: dict[str, dict[str, Any]] = {item["id"]: item for item in snapshot["batch"]["items"]}
        totals: dict[str, Any] = {}
        while len(latest) < 4 or any(item["status"] not in FINISHED for item in latest.values()):
            event = json.loads(socket.recv(timeout=60))
            assert event["event"] == "item"
            item = event["item"]
            if item["id"] in seen:
                seen[item["id"]].append((item["revision"], item["status"]))
            if item["id"] not in latest or item["revision"] >= latest[item["id"]]["revision"]:
                latest[item["id"]] = item
                totals = event["batch"]

    # Each added item was seen queued, processing and finished, in revision order.
    for item_id, states in seen.items():
        in_order = [status for _, status in sorted(set(states))]
        expected_end = "failed" if added_ids[item_id] == "broken.jpg" else "done"
        assert in_order == ["queued", "processing", expected_end], (added_ids[item_id], states)
    by_name = {item["filename"]: item for item in latest.values()}
    assert "truncated or corrupt" in by_name["broken.jpg"]["error"]
    assert totals["counts"] == {"queued": 0, "processing": 0, "done": 3, "failed": 1, "total": 4, "needs_review": 0}
    assert totals["status"] == "done"

    download = requests.get(f"{embedded_server.url}{batch['zip']}", headers={"X-Api-Key": key}, timeout=60)
    assert download.status_code == 200
    assert (
        download.headers["Content-Disposition"]
        == f'attachment; filename="cutouts-{batch["created_at"][:10]}-{batch["id"][:8]}.zip"'
    )
    assert int(download.headers["Content-Length"]) == len(download.content)
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist() == ["first.png", "second.png", "third.png", "manifest.json"]
        with Image.open(archive.open("second.png")) as cutout:
            assert cutout.mode == "RGBA" and cutout.size == (1280, 960)
            alpha = np.asarray(cutout.getchannel("A"))
            assert (alpha == 0).mean() > 0.1 and (alpha > 200).mean() > 0.1


def test_reconnecting_client_gets_the_current_state_first(embedded_server: LiveServer, key: str) -> None:
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png"))])
    with follow(embedded_server, batch["id"], key) as socket:
        while json.loads(socket.recv(timeout=60))["batch"]["status"] != "done":
            pass
    with follow(embedded_server, batch["id"], key) as socket:
        snapshot = json.loads(socket.recv(timeout=10))
    assert snapshot["event"] == "snapshot"
    assert snapshot["batch"]["status"] == "done"
    assert snapshot["batch"]["items"][0]["status"] == "done"
    assert snapshot["batch"]["items"][0]["result"].endswith("/result")


def closed_with(socket: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_only_the_owner_may_follow(embedded_server: LiveServer, key: str) -> None:
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png"))])
    other_key = embedded_server.create_user("wsother")
    with follow(embedded_server, batch["id"], other_key) as socket:
        assert closed_with(socket) == 4404
    with connect(f"{embedded_server.ws_url}/ws/batches/{batch['id']}") as socket:
        assert closed_with(socket) == 4401
    with follow(embedded_server, batch["id"], key[:-3] + "abc") as socket:
        assert closed_with(socket) == 4401
    with connect(f"{embedded_server.ws_url}/ws/batches/{batch['id']}?key={key}") as socket:
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"


def test_a_handshake_with_two_different_keys_is_closed_as_unauthenticated(
    embedded_server: LiveServer, key: str
) -> None:
    # The header's key was taken over ?key= (and of ?key= sent twice, the last) without a word: the socket followed
    # the batch as whoever that one named.
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png"))])
    other_key = embedded_server.create_user("wstwokeys")
    url = f"{embedded_server.ws_url}/ws/batches/{batch['id']}"
    with connect(f"{url}?key={other_key}", additional_headers={"X-Api-Key": key}) as socket:
        assert closed_with(socket) == 4401
    with connect(f"{url}?key={other_key}&key={key}") as socket:
        assert closed_with(socket) == 4401
    with connect(f"{url}?key={key}", additional_headers={"X-Api-Key": key}) as socket:  # the same key twice: its own
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"


def test_handshakes_count_against_the_rate_limits(server_factory: Any) -> None:
    """Each handshake costs a snapshot of the whole batch (about 1 MB of JSON for a thousand items), as a GET of it
    does: past the caller's rate limit it is closed with 1013 (try again later) before any is made."""
    server = server_factory(RATE_LIMIT_PER_KEY="3/h")
    server.start()
    try:
        key = server.create_user("wsratelimited")
        batch = upload(server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png", size=(64, 48)))])
        snapshots = []
        for _ in range(2):  # the upload was the first call
            with follow(server, batch["id"], key) as socket:
                snapshots.append(json.loads(socket.recv(timeout=10))["event"])
        with follow(server, batch["id"], key) as socket:
            refused = closed_with(socket)
    finally:
        server.stop()
    assert (snapshots, refused) == (["snapshot", "snapshot"], 1013)


def test_one_user_holds_at_most_websockets_per_user_open(embedded_server: LiveServer) -> None:
    """Handshakes are rate limited but sockets stay open: without a bound, one account gathered hundreds an hour.
    Past the bound a handshake is closed with 1013 (try again later); a socket closed frees its place."""
    key = embedded_server.create_user("wscrowd")
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png", size=(64, 48)))])
    with contextlib.ExitStack() as held:  # each socket closed at the end, however the test ends
        sockets = [held.enter_context(follow(embedded_server, batch["id"], key)) for _ in range(WEBSOCKETS_PER_USER)]
        assert {json.loads(socket.recv(timeout=10))["event"] for socket in sockets} == {"snapshot"}
        with follow(embedded_server, batch["id"], key) as refused:
            assert closed_with(refused) == 1013
        other_key = embedded_server.create_user("wscrowdneighbour")  # another account is not held back
        other_batch = upload(embedded_server, other_key, "/api/v1/batches", [("b.jpg", photo_bytes("chelsea.png"))])
        with follow(embedded_server, other_batch["id"], other_key) as neighbours:
            assert json.loads(neighbours.recv(timeout=10))["event"] == "snapshot"
        sockets.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the server hears of the close a moment later
            with follow(embedded_server, batch["id"], key) as again:
                try:
                    assert json.loads(again.recv(timeout=10))["event"] == "snapshot"
                    break
                except ConnectionClosed:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)


def test_browsers_from_other_sites_are_refused(embedded_server: LiveServer, key: str) -> None:
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png"))])
    with pytest.raises(InvalidStatus) as refused:
        follow(embedded_server, batch["id"], key, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with follow(embedded_server, batch["id"], key, origin=embedded_server.url) as socket:
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"


def test_the_page_session_authenticates_the_websocket(embedded_server: LiveServer) -> None:
    key = embedded_server.create_user("sessionuser")
    browser = embedded_server.signed_in("sessionuser")
    whole = photo_bytes("coffee.png")
    created = browser.post(
        f"{embedded_server.url}/api/v1/batches",
        files=[("files", ("s.jpg", whole, "image/jpeg")), ("files", ("broken.jpg", whole[:3000], "image/jpeg"))],
        headers={"X-CSRFToken": browser.cookies["csrftoken"], "Accept-Language": "de"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    german = "die Bilddaten sind unvollständig oder beschädigt ("
    with connect(
        f"{embedded_server.ws_url}{created.json()['ws']}",
        additional_headers={"Cookie": cookie, "Accept-Language": "de"},
        origin=embedded_server.url,
    ) as socket:
        snapshot = json.loads(socket.recv(timeout=10))["batch"]
        assert snapshot["id"] == created.json()["id"]
        # A photo that fails in the worker (cut short after its header): its reason in the page's language, live.
        items = until_finished(socket, snapshot["items"])
        errors = [item["error"] for item in items if item["filename"] == "broken.jpg"]
        assert errors[-1].startswith(german), errors
    url = f"{embedded_server.url}/api/v1/batches/{created.json()['id']}"
    again = browser.get(url, headers={"Accept-Language": "de"}, timeout=10)
    assert [item["error"] for item in again.json()["items"] if item["error"]] == [errors[-1]]
    # A program (its API key) reads the same in English, whatever its Accept-Language.
    keyed = requests.get(url, headers={"X-Api-Key": key, "Accept-Language": "de"}, timeout=10).json()
    assert next(item["error"] for item in keyed["items"] if item["error"]).startswith("the image data is truncated")


def until_finished(socket: ClientConnection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The snapshot's items, then each item as the events send it, until every one has finished."""
    seen, latest = list(items), {item["id"]: item for item in items}
    while any(item["status"] not in FINISHED for item in latest.values()):
        event = json.loads(socket.recv(timeout=60))
        if event["event"] == "item":
            seen.append(event["item"])
            latest[event["item"]["id"]] = event["item"]
    return seen


def test_key_in_www_authenticate_and_unknown_paths(embedded_server: LiveServer, key: str) -> None:
    logged_before = len(embedded_server.log())  # the server is shared: only this test's part of its log counts
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png"))])
    with connect(
        f"{embedded_server.ws_url}/ws/batches/{batch['id']}", additional_headers={"WWW-Authenticate": key}
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"
    with connect(f"{embedded_server.ws_url}/ws/nothing-here") as socket:
        assert closed_with(socket) == 4404
    logged = embedded_server.log()[logged_before:]
    assert "Traceback" not in logged, logged


def test_animation_frames_report_progress(embedded_server: LiveServer, key: str) -> None:
    from PIL import Image

    frames = [
        Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(96, 64)))).rotate(angle) for angle in (0, 15, 30)
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    batch = upload(embedded_server, key, "/api/v1/batches", [("first.jpg", photo_bytes("chelsea.png"))])
    with follow(embedded_server, batch["id"], key) as socket:
        json.loads(socket.recv(timeout=10))  # snapshot
        added = upload(
            embedded_server, key, f"/api/v1/batches/{batch['id']}/files", [("moving.gif", buffer.getvalue())]
        )
        item_id = added["items"][0]["id"]
        progress = []
        while True:
            event = json.loads(socket.recv(timeout=60))
            if event["event"] == "progress" and event["item_id"] == item_id:
                progress.append((event["frames_done"], event["frames"]))
            if event["event"] == "item" and event["item"]["id"] == item_id and event["item"]["status"] == "done":
                break
    assert progress == [(1, 3), (2, 3), (3, 3)]
    result = requests.get(
        f"{embedded_server.url}/api/v1/items/{item_id}/result", headers={"X-Api-Key": key}, timeout=10
    )
    with Image.open(io.BytesIO(result.content)) as cutout:
        assert cutout.format == "PNG" and cutout.n_frames == 3  # an animated PNG


def test_flagged_items_improved_and_reviewed_are_seen_live(embedded_server: LiveServer, key: str) -> None:
    """Grass has no subject, so its cutout is flagged: the events say so, then follow its improvement
    with quality=best and a person's "looks fine"."""
    batch = upload(embedded_server, key, "/api/v1/batches", [("grass.jpg", photo_bytes("grass.png", size=(320, 240)))])
    with follow(embedded_server, batch["id"], key) as socket:

        def next_item(status: str) -> dict[str, Any]:
            while True:
                event = json.loads(socket.recv(timeout=60))
                if event["event"] == "item" and event["item"]["status"] == status:
                    return event

        if json.loads(socket.recv(timeout=10))["batch"]["items"][0]["status"] != "done":
            done = next_item("done")
            assert done["item"]["needs_review"] is True and done["item"]["quality"] == "fast"
            assert done["batch"]["counts"]["needs_review"] == 1 and done["batch"]["review_below"] == 0.6

        headers = {"X-Api-Key": key}
        improve = requests.post(f"{embedded_server.url}/api/v1/batches/{batch['id']}/improve", headers=headers)
        assert improve.status_code == 202, improve.text
        assert next_item("queued")["item"]["quality"] == "best"
        improved = next_item("done")["item"]
        assert improved["quality"] == "best" and improved["needs_review"] is True

        review = requests.post(f"{embedded_server.url}/api/v1/items/{improved['id']}/review", headers=headers)
        assert review.status_code == 200, review.text
        event = next_item("done")
        assert event["item"]["reviewed"] is True and event["item"]["needs_review"] is False
        assert event["item"]["revision"] > improved["revision"]
        assert event["batch"]["counts"]["needs_review"] == 0


def test_a_follower_sees_an_item_removed_the_batch_renamed_then_deleted(embedded_server: LiveServer, key: str) -> None:
    photos = [
        ("a.jpg", photo_bytes("astronaut.png", size=(64, 48))),
        ("b.jpg", photo_bytes("coffee.png", size=(64, 48))),
    ]
    batch = upload(embedded_server, key, "/api/v1/batches", photos)
    removed = batch["items"][1]["id"]
    url, headers = f"{embedded_server.url}/api/v1", {"X-Api-Key": key}
    with follow(embedded_server, batch["id"], key) as socket:
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"
        assert requests.delete(f"{url}/items/{removed}", headers=headers, timeout=30).status_code == 204
        message = json.loads(socket.recv(timeout=10))
        while message["event"] != "removed":  # the items' own progress may come first
            message = json.loads(socket.recv(timeout=10))
        assert message["item_id"] == removed and message["batch"]["counts"]["total"] == 1

        renamed = requests.patch(f"{url}/batches/{batch['id']}", json={"name": "Cups"}, headers=headers, timeout=30)
        assert renamed.status_code == 200, renamed.text
        while (message := json.loads(socket.recv(timeout=10)))["event"] != "renamed":
            assert message["event"] in ("item", "progress")
        assert message == {"event": "renamed", "batch_id": batch["id"], "name": "Cups"}

        assert requests.delete(f"{url}/batches/{batch['id']}", headers=headers, timeout=30).status_code == 204
        while (message := json.loads(socket.recv(timeout=10)))["event"] != "deleted":
            assert message["event"] in ("item", "progress")
        assert message["batch_id"] == batch["id"]


def test_an_item_event_is_written_in_the_language_of_the_socket() -> None:
    """As the worker publishes it, an item's error is English; each socket writes it in its page's language."""
    from asgiref.sync import async_to_sync

    from removal import events
    from removal.web.consumers import BatchProgressConsumer

    sent: list[dict[str, Any]] = []

    async def capture(content: dict[str, Any], close: bool = False) -> None:
        sent.append(content)

    template = "the image data is truncated or corrupt (%(reason)s)"
    message = {
        "type": "batch.event",
        "event": "item",
        "item": {"id": "x", "error": template % {"reason": "cut"}},
        "batch": {},
        events.ERROR_MESSAGE: {"template": template, "values": {"reason": "cut"}},
    }
    for language, shown in (
        ("de", "die Bilddaten sind unvollständig oder beschädigt (cut)"),
        ("en", message["item"]["error"]),
    ):
        consumer = BatchProgressConsumer()
        consumer.language, consumer.send_json = language, capture  # type: ignore[method-assign]
        consumer.credentials_checked_at = time.monotonic()  # as connect() left it, just now
        async_to_sync(consumer.batch_event)(message)
        assert sent.pop() == {"event": "item", "item": {"id": "x", "error": shown}, "batch": {}}


@pytest.mark.parametrize("credentials", ["key", "session"])
def test_a_socket_whose_key_is_revoked_or_session_ended_gets_no_more_events(
    embedded_server: LiveServer, credentials: str
) -> None:
    """A socket opened before its key was revoked (or its page logged out) went on getting the batch's events, names
    and links, for as long as it stayed open; it is closed with 4401 at the next event a second on (fifth probe)."""
    username = f"wsrevoked{credentials}"
    key = embedded_server.create_user(username)
    other_key = embedded_server.shell(
        "from django.contrib.auth.models import User; from accounts.services import api_key_create; "
        f"result = api_key_create(user=User.objects.get(username={username!r}), name='other')[1]",
    )
    batch = upload(embedded_server, key, "/api/v1/batches", [("a.jpg", photo_bytes("chelsea.png", size=(64, 48)))])
    browser = embedded_server.signed_in(username)
    if credentials == "key":
        socket = follow(embedded_server, batch["id"], key)
    else:
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        socket = connect(
            f"{embedded_server.ws_url}{batch['ws']}", additional_headers={"Cookie": cookie}, origin=embedded_server.url
        )
    with socket:
        assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"
        if credentials == "key":
            revoke = "from accounts import services; k = services.api_key_authenticate(raw_key=%r); "
            embedded_server.shell(revoke % key + "services.api_key_revoke(user=k.user, key_id=k.pk)")
        else:
            logout = browser.post(
                f"{embedded_server.url}/accounts/logout/",
                headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": embedded_server.url + "/"},
                timeout=10,
            )
            assert logout.status_code in (200, 302)
        time.sleep(1.2)  # past the socket's last check of its credentials
        upload(
            embedded_server,
            other_key,
            f"/api/v1/batches/{batch['id']}/files",
            [("after.jpg", photo_bytes("coffee.png", size=(64, 48)))],
        )
        seen = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                seen.append(json.loads(socket.recv(timeout=10)))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert not [event for event in seen if event.get("item", {}).get("filename") == "after.jpg"]
