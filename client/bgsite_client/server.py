"""Talking to a bgsite server: the batch API over HTTP, progress over the websocket."""

import copy
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, overload
from urllib.parse import urlsplit, urlunsplit

import requests
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

# Waiting out a 429 or 503: the server's Retry-After, within these bounds, this many times.
MAX_WAITS = 30
LONGEST_WAIT_SECONDS = 120.0
# With no websocket event for this long, the batch is read over HTTP instead.
QUIET_SECONDS = 30.0


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

    def clone(self) -> "Server":
        """This server and key on an HTTP session of its own, for another thread (a requests session is not
        made to be shared between threads)."""
        twin = copy.copy(self)
        twin.session = requests.Session()
        twin.session.headers.update(self.session.headers)
        return twin

    def request(self, method: str, path: str, *, rewind: Callable[[], None] = lambda: None, **kwargs: Any) -> Any:
        """A request, repeated after the server's Retry-After while it answers 429 or 503."""
        for _ in range(MAX_WAITS):
            rewind()
            try:
                reply = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                raise ServerError(0, f"could not reach {self.url}: {exc.__class__.__name__}") from exc
            if reply.status_code not in (429, 503):
                break
            time.sleep(_retry_after(reply))
        if reply.status_code >= 400:
            raise ServerError(reply.status_code, *_error_of(reply))
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def upload(self, path: str, files: Sequence[tuple[str, BinaryIO]], data: dict[str, str]) -> dict[str, Any]:
        def rewind() -> None:
            for _, handle in files:
                handle.seek(0)

        fields = [("files", (name, handle, "application/octet-stream")) for name, handle in files]
        return self.request("POST", path, files=fields, data=data, rewind=rewind).json()

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
