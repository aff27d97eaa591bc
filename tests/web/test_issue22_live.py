"""Live: what a hostile client found over real HTTP (issue 22), against a real server process.

The server's protocols (bgsite.server), the body watch (removal.web.body_limit.BodySizeLimit
with bgsite.multipart_watch), the log filters and the synchronous endpoints' waiting room
only exist in a served process.
"""

import asyncio
import base64
import contextlib
import io
import os
import re
import select
import socket
import threading
import time
from typing import Any

import pytest
import requests
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer, photo_bytes

pytestmark = pytest.mark.live

MAX_UPLOAD_BYTES = 2_000_000


@pytest.fixture(scope="module")
def server(server_factory: Any) -> LiveServer:
    served = server_factory(
        MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES), MAX_WAITING_CUTOUTS="2", METRICS_ALLOWED_NETWORKS="127.0.0.1/32"
    )
    served.start()
    return served


@pytest.fixture(scope="module")
def key(server: LiveServer) -> str:
    return server.create_user("hostile")


def exchange(server: LiveServer, request: bytes) -> bytes:
    """Send a whole request on a new connection, then read the answer to its end (a reset fails the test)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_oversized_request_heads_get_431_and_414_not_a_reset(server: LiveServer) -> None:
    log_start = len(server.log())
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (index, b"a" * 1024) for index in range(200))
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nX-Request-ID: lb-431\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert answer.endswith(b'"error": "the request headers are over 16 KiB in all", "request_id": "lb-431"}')
    assert b"\r\nX-Request-ID: lb-431\r\n" in answer  # the client's, as every other reply carries it back
    answer = exchange(server, b"GET /healthz?" + b"q" * 1_000_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 Request-URI Too Long\r\n"), answer[:200]
    assert b'"error": "the request line (method, path and query string) is over 8192 bytes"' in answer
    new_id = re.search(rb"\r\nX-Request-ID: ([0-9a-f]{32})\r\n", answer)  # none sent (nor read): a new one
    assert new_id is not None, answer[:300]
    # Each refusal is the server's one WARNING line (written before its answer), without uvicorn's
    # "Invalid HTTP request received." before it.
    lines = server.log()[log_start:].splitlines()
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    assert [re.sub(r" \[request_id=\S+\]", "", line.split(" ", 2)[2]).split(" from ")[0] for line in lines] == [
        "WARNING bgsite.server: refused a request",
        "WARNING bgsite.server: refused a request",
    ], lines
    assert lines[0].endswith(" with 431: the request headers are over 16 KiB in all"), lines
    assert "[request_id=lb-431]" in lines[0] and f"[request_id={new_id.group(1).decode()}]" in lines[1], lines
    assert lines[1].endswith(" with 414: the request line (method, path and query string) is over 8192 bytes"), lines
    assert b"\r\ncontent-type: application/json\r\n" in answer  # the API's JSON error (tests/test_server.py)


def test_an_oversized_part_ends_a_batch_upload_as_it_passes_the_limit(server: LiveServer, key: str) -> None:
    head = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="huge.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    request = (
        b"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: " + key.encode() + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 150000000\r\n\r\n" + head
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        while not select.select([connection], [], [], 0.05)[0]:
            assert sent < 2 * MAX_UPLOAD_BYTES, "no answer long after the part passed the per-file limit"
            connection.sendall(b"x" * 100_000)
            sent += 100_000
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert sent > MAX_UPLOAD_BYTES
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    error = "huge.jpg: the file is larger than 2 MB, the limit per file; the upload was stopped there"
    assert b'{"status": 413, "error": "' + error.encode() + b'", "request_id": "' in answer


def multipart(parts: list[tuple[bytes, bytes]]) -> bytes:
    body = b""
    for filename, content in parts:
        body += b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n\r\n'
        body += content + b"\r\n"
    return body + b"--XyZ--\r\n"


def test_files_the_parser_skips_are_listed_in_rejected(server: LiveServer, key: str) -> None:
    photo = photo_bytes("coffee.png", size=(64, 48))
    headers = {"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary=XyZ"}
    reply = requests.post(
        f"{server.url}/api/v1/batches",
        data=multipart([(b"..", photo), (b"caf\xe9.jpg", photo), (b"ok.jpg", photo)]),
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    assert [item["filename"] for item in reply.json()["items"]] == ["ok.jpg"]
    assert reply.json()["rejected"] == [
        {"filename": "..", "error": "'..' is not a file name; give the file a name"},
        {
            "filename": "caf\ufffd.jpg",
            "error": "its part's headers are not UTF-8, so its name cannot be read; send it in UTF-8",
        },
    ]
    only_unreadable = requests.post(
        f"{server.url}/bgremove", data=multipart([(b"..", photo)]), headers=headers, timeout=30
    )
    assert only_unreadable.status_code == 400
    assert only_unreadable.json()["error"] == "..: '..' is not a file name; give the file a name"


UNREADABLE_CONTENT_TYPES = {
    "over 10,000 characters": [b"multipart/form-data; boundary=XyZ; note=" + b"a" * 10_000],
    "an unknown charset": [b"text/plain; a*=bogus''x"],
    "two that Django joins": [b"text/plain; note=" + b"a" * 5_500] * 2,
}


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/batches", "/bgremove", "/v1.0/removebg", "/accounts/login/"])
def test_a_content_type_django_cannot_read_is_a_400(server: LiveServer, key: str, path: str) -> None:
    """Django makes no request of a Content-Type its parser refuses (ValueError), and its handler answered 500."""
    logged_before = len(server.log())
    for why, content_types in UNREADABLE_CONTENT_TYPES.items():
        head = b"".join(b"Content-Type: " + content_type + b"\r\n" for content_type in content_types)
        answer = exchange(
            server,
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: " + key.encode() + b"\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n" + head + b"\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 400 "), (why, answer[:400])
        if path.startswith("/accounts/"):  # a page's path: the site's page, which a person reads
            assert b"Content-Type: text/html" in answer and b"<title>Bad request" in answer, (why, answer[:400])
        else:  # an API's or a probe's: its JSON, with the reason
            assert b"cannot be read" in answer, (why, answer[:400])
    assert "Traceback" not in server.log()[logged_before:], server.log()[logged_before:]


@pytest.mark.parametrize("path", ["/api/v1/batches", "/bgremove", "/v1.0/removebg"])
def test_a_file_name_too_long_to_read_is_a_400(server: LiveServer, key: str, path: str) -> None:
    """Django reads a part's headers up to 1 KiB."""
    logged_before = len(server.log())
    reply = requests.post(
        f"{server.url}{path}",
        data=multipart([(b"a" * 100_000 + b".jpg", b"x")]),
        headers={"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary=XyZ"},
        timeout=30,
    )
    assert reply.status_code == 400 and "header size exceeded" in reply.text, reply.text
    assert "Traceback" not in server.log()[logged_before:], server.log()[logged_before:]


async def send_invalid_utf8(server: LiveServer, key: str, batch_id: str) -> int:
    async with connect(f"{server.ws_url}/ws/batches/{batch_id}?key={key}") as websocket:
        await websocket.recv()  # the snapshot
        mask = os.urandom(4)
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(b"\xff\xfe"))
        websocket.transport.write(bytes([0x81, 0x80 | 2]) + mask + payload)  # a text frame, not UTF-8
        try:
            await asyncio.wait_for(websocket.recv(), 10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
    raise AssertionError("the websocket stayed open")


def test_client_errors_are_one_warning_line_each(server: LiveServer, key: str) -> None:
    log_start = len(server.log())
    assert requests.get(f"{server.url}/healthz", headers={"Host": "evil.example"}, timeout=10).status_code == 400
    malformed = requests.post(
        f"{server.url}/api/v1/batches",
        data=b"zzz",
        headers={"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary="},
        timeout=10,
    )
    assert malformed.status_code == 400 and "could not be read" in malformed.json()["error"]
    photo = photo_bytes("coffee.png", size=(40, 30))
    batch = requests.post(f"{server.url}/api/v1/batches", files={"files": ("a.jpg", photo)}, headers={"X-Api-Key": key})
    assert asyncio.run(send_invalid_utf8(server, key, batch.json()["id"])) == 1007
    time.sleep(0.5)
    log = server.log()[log_start:]
    assert "Traceback" not in log and "ERROR" not in log, log
    assert re.search(
        r"WARNING django.security.DisallowedHost \[request_id=\w+\]: Invalid HTTP_HOST header: 'evil.exa", log
    )
    assert "WARNING bgsite.server: closed a websocket from 127.0.0.1:" in log
    assert key not in log


def distinct_photo(index: int) -> bytes:
    with Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(200 + index * 8, 200)))) as image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        return buffer.getvalue()


def test_a_full_waiting_room_answers_503_at_once_while_batches_queue(server: LiveServer, key: str) -> None:
    replies: list[tuple[requests.Response, float]] = []  # and the seconds each took

    def call(index: int) -> None:
        started = time.monotonic()
        reply = requests.post(
            f"{server.url}/bgremove",
            files={"file": ("p.jpg", distinct_photo(index))},
            headers={"X-Api-Key": key},
            timeout=120,
        )
        replies.append((reply, time.monotonic() - started))

    callers = [threading.Thread(target=call, args=(index,)) for index in range(8)]
    for caller in callers:
        caller.start()
    batch = requests.post(
        f"{server.url}/api/v1/batches",
        files=[("files", (f"b{index}.jpg", distinct_photo(20 + index))) for index in range(4)],
        headers={"X-Api-Key": key},
        timeout=60,
    )
    for caller in callers:
        caller.join()
    assert batch.status_code == 201 and len(batch.json()["items"]) == 4
    statuses = sorted(reply.status_code for reply, _ in replies)
    assert set(statuses) == {200, 503}, statuses
    for reply, _ in replies:
        if reply.status_code == 503:
            assert reply.headers["Retry-After"] == "2" and "calls are waiting for their cutout" in reply.json()["error"]
        else:
            with Image.open(io.BytesIO(base64.b64decode(reply.json()["imgData"]))) as cutout:
                assert cutout.mode == "RGBA" and cutout.getchannel("A").getextrema() == (0, 255)
    assert min(took for reply, took in replies if reply.status_code == 503) < 2, "refused at once, not after waiting"
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    refused = statuses.count(503)
    assert f'bgsite_sync_calls_refused_total{{path="/bgremove"}} {float(refused)}' in metrics


def test_a_body_trickled_slower_than_the_least_rate_gets_408_past_its_grace(server_factory: Any) -> None:
    """A client sending a few bytes every 0.2 s, never idle for the 30 s that refuse a stalled body, held its
    connection and its request for as long as it liked: past BODY_RATE_GRACE_SECONDS a body must bring
    BODY_MIN_BYTES_PER_SECOND for each further second, else 408 in its API's shape, and the connection closes."""
    served = server_factory(BODY_RATE_GRACE_SECONDS="1", BODY_MIN_BYTES_PER_SECOND="1000")
    served.start()
    head = (
        f"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {served.create_user('trickler')}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    answer = b""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
        connection.sendall(head)
        began = time.monotonic()
        while not answer and time.monotonic() - began < 10:
            with contextlib.suppress(OSError):  # closed after its answer
                connection.sendall(b"a=1&")
            if select.select([connection], [], [], 0.2)[0]:
                answer = connection.recv(65536)
        answered_after = time.monotonic() - began
        while answer and (chunk := connection.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer.lower()
    assert 1 <= answered_after < 5
    assert re.search(
        rb'"error": "the request body came too slowly: \d+ bytes in [12] s, where past its first 1 s a body must '
        rb'bring 1,000 bytes for each second"',
        answer,
    )
