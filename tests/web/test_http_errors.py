"""removal.web.http_errors.BodySizeLimit at the ASGI level: a body that stops arriving gets 408 in its API's shape."""

import asyncio
import json
from typing import Any

import pytest

from bgsite.asgi import application
from removal.web import http_errors

pytestmark = pytest.mark.django_db(transaction=True)


def stalled_post(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
    """POST `path` whose body sends its first 10 bytes of 1,000 and then nothing: the reply's status and JSON."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", b"1000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    chunks = [{"type": "http.request", "body": b"x" * 10, "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # a client that sends no more
        raise AssertionError("not reached")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), 10))  # its http door is BodySizeLimit
    (start,) = [message for message in sent if message["type"] == "http.response.start"]
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], json.loads(body)


def test_a_body_that_stops_arriving_is_refused_with_408_in_its_apis_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_errors, "BODY_IDLE_SECONDS", 0.2)
    form = [(b"content-type", b"application/x-www-form-urlencoded")]

    status, batch_api = stalled_post("/api/v1/batches", form)
    assert status == 408 and batch_api["error"].startswith("the request body stopped arriving")

    status, removebg = stalled_post("/v1.0/removebg", form)
    assert status == 408 and removebg["errors"][0]["code"] == "timeout"
