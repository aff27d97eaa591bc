"""bgsite_client.remove: how `bgsite remove` splits a folder into upload requests, and (live) how it follows a
batch while the batch uploads."""

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bgsite_client.folder import Job, collect, plan
from bgsite_client.remove import MAX_REQUEST_BYTES, MIN_REQUEST_BYTES, Run, _next_request, request_bytes
from bgsite_client.server import Server, ServerError

from tests.conftest import LiveServer, photo_bytes

MIB = 2**20
WAIT_SECONDS = 20


def jobs_of(folder: Path, sizes: list[int]) -> list[Job]:
    jobs = []
    for index, size in enumerate(sizes):
        source = folder / f"{index}.jpg"
        source.write_bytes(bytes(size))
        jobs.append(Job(source=source, target=folder / f"{index}.png"))
    return jobs


def test_a_batchs_requests_grow_with_what_it_has_received() -> None:
    # The server starts on a request's images only once all of it has arrived: the first requests are small so
    # its workers start at once, later ones large so a big folder goes in few requests (rate limits).
    assert (MIN_REQUEST_BYTES, MAX_REQUEST_BYTES) == (MIB, 8 * MIB)
    assert [request_bytes(received) for received in (0, MIB // 2, 3 * MIB, 20 * MIB)] == [MIB, MIB, 3 * MIB, 8 * MIB]


def test_a_request_stops_once_its_bytes_are_reached(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [3 * MIB] * 5)
    assert _next_request(photos, 100, 8 * MIB) == (photos[:3], 9 * MIB)  # the third passes 8
    assert _next_request(photos[3:], 100, 8 * MIB) == (photos[3:], 6 * MIB)


def test_small_images_go_as_many_as_the_server_takes(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [1000] * 7)
    assert _next_request(photos, 100, MIB) == (photos, 7000)
    assert _next_request(photos, 5, MIB) == (photos[:5], 5000)


def test_an_image_larger_than_a_request_goes_alone(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [9 * MIB, 1000])
    assert _next_request(photos, 100, 8 * MIB) == (photos[:1], 9 * MIB)


def test_a_folder_gives_its_images_and_videos_but_nothing_hidden_and_no_live_photo_clip(tmp_path: Path) -> None:
    names = ("b.JPG", "a.heic", "A.MOV", "clip.mov", "notes.txt", ".DS_Store", "._a.heic", ".thumbnails/b.jpg")
    for name in (*names, "sub/c.png", "sub/b.mp4", "sub/d.mkv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = collect([tmp_path], recursive=True)
    assert [str(relative) for _, relative in found.files] == [
        "a.heic",
        "b.JPG",
        "clip.mov",
        "sub/b.mp4",
        "sub/c.png",
        "sub/d.mkv",
    ]
    assert found.live_clips == [tmp_path / "A.MOV"]  # a.heic's: b.mp4 has no photo of its name in its folder
    named = collect([tmp_path / "._a.heic", tmp_path / "A.MOV"], recursive=False)
    assert [str(relative) for _, relative in named.files] == ["._a.heic", "A.MOV"] and named.live_clips == []


def test_a_videos_cutout_is_saved_as_the_zip_it_is(tmp_path: Path) -> None:
    # The server cuts a video out as a zip of frames and a WebM, whatever the format: it was saved as clip.png.
    inputs = [(tmp_path / name, Path(name)) for name in ("clip.mp4", "clip.jpg", "sub/b.MOV", "sub/b.mkv")]
    targets = [job.target.relative_to(tmp_path / "out") for job in plan(inputs, tmp_path / "out", extension="webp")]
    assert [str(target) for target in targets] == ["clip.zip", "clip.webp", "sub/b_mov.zip", "sub/b_mkv.zip"]


def photo_jobs(folder: Path, count: int) -> list[Job]:
    """`count` distinct small photos in `folder`/in, each with its cutout's path in `folder`/out."""
    (folder / "in").mkdir()
    for index in range(count):
        (folder / "in" / f"p{index}.jpg").write_bytes(photo_bytes("coffee.png", size=(160 + index, 120)))
    return plan(collect([folder / "in"], recursive=False).files, folder / "out", extension="png")


class UploadsAfterACutout(Server):
    """A client whose later uploads of a batch each wait (up to WAIT_SECONDS) for a cutout to have been saved."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(url, key)
        self.saved = threading.Event()
        self.waits: list[bool] = []  # shared with clone(): whether each wait saw a cutout saved

    def upload(self, path: str, files: Any, data: dict[str, str], headers: Any = None) -> dict[str, Any]:
        if path.endswith("/files"):
            self.waits.append(self.saved.wait(WAIT_SECONDS))
        return super().upload(path, files, data, headers)

    def download(self, path: str, target: Path) -> int:
        size = super().download(path, target)
        self.saved.set()
        return size


class RepliesAfterTheirCutouts(Server):
    """A client that reads each upload's reply only once the server has finished the items it made, so the
    items' events come before the client knows them."""

    def upload(self, path: str, files: Any, data: dict[str, str], headers: Any = None) -> dict[str, Any]:
        reply = super().upload(path, files, data, headers)
        made, deadline = {item["id"] for item in reply["items"]}, time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            items = self.json("GET", f"/api/v1/batches/{reply['id']}")["items"]
            if all(item["status"] in ("done", "failed") for item in items if item["id"] in made):
                break
            time.sleep(0.1)
        return reply


class DownloadsInPairs(Server):
    """A client whose first two downloads each wait (up to WAIT_SECONDS) for the other to have begun."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(url, key)
        self.pair, self.arrivals = threading.Barrier(2, timeout=WAIT_SECONDS), itertools.count()
        self.met: list[bool] = []  # shared with clone(): whether each of the two saw the other begin

    def download(self, path: str, target: Path) -> int:
        if next(self.arrivals) < 2:
            try:
                self.pair.wait()
                self.met.append(True)
            except threading.BrokenBarrierError:
                self.met.append(False)
        return super().download(path, target)


@pytest.mark.live
def test_cutouts_are_saved_while_the_rest_of_the_batch_uploads(embedded_server: LiveServer, tmp_path: Path) -> None:
    # On a slow link the downloads must not wait for the last upload: here each later upload waits for a cutout to
    # be saved first, which only a client that follows the batch while it uploads ever gives it.
    jobs = photo_jobs(tmp_path, 4)
    client = UploadsAfterACutout(embedded_server.url, embedded_server.create_user("remove-overlap"))
    Run(client, {}, quiet=True, per_request=1).remove(jobs)
    assert [job.done for job in jobs] == [True] * 4
    assert all(job.target.stat().st_size > 0 for job in jobs)
    assert client.waits == [True] * 3


@pytest.mark.live
def test_an_item_finished_before_its_reply_is_read_is_still_saved(embedded_server: LiveServer, tmp_path: Path) -> None:
    # The events of the last request's items come before its reply, and none comes after it: the run ends on its
    # own (the follower looks at the uploads' news every TICK_SECONDS), not after the websocket's 30 quiet seconds.
    jobs = photo_jobs(tmp_path, 3)
    client = RepliesAfterTheirCutouts(embedded_server.url, embedded_server.create_user("remove-early"))
    started = time.monotonic()
    Run(client, {}, quiet=True, per_request=1).remove(jobs)
    assert [job.done for job in jobs] == [True] * 3
    assert time.monotonic() - started < WAIT_SECONDS


class RefusesLaterUploads(Server):
    """A client whose uploads after a batch's first fail as a server that went away would make them."""

    def upload(self, path: str, files: Any, data: dict[str, str], headers: Any = None) -> dict[str, Any]:
        if path.endswith("/files"):
            raise ServerError(0, "could not reach the server: ConnectionError")
        return super().upload(path, files, data, headers)


@pytest.mark.live
def test_an_upload_that_fails_mid_batch_stops_the_run_with_its_error(
    embedded_server: LiveServer, tmp_path: Path
) -> None:
    # The uploads run on a thread of their own; their error must still reach the caller (`bgsite` exits 2 with it).
    jobs = photo_jobs(tmp_path, 3)
    client = RefusesLaterUploads(embedded_server.url, embedded_server.create_user("remove-refused"))
    with pytest.raises(ServerError, match="could not reach"):
        Run(client, {}, quiet=True, per_request=1).remove(jobs)
    assert not any(job.done for job in jobs[1:])


class LosesAReply(Server):
    """A client whose first upload that creates a batch, or adds to one, is cut off once the request has gone:
    after the server saved it (`saved`) or before."""

    def __init__(self, url: str, key: str, *, creation: bool, saved: bool) -> None:
        super().__init__(url, key)
        self.creation, self.saved = creation, saved
        self.cut: list[str] = []  # shared with clone(): the file whose upload was cut off

    def upload(self, path: str, files: Any, data: dict[str, str], headers: Any = None) -> dict[str, Any]:
        if path.endswith("/files") != self.creation and not self.cut:
            self.cut.append(files[0][0])
            if self.saved:
                super().upload(path, files, data, headers)
            raise ServerError(0, "could not reach the server: ConnectionError")
        return super().upload(path, files, data, headers)


@pytest.mark.live
@pytest.mark.parametrize("creation", [True, False], ids=["creation", "addition"])
@pytest.mark.parametrize("saved", [True, False], ids=["saved", "never-arrived"])
def test_an_upload_whose_reply_was_lost_is_sent_again_without_a_second_copy(
    embedded_server: LiveServer, tmp_path: Path, creation: bool, saved: bool
) -> None:
    # A server restarting as a reply was on its way ended the run; run again, it sent the file once more, and the
    # server cut it out twice. Sent again to the same place (and with the creation's key), the server answers with
    # what it made, or makes it if it never arrived.
    jobs = photo_jobs(tmp_path, 3)
    user = embedded_server.create_user(f"remove-lost-{creation}-{saved}")
    client = LosesAReply(embedded_server.url, user, creation=creation, saved=saved)
    run = Run(client, {}, quiet=True, per_request=1)
    run.remove(jobs)
    assert client.cut == ["p0.jpg" if creation else "p1.jpg"] and [job.done for job in jobs] == [True] * 3
    assert run.batches == [batch["id"] for batch in client.json("GET", "/api/v1/batches")["batches"]]
    items = client.json("GET", f"/api/v1/batches/{run.batches[0]}")["items"]
    assert [item["filename"] for item in items] == ["p0.jpg", "p1.jpg", "p2.jpg"]


@pytest.mark.live
def test_cutouts_download_side_by_side(embedded_server: LiveServer, tmp_path: Path) -> None:
    # One download at a time costs a round trip per cutout: 100 ms away, a run was held near 7 cutouts/s.
    jobs = photo_jobs(tmp_path, 4)
    client = DownloadsInPairs(embedded_server.url, embedded_server.create_user("remove-pairs"))
    Run(client, {}, quiet=True).remove(jobs)
    assert [job.done for job in jobs] == [True] * 4
    assert client.met == [True, True]


class DownloadsFail(Server):
    def download(self, path: str, target: Path) -> int:
        raise ServerError(0, "could not reach the server: ConnectionError")


@pytest.mark.live
def test_a_download_that_fails_stops_the_run_with_its_error(embedded_server: LiveServer, tmp_path: Path) -> None:
    # The downloads run on threads of their own; their error must still reach the caller (`bgsite` exits 2 with it).
    jobs = photo_jobs(tmp_path, 2)
    client = DownloadsFail(embedded_server.url, embedded_server.create_user("remove-download-fails"))
    with pytest.raises(ServerError, match="could not reach"):
        Run(client, {}, quiet=True).remove(jobs)
    assert not any(job.done for job in jobs)


@pytest.mark.live
def test_a_server_with_smaller_batches_gets_the_rest_in_new_ones(server_factory: Any, tmp_path: Path) -> None:
    # The client starts with batches of PER_BATCH; the server's "the batch is full" refusals send the rest on
    # to new batches, each uploaded while the one before it was followed to its end.
    server = server_factory(MAX_ITEMS_PER_BATCH="3")
    server.start()
    try:
        jobs = photo_jobs(tmp_path, 7)
        run = Run(Server(server.url, server.create_user("remove-small-batches")), {}, quiet=True, per_request=2)
        run.remove(jobs)
    finally:
        server.stop()
    assert [job.done for job in jobs] == [True] * 7
    assert len(run.batches) == 3 and len(set(run.batches)) == 3
