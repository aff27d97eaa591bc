"""bgsite/server.py in process: what its websocket protocol does after closing a socket itself, and how long its HTTP
protocol waits for a request's head."""

import asyncio
import http.client
import io
import json
import re
import socket
import time
from typing import Any

import pytest
import requests
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bgsite import server
from bgsite.server import HttpProtocol, WebSocketProtocol
from tests.conftest import LiveServer, photo_bytes


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written, self.closed = b"", False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:  # a refusal ends with a lingering close (HttpProtocol.linger)
        return False

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


async def closed_for_invalid_utf8() -> WebSocketProtocol:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called here")

    config = Config(app=app, ws="bgsite.server:WebSocketProtocol", lifespan="off")
    config.load()
    protocol = WebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(Transport())
    protocol.handshake_complete = True  # the app accepted the socket
    protocol._close_quietly(1007)
    return protocol


def test_what_the_app_sends_after_the_server_closed_its_socket_is_dropped_not_raised_into_it() -> None:
    # A batch event can be on its way to the client when the server closes the socket for a
    # non-UTF-8 message (seen in a live run: "Unexpected ASGI message 'websocket.send', after
    # sending 'websocket.close'" and a traceback in the log).
    async def scenario() -> object:
        protocol = await closed_for_invalid_utf8()
        assert isinstance(protocol.transport, Transport)
        written = protocol.transport.written
        await protocol.send({"type": "websocket.send", "text": '{"event": "item"}'})
        await protocol.send({"type": "websocket.close", "code": 1000})
        assert protocol.transport.written == written  # nothing more went to the client
        return await protocol.receive()

    # The app still learns of the close, with its code (the close frame itself: test_issue22_live).
    assert asyncio.run(scenario()) == {"type": "websocket.disconnect", "code": 1007, "reason": ""}


async def http_connection(sent: list[bytes], *, wait: float) -> Transport:
    """A connection to HttpProtocol that is sent `sent`, one piece at a time, then left `wait` seconds."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    config = Config(app=app, http="bgsite.server:HttpProtocol", lifespan="off")
    config.load()
    protocol = HttpProtocol(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    for piece in sent:
        protocol.data_received(piece)
        await asyncio.sleep(0)
    await asyncio.sleep(wait)
    return transport


HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def head_timeout(monkeypatch: Any) -> float:
    monkeypatch.setattr(server, "HEAD_TIMEOUT_SECONDS", 0.05)
    return 0.05


def test_a_head_sent_a_byte_at_a_time_past_the_timeout_gets_408_and_the_connection_closes(head_timeout: float) -> None:
    # uvicorn held such connections forever: a client could open them until the process ran out of files.
    transport = asyncio.run(http_connection([b"G", b"ET /api/v1/models HTTP/1.1\r\n"], wait=head_timeout * 3))
    assert transport.closed
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), transport.written
    # The API's JSON error (it was plain text), as every other error reply
    headers, body = reply_headers(transport.written), json.loads(transport.written.split(b"\r\n\r\n", 1)[1])
    assert (headers["content-type"], headers["connection"]) == ("application/json", "close")
    assert body == {
        "status": 408,
        "error": f"the request's head (request line and headers) was not sent whole within {head_timeout:g} s",
        "request_id": headers["x-request-id"],
    }


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(head_timeout: float) -> None:
    transport = asyncio.run(http_connection([], wait=head_timeout * 3))
    assert (transport.closed, transport.written) == (True, b"")


def test_a_head_sent_in_time_is_answered_and_its_connection_kept(head_timeout: float) -> None:
    transport = asyncio.run(http_connection([HEAD[:10], HEAD[10:]], wait=head_timeout * 3))
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n"), transport.written
    assert not transport.closed  # kept alive for the next request (uvicorn's own keep-alive timeout closes it)


def test_the_next_request_on_a_kept_connection_has_the_same_time_for_its_head(head_timeout: float) -> None:
    transport = asyncio.run(http_connection([HEAD, HEAD[:5]], wait=head_timeout * 3))
    assert transport.closed
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 408 Request Timeout\r\n" in transport.written


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"GET / HTTP/1.1\r\nAccept-Language: de-DE,de;q=0.9\r\nHost: 127", "de"),
        (b"GET /batches/ HTTP/1.1\r\nCookie: a=b; django_language=fr\r\nAccept-Language: de\r\nHost: 127", "fr"),
        (b"GET /accounts/login/ HTTP/1.1\r\nHost: 127", "en"),
    ],
)
def test_a_late_head_at_a_page_is_refused_with_the_sites_page_in_the_readers_language(
    head_timeout: float, head: bytes, language: str
) -> None:
    # A browser showed the API's JSON. The page speaks as LocaleMiddleware would: the picker's cookie, else the
    # browser's languages.
    transport = asyncio.run(http_connection([head], wait=head_timeout * 3))
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), transport.written
    headers, page = reply_headers(transport.written), transport.written.split(b"\r\n\r\n", 1)[1].decode()
    assert (headers["content-type"], headers["connection"]) == ("text/html; charset=utf-8", "close")
    assert int(headers["content-length"]) == len(page.encode())
    assert_the_sites_page(page, 408, language)


@pytest.mark.parametrize("path", [b"/healthz", b"/readyz", b"/metrics"])
def test_a_late_head_at_a_probe_is_refused_with_the_apis_json(head_timeout: float, path: bytes) -> None:
    # Load balancers, orchestrators and Prometheus read these: the API's JSON, not the site's page.
    transport = asyncio.run(http_connection([b"GET " + path + b" HTTP/1.1\r\nHost: 127"], wait=head_timeout * 3))
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), transport.written
    assert reply_headers(transport.written)["content-type"] == "application/json"
    assert json.loads(transport.written.split(b"\r\n\r\n", 1)[1])["status"] == 408


def reply_headers(written: bytes) -> dict[str, str]:
    head = written.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head)}


def test_a_late_head_is_refused_with_the_request_id_its_client_sent_or_a_new_one(
    head_timeout: float, caplog: pytest.LogCaptureFixture
) -> None:
    """Every reply carries X-Request-ID (bgsite.asgi), but the server's own refusals, which the app never sees,
    carried none, and their log line no request_id: nothing to quote, or to find the line by."""
    with_id = b"GET /healthz HTTP/1.1\r\nX-Request-ID: proxy-7f3a\r\nHost: 127.0.0.1\r\n"
    transport = asyncio.run(http_connection([with_id], wait=head_timeout * 3))
    assert reply_headers(transport.written)["x-request-id"] == "proxy-7f3a"
    refused = next(record for record in caplog.records if record.name == "bgsite.server")
    assert refused.request_id == "proxy-7f3a"  # type: ignore[attr-defined]

    transport = asyncio.run(http_connection([HEAD[:20]], wait=head_timeout * 3))
    assert re.fullmatch(r"[0-9a-f]{32}", reply_headers(transport.written)["x-request-id"])


@pytest.mark.parametrize(
    "head",
    [b"POST /v1.0/removebg HTTP/1.1\r\nHost: 127", b"POST http://127.0.0.1:8000/v1.0/removebg?size=auto HTTP/1"],
)
def test_a_late_head_under_v1_0_is_refused_in_remove_bgs_shape(head_timeout: float, head: bytes) -> None:
    transport = asyncio.run(http_connection([head], wait=head_timeout * 3))
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), transport.written
    reason = f"the request's head (request line and headers) was not sent whole within {head_timeout:g} s"
    request_id = reply_headers(transport.written)["x-request-id"]
    assert json.loads(transport.written.split(b"\r\n\r\n", 1)[1]) == {
        "errors": [{"title": reason, "code": "timeout", "request_id": request_id}]
    }


@pytest.mark.parametrize(
    "sent",
    [
        [b"POST /v1.0/removebg HTTP/1.1\r\nOrigin: https://shop.example\r\nX-Api-Key: a\x00b\r\n\r\n"],  # 400
        [b"POST /api/v1/batches HTTP/1.1\r\nOrigin: https://shop.example\r\nHost: 127"],  # 408
    ],
)
def test_a_refusal_under_an_api_is_readable_by_a_page_of_an_allowed_origin(
    head_timeout: float, settings: Any, sent: list[bytes]
) -> None:
    # Without Access-Control-Allow-Origin the browser hid the refusal from the page: a network error, not the reason.
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    headers = reply_headers(asyncio.run(http_connection(sent, wait=head_timeout * 3)).written)
    assert (headers["access-control-allow-origin"], headers["vary"]) == ("https://shop.example", "Origin")
    settings.CORS_ALLOWED_ORIGINS = ["https://other.example"]
    assert "access-control-allow-origin" not in reply_headers(asyncio.run(http_connection(sent, wait=0.2)).written)


@pytest.mark.parametrize(
    ("head", "path"),
    [
        (b"GET /v1.0/account?x=1 HTTP/1.1", "/v1.0/account"),
        (b"\r\nPOST /v1.0%2Fremovebg HTTP/1.1", "/v1.0/removebg"),  # decoded, as uvicorn decodes the scope's
        (b"GET https://example.com/v1.0/account#top", "/v1.0/account"),
        (b"GET /v1.0/removeb", ""),  # its path's end not come
        (b"NOT-A-REQUEST-LINE\r\n", ""),
        (b"NOT HTTP AT ALL\r\n", ""),  # "HTTP" is no path: a browser's page was given for it
    ],
)
def test_a_refused_heads_path_is_read_from_its_request_line_as_far_as_it_came(head: bytes, path: str) -> None:
    assert server.request_line_path(head)[1] == path


# --- live: a refused body, sent whole before its reply is read (as a reverse proxy sends it) -------------------------

PROXY_BODY_BYTES = 60_000_000  # docs/deploy.md's nginx lets 60 MB through; bgsite takes 54 MB at /bgremove


@pytest.mark.live
@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_a_body_refused_unread_and_sent_whole_before_its_reply_is_read_gets_the_whole_reply(
    embedded_server: LiveServer, version: str
) -> None:
    # nginx sends a buffered body whole (over HTTP/1.0 by default), then reads the reply. The server answered its 413
    # and closed the connection at once, on bytes it had not read: the client got a reset, and nginx answered
    # "502 Bad Gateway" (or cut the 413 short) where the API's own 413 was due. Lingering, the server reads and
    # drops the rest for a while after its answer, and that answer arrives whole.
    head = (
        f"POST /bgremove {version}\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {PROXY_BODY_BYTES}\r\n\r\n"
    )
    megabyte = b"\x00" * 1_000_000
    with socket.create_connection(("127.0.0.1", embedded_server.port), timeout=30) as raw:
        raw.sendall(head.encode())
        for _ in range(PROXY_BODY_BYTES // len(megabyte)):
            raw.sendall(megabyte)
        reply = b""
        while piece := raw.recv(65536):
            reply += piece
    parsed = http.client.HTTPResponse(_Received(reply))  # type: ignore[arg-type]
    parsed.begin()
    assert (parsed.status, parsed.getheader("Connection")) == (413, "close"), reply[:300]
    assert "the request body is larger than" in json.loads(parsed.read())["error"]  # whole: chunked to its end


# Requests h11 cannot read, each with the reason the reply gives.
UNREADABLE = [
    (b"GET /api/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: a\x00b\r\n\r\n", "illegal header line"),
    (
        b"POST /bgremove HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "conflicting Content-Length headers",
    ),
    (
        b"POST /bgremove HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n" + b"\x1f\x8b" * 5000,
        "Only Transfer-Encoding: chunked is supported",
    ),
    (b"NOT HTTP AT ALL\r\n\r\n", "illegal request line"),
    (  # the head read, the app called; then a chunk's size that is not one
        b"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "illegal chunk header",
    ),
]


@pytest.mark.live
@pytest.mark.parametrize(("request_bytes", "reason"), UNREADABLE)
def test_a_request_h11_cannot_read_gets_the_apis_json_400_with_why_and_its_connection_closes(
    embedded_server: LiveServer, request_bytes: bytes, reason: str
) -> None:
    # uvicorn answered "Invalid HTTP request received." as text/plain: a client of a JSON API failed to parse it.
    log_start = len(embedded_server.log())
    parsed = refused_over_a_socket(embedded_server, request_bytes)
    assert (parsed.status, parsed.getheader("Content-Type"), parsed.getheader("Connection")) == (
        400,
        "application/json",
        "close",
    )
    assert json.loads(parsed.read()) == {
        "status": 400,
        "error": f"the request could not be read as HTTP ({reason})",
        "request_id": parsed.getheader("X-Request-ID"),
    }
    time.sleep(0.2)
    logged = embedded_server.log()[log_start:]
    assert f"with 400: the request could not be read as HTTP ({reason})" in logged, logged
    assert "Invalid HTTP request received." not in logged and "Traceback" not in logged, logged
    assert "a\\x00b" not in logged  # the bytes h11 quotes (a header that may hold a key) are not logged


def refused_over_a_socket(live: LiveServer, request_bytes: bytes) -> http.client.HTTPResponse:
    """The reply to `request_bytes`, read to the connection's end (the server closes it: a reset would fail here)."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.sendall(request_bytes)
        reply = b""
        while piece := raw.recv(65536):
            reply += piece
    parsed = http.client.HTTPResponse(_Received(reply))  # type: ignore[arg-type]
    parsed.begin()
    assert parsed.getheader("Connection") == "close", reply[:300]
    return parsed


LONG_REQUEST_LINE = "the request line (method, path and query string) is over 8192 bytes"
HEADERS_TOO_LARGE = "the request headers are over 16 KiB in all"


def refused_at(path: str, accept_language: str = "") -> list[tuple[bytes, int, str]]:
    """Requests to `path` the server refuses before the app sees them: (request, status, reason)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    head += f"Accept-Language: {accept_language}\r\n".encode() if accept_language else b""
    return [
        (head + b"X-Api-Key: a\x00b\r\n\r\n", 400, "the request could not be read as HTTP (illegal header line)"),
        (
            head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            400,
            "the request could not be read as HTTP (conflicting Content-Length headers)",
        ),
        (
            head + b"Transfer-Encoding: gzip\r\n\r\n" + b"\x1f\x8b" * 5000,
            400,
            "the request could not be read as HTTP (Only Transfer-Encoding: chunked is supported)",
        ),
        (  # the head read, the app called: its path is the request's
            head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "the request could not be read as HTTP (illegal chunk header)",
        ),
        # over 16 KiB and not ended yet (a whole head that came at once is read, whatever its size)
        (f"GET {path}?size=auto&x={'a' * 17_000}".encode(), 414, LONG_REQUEST_LINE),
        (head + b"X-Pad: " + b"a" * 17_000, 431, HEADERS_TOO_LARGE),
    ]


# remove.bg's (status, code) for each status the server refuses with (removal.web.http_errors.REMOVEBG_CODES).
REMOVEBG_REFUSAL_CODES = {400: "invalid_parameter", 414: "uri_too_long", 431: "request_header_fields_too_large"}


@pytest.mark.live
@pytest.mark.parametrize(("request_bytes", "status", "reason"), refused_at("/v1.0/removebg"))
def test_the_servers_own_refusals_under_v1_0_are_in_remove_bgs_shape(
    embedded_server: LiveServer, request_bytes: bytes, status: int, reason: str
) -> None:
    # They were {"status", "error"} at every path: a remove.bg client reads errors[0].title, and found none.
    parsed = refused_over_a_socket(embedded_server, request_bytes)
    assert (parsed.status, parsed.getheader("Content-Type")) == (status, "application/json")
    assert json.loads(parsed.read()) == {
        "errors": [
            {"title": reason, "code": REMOVEBG_REFUSAL_CODES[status], "request_id": parsed.getheader("X-Request-ID")}
        ]
    }


@pytest.mark.live
@pytest.mark.parametrize("path", ["/bgremove", "/api/v1/batches"])
@pytest.mark.parametrize(("status", "reason"), [(414, LONG_REQUEST_LINE), (431, HEADERS_TOO_LARGE)])
def test_the_servers_own_refusals_at_pixlabs_paths_and_the_batch_api_are_the_apis_json_error(
    embedded_server: LiveServer, path: str, status: int, reason: str
) -> None:
    request_bytes = next(sent for sent, refused, _ in refused_at(path) if refused == status)
    parsed = refused_over_a_socket(embedded_server, request_bytes)
    assert json.loads(parsed.read()) == {
        "status": status,
        "error": reason,
        "request_id": parsed.getheader("X-Request-ID"),
    }


# What each page says in English (templates/<status>.html), and a line of their layout in each language.
PAGE_TITLES = {400: "Bad request", 408: "Request timed out", 414: "Address too long", 431: "Request headers too large"}
UPLOAD_PAGE_LINK = {"en": "Go to the upload page", "de": "Zur Upload-Seite", "fr": "Aller à la page d\u2019envoi"}


def assert_the_sites_page(page: str, status: int, language: str) -> None:
    assert f'<html lang="{language}">' in page and UPLOAD_PAGE_LINK[language] in page
    assert language != "en" or f"<h1>{PAGE_TITLES[status]}</h1>" in page


@pytest.mark.live
@pytest.mark.parametrize("path", ["/", "/batches/", "/accounts/login/"])
def test_the_servers_own_refusals_at_the_sites_pages_are_its_html_error_pages(
    embedded_server: LiveServer, path: str
) -> None:
    # They were the API's JSON, which a browser shows as text.
    for language in ("en", "fr"):
        for request_bytes, status, _ in refused_at(path, accept_language=language):
            parsed = refused_over_a_socket(embedded_server, request_bytes)
            assert (parsed.status, parsed.getheader("Content-Type")) == (status, "text/html; charset=utf-8")
            assert_the_sites_page(parsed.read().decode(), status, language if status != 414 else "en")  # 414: the
            # request line is all that came


@pytest.mark.live
@pytest.mark.parametrize("path", ["/bgremove", "/v1.0/removebg"])
def test_a_refused_head_request_gets_its_refusal_without_a_body(embedded_server: LiveServer, path: str) -> None:
    # It came with a JSON body, which a HEAD request's reply never has: the client took it for the next reply.
    head = f"HEAD {path} HTTP/1.1\r\nX-Request-ID: probe-42\r\nX-Api-Key: a\x00b\r\n\r\n"
    parsed = refused_over_a_socket(embedded_server, head.encode())
    # and with a new request id, not the client's: h11 had taken the head it could not read out of its buffer
    assert parsed.getheader("X-Request-ID") == "probe-42"
    parsed._method = "HEAD"  # http.client reads no body for a HEAD: nothing may follow the head
    assert parsed.status == 400 and int(parsed.getheader("Content-Length", "0")) > 0
    assert parsed.fp is not None and parsed.fp.read() == b""


class _Received:
    """Bytes received, as the socket http.client reads a reply from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


# --- live: a websocket message over uvicorn's --ws-max-size ---------------------------------------------------------

WS_MAX_SIZE = 16 * 1024 * 1024  # uvicorn's default --ws-max-size, which the Makefile and Dockerfile keep


@pytest.mark.live
def test_a_websocket_message_over_the_size_limit_closes_it_with_1009_and_no_traceback(
    embedded_server: LiveServer,
) -> None:
    # The server closes the socket (1009) at the frame's header and lingers, reading and dropping the rest of the
    # frame; each piece of it that came then went to the websocket's parser, which wrote to the connection after its
    # end: "Fatal error: protocol.data_received() call failed" and a traceback at ERROR, on every such message.
    key = embedded_server.create_user("oversized-ws")
    batch = requests.post(
        f"{embedded_server.url}/api/v1/batches",
        files={"files": ("a.png", photo_bytes("coffee.png", size=(40, 30)))},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    logged_before = len(embedded_server.log())

    async def send_too_large() -> int:
        url = f"{embedded_server.ws_url}/ws/batches/{batch.json()['id']}?key={key}"
        async with connect(url, max_size=None) as websocket:
            await websocket.recv()  # the snapshot
            try:
                await websocket.send(b"\x00" * (WS_MAX_SIZE + 1_000_000))
                async with asyncio.timeout(10):
                    while True:  # the batch's own events may come first: its image is cut out meanwhile
                        await websocket.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code
        raise AssertionError("the websocket stayed open")

    assert asyncio.run(send_too_large()) == 1009
    time.sleep(0.5)  # what the server logs once the rest of the frame has come
    log = embedded_server.log()[logged_before:]
    assert "Traceback" not in log and "ERROR" not in log, log
