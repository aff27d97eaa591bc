"""Talking to a bgsite server: the batch API over HTTP, progress over the websocket."""

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, overload
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import NewConnectionError
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

# Waiting out a 429 or 503: the server's Retry-After, within these bounds, this many times.
MAX_WAITS = 30
LONGEST_WAIT_SECONDS = 120.0
# With no websocket event for this long, the batch is read over HTTP instead.
QUIET_SECONDS = 30.0
# A server this run has reached that cannot be reached now (a restart, a deploy) is asked again every
# RECONNECT_DELAY seconds for this long before the run gives up.
UNREACHABLE_SECONDS = 120.0
RECONNECT_DELAY = 2.0
# An item's statuses in the batch API's JSON (the server's Item.Status) that the client acts on: through with an item
# once it is one of FINISHED.
DONE, FAILED = "done", "failed"
FINISHED = (DONE, FAILED)


class ServerError(Exception):
    """The server refused a request; `status` is its HTTP status (0 when it could not be reached)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body if isinstance(body, dict) else {}


class Server:
    def __init__(self, url: str, key: str, *, timeout: float = 120) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"X-Api-Key": key, "User-Agent": "bgsite-client/0.1"})
        self.key = key
        # Set once any request got an answer; shared with the clones. Before it, a server that cannot be reached is
        # a wrong address, said at once.
        self.reached = threading.Event()

    def clone(self) -> "Server":
        """This server and key on an HTTP session of its own, for another thread (a requests session is not
        made to be shared between threads)."""
        twin = copy.copy(self)
        twin.session = requests.Session()
        twin.session.headers.update(self.session.headers)
        return twin

    def request(self, method: str, path: str, *, rewind: Callable[[], None] = lambda: None, **kwargs: Any) -> Any:
        """A request, repeated after the server's Retry-After while it answers 429 or 503, and while a server this
        run has reached cannot be reached, for UNREACHABLE_SECONDS, when repeating it cannot do it twice: a read, or
        a request whose connection was never made. A restarted server had ended a run of hundreds of images; run
        again, it uploaded once more every image sent and not yet saved, and the server cut out each twice."""
        waits = 0
        unreachable_since = None
        while True:
            rewind()
            try:
                reply = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                unreachable_since = unreachable_since or time.monotonic()
                waited = time.monotonic() - unreachable_since
                if not self.reached.is_set() or not _repeatable(method, exc) or waited >= UNREACHABLE_SECONDS:
                    raise ServerError(0, f"could not reach {self.url}: {exc.__class__.__name__}") from exc
                time.sleep(RECONNECT_DELAY)
                continue
            self.reached.set()
            unreachable_since = None
            if reply.status_code not in (429, 503) or waits >= MAX_WAITS:
                break
            waits += 1
            time.sleep(_retry_after(reply))
        if reply.status_code >= 400:
            raise ServerError(reply.status_code, *_error_of(reply))
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def upload(
        self,
        path: str,
        files: Sequence[tuple[str, BinaryIO]],
        data: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        def rewind() -> None:
            for _, handle in files:
                handle.seek(0)

        fields = [("files", (name, handle, "application/octet-stream")) for name, handle in files]
        return self.request("POST", path, files=fields, data=data, headers=headers, rewind=rewind).json()

    def download(self, path: str, target: Path) -> int:
        """Stream `path` into `target` (which must not exist yet); its size."""
        with self.request("GET", path, stream=True) as reply, target.open("xb") as out:
            for chunk in reply.iter_content(1 << 16):
                out.write(chunk)
            return out.tell()

    @overload
    def batch_items(self, batch_id: str) -> Iterator[dict[str, Any]]: ...

    @overload
    def batch_items(self, batch_id: str, *, tick: float) -> Iterator[dict[str, Any] | None]: ...

    def batch_items(self, batch_id: str, *, tick: float | None = None) -> Iterator[dict[str, Any] | None]:
        """The batch's items as they change: a snapshot, then every change, from the websocket.

        Falls back to reading the batch over HTTP when the websocket is quiet or
        cannot be used, so a lost event only delays an item. Never ends by itself.
        With `tick`, None comes whenever that many seconds pass with no change, so
        the caller can look at other work while it waits.
        """
        wait = tick or QUIET_SECONDS
        while True:
            try:
                with connect(
                    f"{_ws_url(self.url)}/ws/batches/{batch_id}",
                    additional_headers={"X-Api-Key": self.key},
                    open_timeout=10,
                ) as socket:
                    quiet = 0.0
                    while True:
                        try:
                            message = socket.recv(timeout=wait)
                        except TimeoutError:
                            quiet += wait
                            if tick is None or quiet >= QUIET_SECONDS:
                                raise
                            yield None
                            continue
                        quiet = 0.0
                        yield from _items_of(json.loads(message))
            except (TimeoutError, OSError, WebSocketException):
                yield from self.json("GET", f"/api/v1/batches/{batch_id}")["items"]
                time.sleep(1)


def _items_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message.get("event") == "snapshot":
        return list(message["batch"]["items"])
    if message.get("event") == "item":
        return [message["item"]]
    return []


def _ws_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))


def _repeatable(method: str, exc: requests.RequestException) -> bool:
    """Whether a request that failed so may be sent again without the server doing it twice."""
    if method in ("GET", "HEAD"):
        return isinstance(exc, (requests.ConnectionError, requests.Timeout))
    # Nothing of it was sent: the connection itself could not be made (refused while the server restarts).
    return isinstance(exc, requests.ConnectionError) and _never_connected(exc)


def _never_connected(exc: BaseException) -> bool:
    """Whether urllib3's NewConnectionError is among the causes: requests wraps it in MaxRetryError's reason."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, NewConnectionError):
            break
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__ or seen.__context__)
    return isinstance(seen, NewConnectionError)


def _retry_after(reply: requests.Response) -> float:
    try:
        seconds = float(reply.headers.get("Retry-After", "5"))
    except ValueError:
        seconds = 5.0
    return min(max(seconds, 0.5), LONGEST_WAIT_SECONDS)


def _error_of(reply: requests.Response) -> tuple[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300] or reply.reason, None
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), body
    return str(body)[:300], body


def limit_in(message: str, pattern: str) -> int | None:
    """A number the server states in an error, e.g. 'send at most 100 per request'."""
    found = re.search(pattern, message)
    return int(found.group(1)) if found else None
