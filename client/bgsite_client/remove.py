"""`bgsite remove`: send the images that have no cutout yet, follow them, save each cutout as it finishes.

A batch's uploads go on in a thread of their own while the calling thread follows the batch and hands each
finished cutout to a few download threads: on a slow link the downloads do not wait for the last upload, and
on a long round trip they do not wait for one another.
"""

import functools
import queue
import threading
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
# An upload cut off once its request had gone is looked for in the batch, and sent again if the server has none of
# it, this many times in a row before the run ends with the error.
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
        batch_id: str | None = None
        room, received, known = self.per_batch, 0, set[str]()
        while waiting and room > 0:
            most = min(self.per_request, room) if batch_id else 1
            chunk, size = _next_request(waiting, most, request_bytes(received))
            sent = self._sent(uploads, batch_id, chunk, known)
            if sent is None:
                continue
            # A lost reply's files that the server lacks go again; otherwise every file of the chunk was sent.
            waiting[: len(chunk)] = [job for job in chunk if job not in sent[0]]
            chunk, reply = sent
            if batch_id is None and reply.get("id"):
                batch_id = reply["id"]
                news.put(("batch", batch_id))
            received += size
            full = _assign(chunk, reply["items"], reply.get("rejected", []))
            if full:  # the server's batches are smaller than we thought: these go in the next one
                waiting[:0] = full
                chunk = [job for job in chunk if job not in full]
                self.per_batch = max(1, self.per_batch - room + len(chunk))
                room = len(chunk)
            room -= len(chunk)
            known.update(job.item_id for job in chunk if job.item_id)
            news.put(("sent", chunk))
            self.bars["upload"].update(len(chunk))

    def _sent(
        self, uploads: Server, batch_id: str | None, chunk: list[Job], known: set[str]
    ) -> tuple[list[Job], dict[str, Any]] | None:
        """`chunk` uploaded: the jobs the reply is for (all of `chunk`, or those of a lost reply that the server has)
        and the reply; None when the request is to be made again with a lowered limit."""
        cut_off = 0
        while True:
            try:
                return chunk, self._send(uploads, batch_id, chunk)
            except ServerError as exc:
                if self._lowered_limit(exc, len(chunk)):
                    return None
                if exc.status == 400 and "rejected" in exc.body:
                    return chunk, {"id": batch_id, "items": [], "rejected": exc.body["rejected"]}
                if exc.status != 0 or batch_id is None or cut_off == RESENDS:
                    raise
                landed, items = _landed(uploads.json("GET", f"/api/v1/batches/{batch_id}")["items"], chunk, known)
                if landed:
                    return landed, {"id": batch_id, "items": items, "rejected": []}
                cut_off += 1

    def _send(self, server: Server, batch_id: str | None, chunk: list[Job]) -> dict[str, Any]:
        with ExitStack() as stack:
            files = [(job.source.name, stack.enter_context(job.source.open("rb"))) for job in chunk]
            if batch_id is None:
                return server.upload("/api/v1/batches", files, self.options)
            return server.upload(f"/api/v1/batches/{batch_id}/files", files, {})

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


def _landed(items: list[dict[str, Any]], chunk: list[Job], known: set[str]) -> tuple[list[Job], list[dict[str, Any]]]:
    """The jobs of `chunk` that the batch's `items` hold though the upload's reply was lost (its connection cut once
    the request had gone), and their items: items not `known` to another job, of a job's name and size. The server
    takes a request's files together: they are all of the chunk or none, but for files it refused, which are sent
    again to be refused in words."""
    unclaimed = [item for item in items if item["id"] not in known]
    landed, their_items = [], []
    for job in chunk:
        named = (job.source.name[:255], job.source.stat().st_size)
        match = next((item for item in unclaimed if (item["filename"], item.get("original_bytes")) == named), None)
        if match is not None:
            unclaimed.remove(match)
            landed.append(job)
            their_items.append(match)
    return landed, their_items


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
