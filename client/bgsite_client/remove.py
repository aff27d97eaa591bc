"""`bgsite remove`: send the images that have no cutout yet, follow them, save each cutout as it finishes.

A batch's uploads go on in a thread of their own while the calling thread follows the batch and hands each
finished cutout to a few download threads: on a slow link the downloads do not wait for the last upload, and
on a long round trip they do not wait for one another.
"""

import functools
import queue
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from bgsite_client.folder import Job, save_new
from bgsite_client.server import FAILED, FINISHED, Server, ServerError, limit_in

# The server's defaults (MAX_FILES_PER_REQUEST, MAX_ITEMS_PER_BATCH); lowered when it says otherwise.
PER_REQUEST = 100
PER_BATCH = 1000
# A batch's requests start small and grow. The server starts on a request's images only once all of it has
# arrived, so the first carries one image and each later one about as many bytes as the batch has received so far
# (at least MIN, at most MAX): the workers get images at once, and a large folder still goes in few requests.
MIN_REQUEST_BYTES, MAX_REQUEST_BYTES = 2**20, 8 * 2**20
BATCH_FULL = "the batch is full"
# An upload cut off once its request had gone is sent again (the server answers a repeat with what the first made)
# this many times in a row before the run ends with the error.
RESENDS = 3
# How often the following thread reads its news while no item changes.
TICK_SECONDS = 0.5
# Cutouts downloaded at a time: one at a time, a round trip of 100 ms held a run near 7 cutouts/s.
DOWNLOADS = 4
# What the following thread is told: by the upload thread ("batch", id), ("sent", jobs) and ("uploaded", None)
# at the end; by the download threads ("saved", job); by either ("failed", the exception that stopped it).
News = tuple[str, Any]


@dataclass
class Followed:
    """One batch as the following thread knows it: its news, the jobs sent and not yet finished, the items that
    finished before the reply that sent them was read, the downloads under way, and whether every upload is over."""

    news: queue.SimpleQueue[News] = field(default_factory=queue.SimpleQueue)
    batch_id: str | None = None
    pending: dict[str, Job] = field(default_factory=dict)
    early: dict[str, dict[str, Any]] = field(default_factory=dict)
    downloading: int = 0
    uploaded: bool = False


@dataclass
class Sending:
    """Where a batch's uploads stand: its id once made, the key that makes its creation safe to send again, and the
    place (`file_position`) of the next request's first file."""

    creation_key: str
    batch_id: str | None = None
    position: int = 0


@dataclass
class Run:
    server: Server
    options: dict[str, str]
    quiet: bool = False
    per_request: int = PER_REQUEST
    per_batch: int = PER_BATCH
    batches: list[str] = field(default_factory=list)
    _threads: threading.local = field(default_factory=threading.local, init=False, repr=False)

    def remove(self, jobs: list[Job]) -> None:
        """Every job ends done (its target written) or with an error."""
        self.bars = {
            "upload": tqdm(total=len(jobs), desc="upload ", unit="img", disable=self.quiet, position=0),
            "cutouts": tqdm(total=len(jobs), desc="cutouts", unit="img", disable=self.quiet, position=1),
        }
        self.downloads = ThreadPoolExecutor(DOWNLOADS, thread_name_prefix="download")
        try:
            waiting = list(jobs)
            while waiting:
                self._batch(waiting)
        finally:  # an error or ^C: the downloads under way finish, those not begun are dropped
            self.downloads.shutdown(cancel_futures=True)
        for bar in self.bars.values():
            bar.close()

    def _batch(self, waiting: list[Job]) -> None:
        """Jobs from the front of `waiting` as one batch: uploaded on a thread of its own while this one follows
        the batch and has each cutout saved as it finishes."""
        followed = Followed()
        threading.Thread(target=self._upload_batch, args=(waiting, followed.news), daemon=True).start()
        while followed.batch_id is None and not followed.uploaded:
            self._take(followed.news.get(), followed)
        if followed.batch_id is None:
            return
        for item in self.server.batch_items(followed.batch_id, tick=TICK_SECONDS):
            while not followed.news.empty():
                self._take(followed.news.get(), followed)
            if item is not None:
                self._finished(item, followed)
            if followed.uploaded and not followed.pending:
                break
        while followed.downloading:
            self._take(followed.news.get(), followed)

    def _take(self, news: News, followed: Followed) -> None:
        kind, value = news
        if kind == "failed":
            raise value
        if kind == "saved":
            followed.downloading -= 1
            self.bars["cutouts"].update(1)
        elif kind == "batch":
            followed.batch_id = value
            self.batches.append(value)
        elif kind == "sent":
            for job in value:
                if job.item_id:
                    followed.pending[job.item_id] = job
                    if job.item_id in followed.early:
                        self._finished(followed.early.pop(job.item_id), followed)
                elif job.error:
                    self.bars["cutouts"].update(1)
        else:
            followed.uploaded = True

    def _upload_batch(self, waiting: list[Job], news: queue.SimpleQueue[News]) -> None:
        """The upload thread: _upload_requests, then the end or the error that stopped it told to `news`."""
        try:
            self._upload_requests(waiting, news)
        except Exception as exc:
            news.put(("failed", exc))
            return
        news.put(("uploaded", None))

    def _upload_requests(self, waiting: list[Job], news: queue.SimpleQueue[News]) -> None:
        """Upload jobs from the front of `waiting` into one new batch, request by request, telling `news` of the
        batch and of each request's jobs."""
        uploads = self.server.clone()  # an HTTP session of its own: requests' sessions are not for two threads
        sending = Sending(creation_key=uuid.uuid4().hex)
        room, received = self.per_batch, 0
        while waiting and room > 0:
            most = min(self.per_request, room) if sending.batch_id else 1
            chunk, size = _next_request(waiting, most, request_bytes(received))
            reply = self._sent(uploads, sending, chunk)
            if reply is None:
                continue
            del waiting[: len(chunk)]
            if sending.batch_id is None and reply.get("id"):
                sending.batch_id = reply["id"]
                news.put(("batch", sending.batch_id))
            received += size
            sending.position += len(chunk)
            full = _assign(chunk, reply["items"], reply.get("rejected", []))
            if full:  # the server's batches are smaller than we thought: these go in the next one
                waiting[:0] = full
                chunk = [job for job in chunk if job not in full]
                self.per_batch = max(1, self.per_batch - room + len(chunk))
                room = len(chunk)
            room -= len(chunk)
            news.put(("sent", chunk))
            self.bars["upload"].update(len(chunk))

    def _sent(self, uploads: Server, sending: "Sending", chunk: list[Job]) -> dict[str, Any] | None:
        """`chunk` uploaded: the reply; None when the request is to be made again with a lowered limit.

        An upload cut off once its request had gone may have been saved: it is sent again as it was, to the same
        places (`file_position`) and, creating the batch, with the same Idempotency-Key, and the server answers with
        what the first sending made instead of cutting the files out twice."""
        cut_off = 0
        while True:
            try:
                return self._send(uploads, sending, chunk)
            except ServerError as exc:
                if self._lowered_limit(exc, len(chunk)):
                    return None
                if exc.status == 400 and "rejected" in exc.body:
                    return {"id": sending.batch_id, "items": [], "rejected": exc.body["rejected"]}
                cut_off += 1
                if exc.status != 0 or cut_off > RESENDS:
                    raise

    def _send(self, server: Server, sending: "Sending", chunk: list[Job]) -> dict[str, Any]:
        with ExitStack() as stack:
            files = [(job.source.name, stack.enter_context(job.source.open("rb"))) for job in chunk]
            placed = {"file_position": str(sending.position)}
            if sending.batch_id is None:
                key = {"Idempotency-Key": sending.creation_key}
                return server.upload("/api/v1/batches", files, {**self.options, **placed}, headers=key)
            return server.upload(f"/api/v1/batches/{sending.batch_id}/files", files, placed)

    def _lowered_limit(self, exc: ServerError, sent: int) -> bool:
        """True when the server refused the request for its size and the limit is now lower."""
        stated = limit_in(exc.message, r"send at most (\d+)")
        if stated and stated < sent:
            self.per_request = stated
            return True
        if exc.status == 413 and sent > 1:
            self.per_request = max(1, sent // 2)
            return True
        return False

    def _finished(self, item: dict[str, Any], followed: Followed) -> None:
        """A finished item's cutout handed to a download thread, or its error put on its job; the item held
        until its job is known."""
        if item["status"] not in FINISHED:
            return
        job = followed.pending.pop(item["id"], None)
        if job is None:
            followed.early[item["id"]] = item
            return
        if item["status"] == FAILED:
            job.error = item["error"] or "failed"
            self.bars["cutouts"].update(1)
            return
        followed.downloading += 1
        saving = self.downloads.submit(self._save, job, item)
        saving.add_done_callback(functools.partial(_report_saved, followed.news, job))

    def _save(self, job: Job, item: dict[str, Any]) -> None:
        """A download thread: the item's cutout saved at the job's target."""
        if not hasattr(self._threads, "server"):
            self._threads.server = self.server.clone()
        save_new(job.target, functools.partial(self._threads.server.download, item["result"]))
        job.done = True
        job.confidence, job.needs_review = item.get("confidence"), bool(item.get("needs_review"))


def _report_saved(news: queue.SimpleQueue[News], job: Job, saving: Future[None]) -> None:
    """A download's end, told to the following thread (a download dropped at shutdown tells nothing)."""
    if not saving.cancelled():
        error = saving.exception()
        news.put(("failed", error) if error else ("saved", job))


def request_bytes(received: int) -> int:
    """About how many bytes of images the next request of a batch carries, once the batch has `received`."""
    return min(MAX_REQUEST_BYTES, max(MIN_REQUEST_BYTES, received))


def _next_request(waiting: list[Job], most: int, budget: int) -> tuple[list[Job], int]:
    """The jobs from the front of `waiting` for one request, and their bytes: at most `most`, and none more
    once `budget` bytes are reached (at least one)."""
    size = 0
    for count, job in enumerate(waiting[:most], start=1):
        size += job.source.stat().st_size
        if size >= budget:
            return waiting[:count], size
    return waiting[:most], size


def _assign(chunk: list[Job], items: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> list[Job]:
    """Match the server's items (in upload order) and refusals to the jobs sent; the jobs a full batch refused."""
    accepted = iter(items)
    upcoming = next(accepted, None)
    refusals = list(rejected)
    full: list[Job] = []
    for job in chunk:
        if upcoming is not None and upcoming["filename"] == job.source.name[:255]:
            job.item_id = upcoming["id"]
            upcoming = next(accepted, None)
            continue
        refusal = next((entry for entry in refusals if entry["filename"] == job.source.name[:255]), None)
        if refusal is not None:
            refusals.remove(refusal)
        error = refusal["error"] if refusal else "not accepted by the server"
        if error.startswith(BATCH_FULL):
            full.append(job)
        else:
            job.error = error
    return full
