"""bgsite_client.server: a server this run has reached that restarts is waited for, when asking again is safe."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bgsite_client import server as server_module
from bgsite_client.server import Server, ServerError

from tests.conftest import free_port


class Answers(BaseHTTPRequestHandler):
    """Answers every GET and POST with {"ok": true}; remembers each request's method and path."""

    seen: list[str]

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"{self.command} {self.path}")
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class HangsUp(Answers):
    """Reads the request, then closes the connection without an answer, as a server killed mid-request does."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"{self.command} {self.path}")
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = _answer


@contextmanager
def serving(port: int, seen: list[str], handler: type[Answers] = Answers) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), type("Handler", (handler,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "RECONNECT_DELAY", 0.1)


def back_after(seconds: float, port: int, seen: list[str]) -> threading.Event:
    """The server on `port` starts again after `seconds`; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        time.sleep(seconds)
        with serving(port, seen):
            stop.wait(30)

    threading.Thread(target=run, daemon=True).start()
    return stop


def test_a_restarted_server_is_waited_for_reads_and_for_uploads_it_never_got() -> None:
    port, seen = free_port(), []
    client = Server(f"http://127.0.0.1:{port}", "key")
    with serving(port, seen):
        assert client.json("GET", "/api/v1/batches") == {"ok": True}
    # Down now (a restart): the read and the upload are sent once it answers again, each once.
    stop = back_after(1.0, port, seen)
    try:
        assert client.clone().json("GET", "/api/v1/batches/1") == {"ok": True}
        assert client.clone().upload("/api/v1/batches/1/files", [], {"a": "b"}) == {"ok": True}
    finally:
        stop.set()
    assert seen == ["GET /api/v1/batches", "GET /api/v1/batches/1", "POST /api/v1/batches/1/files"]


def test_a_server_never_reached_is_said_at_once() -> None:
    client = Server(f"http://127.0.0.1:{free_port()}", "key")
    started = time.monotonic()
    with pytest.raises(ServerError, match="could not reach"):
        client.json("GET", "/api/v1/batches")
    assert time.monotonic() - started < 1


def test_an_upload_the_server_may_have_received_is_not_sent_again() -> None:
    port, seen = free_port(), []
    client = Server(f"http://127.0.0.1:{port}", "key")
    with serving(port, seen):
        client.json("GET", "/api/v1/batches")
    with serving(port, seen, HangsUp), pytest.raises(ServerError, match="could not reach"):
        client.upload("/api/v1/batches/1/files", [], {"a": "b"})
    assert seen == ["GET /api/v1/batches", "POST /api/v1/batches/1/files"]


def test_a_server_gone_for_good_ends_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "UNREACHABLE_SECONDS", 0.5)
    port, seen = free_port(), []
    client = Server(f"http://127.0.0.1:{port}", "key")
    with serving(port, seen):
        client.json("GET", "/api/v1/batches")
    started = time.monotonic()
    with pytest.raises(ServerError, match="could not reach"):
        client.json("GET", "/api/v1/batches")
    assert 0.5 <= time.monotonic() - started < 3


def test_the_item_statuses_the_client_acts_on_are_the_servers() -> None:
    """The client is a package of its own and cannot import the server's Item.Status: held to it here."""
    from removal.models import Item

    assert (server_module.DONE, server_module.FAILED) == (Item.Status.DONE, Item.Status.FAILED)
    assert server_module.FINISHED == (server_module.DONE, server_module.FAILED)
