"""uvicorn's HTTP and websocket protocols, with the answers a hostile client gets made exact.

Served with `uvicorn ... --http bgsite.server:HttpProtocol --ws bgsite.server:WebSocketProtocol`
(Makefile, Dockerfile, the tests' live servers).

- A request head larger than uvicorn's h11 limit (`--h11-max-incomplete-event-size`, 16 KiB
  by default) gets 414 when its request line is what is too long, else 431, where uvicorn
  answers 400. The rest of what the client sends is read and dropped for a moment before
  the connection closes ("lingering close"), so the client reads the answer instead of a
  connection reset. It is logged as one WARNING line saying which and why, without
  uvicorn's "Invalid HTTP request received." before it.
- A request h11 cannot read (a NUL or another byte no header may hold, two Content-Lengths, a Transfer-Encoding other
  than chunked, a request line that is not one) gets 400 with h11's reason, where uvicorn answered "Invalid HTTP
  request received." in plain text; then the lingering close, and one WARNING line saying why (the client's bytes
  that h11 quotes left out: they may hold a key).
- Every one of these refusals (400, 414, 431, 408) is answered in the error shape of the API its path belongs to
  (removal.web.http_errors.api_error_reply: remove.bg's {"errors": [...]} under /v1.0/, {"status", "error",
  "request_id"} under PixLab's and the batch API's), at any other path the site's HTML error page (templates/4xx.html)
  in the language the page would speak (its picker's cookie, else Accept-Language: removal.web.error_pages), where a
  browser showed JSON; the path read from the request line received (or, for a body h11 could not read, from the request
  h11 read), with "Connection: close"; without a body when that line's method is HEAD. Where no path can be read (the
  request line did not come whole up to its path's end, or is not one) the shape is {"status", "error", "request_id"}.
  Under an API's path, an allowed Origin (CORS_ALLOWED_ORIGINS) gets Access-Control-Allow-Origin, as the app's own
  refusals before Django (bgsite.cors): a page elsewhere reads the error, not a network failure.
- Those refusals carry X-Request-ID, and their log line its request_id, as every reply the app makes
  does (bgsite.log_context): the client's when the head received holds a sane one, else a new one. The app never
  sees such a request, so asgi-correlation-id's middleware cannot give it one.
- A request head (request line and headers) not received whole within HEAD_TIMEOUT_SECONDS, from the
  connection's start or from the first byte of a later request on it, gets 408 and the connection
  closes (one that sent nothing just closes), where uvicorn waits forever: connections that send a
  head a byte at a time ("slowloris") piled up until the process ran out of file descriptors.
- A response sent before its request's body came whole (bgsite's 413, 401 or 408 from
  removal/web/body_limit.py, sent with "Connection: close") ends with a lingering close too: the
  server stops writing (FIN) and reads and drops what the client still sends, for as long as it keeps
  sending (LINGER_SECONDS between pieces, LINGER_MAX_SECONDS in all), then closes. uvicorn closed at
  once, on bytes it had not read, which resets the connection: a client (or a reverse proxy) still
  writing its body got a reset instead of the answer, and nginx answered 502 Bad Gateway in its place.
- A websocket text message that is not UTF-8 closes that websocket with 1007 and logs one
  WARNING line, where uvicorn logs a traceback at ERROR (and, when the socket was closing
  already, asyncio a "Fatal error" with InvalidState). What the app sends on that socket
  before it reads the websocket.disconnect (a batch event already on its way) is dropped,
  where uvicorn raises "Unexpected ASGI message" into the app and logs its traceback.
- A websocket message over --ws-max-size closes that websocket with 1009 at the frame's header; the rest of the frame,
  still arriving, is read and dropped by the lingering close, where uvicorn's parser answered each piece on the ended
  connection ("Fatal error: protocol.data_received() call failed" and a traceback at ERROR).
"""

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator, MutableMapping
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

import h11
from asgi_correlation_id import correlation_id
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from bgsite.log_context import REQUEST_ID_HEADER, acceptable_request_id, new_request_id
from removal.errors import ApiError, BadRequest, RequestHeaderFieldsTooLarge, RequestTimeout, UriTooLong

logger = logging.getLogger("bgsite.server")

# How long a refused connection's further bytes are read and dropped before it closes: it closes once the client has
# sent nothing for LINGER_SECONDS, or LINGER_MAX_SECONDS after the answer (nginx's lingering_timeout, lingering_time).
LINGER_SECONDS = 2.0
LINGER_MAX_SECONDS = 30.0
# How long a client may take to send a request's head; a browser or a program sends it at once (see module docstring).
HEAD_TIMEOUT_SECONDS = 30.0
# A request line longer than this, in a head that is too large, is what made it too large.
MAX_REQUEST_LINE_BYTES = 8 * 1024
# The fields of a refused head its answer reads: CORS's, and the language of the site's page (its cookie, else this).
HEAD_FIELDS_READ = ("Origin", "Cookie", "Accept-Language")
# What uvicorn's h11 protocol logs before answering a request h11 could not parse.
UVICORN_INVALID_REQUEST = "Invalid HTTP request received."


def head_field(buffered: bytes, name: str) -> str:
    """The value of the header `name` in a head received so far; "" where no whole line of it came."""
    line = re.search(rb"\r\n" + name.encode() + rb":[ \t]*([^\r\n]*?)[ \t]*\r\n", buffered, re.IGNORECASE)
    return line.group(1).decode("latin-1") if line else ""


def refused_request_id(buffered: bytes) -> str:
    """The id of a request refused before the app saw it, as bgsite.asgi's middleware would have given it: the
    client's X-Request-ID when the head received so far holds an acceptable one, else a new id."""
    client_id = head_field(buffered, REQUEST_ID_HEADER)
    return client_id if acceptable_request_id(client_id) else new_request_id()


@contextlib.contextmanager
def logged_as(request_id: str) -> Iterator[None]:
    """Log lines name `request_id` (bgsite.log_context reads the context variable asgi-correlation-id sets)."""
    token = correlation_id.set(request_id)
    try:
        yield
    finally:
        correlation_id.reset(token)


# A request line's method, and its target up to the end of its path (a space, "?" or "#"): h11's token and target.
REQUEST_LINE_PATH = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]*?)[ ?#]")
# The scheme and authority of a target in absolute form (a request to a proxy: "GET http://host/path HTTP/1.1").
ABSOLUTE_FORM = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def request_line_path(buffered: bytes) -> tuple[str, str]:
    """(method, path) of the request line at the start of a head received so far, the path percent-decoded as uvicorn
    decodes it; ("", "") where the line did not come up to its path's end, or is not a request line."""
    found = REQUEST_LINE_PATH.match(buffered.lstrip(b"\r\n"))
    if found is None:
        return "", ""
    method, target = found.groups()
    path = unquote(ABSOLUTE_FORM.sub(b"", target).decode("ascii"))
    return (method.decode("ascii"), path) if path.startswith("/") else ("", "")


def refusal_events(
    error: ApiError, request_id: str, method: str, path: str, head: dict[bytes, bytes]
) -> list[h11.Event]:
    """The answer to a request refused before the app saw it: `error` in the shape of the API `path` belongs to (the
    one mapping, removal.web.http_errors), readable by a page of an allowed Origin (CORS), or the site's error page in
    the reader's language at any other path; its connection closing; no body for a HEAD request. `head`: the
    HEAD_FIELDS_READ of the head received."""
    from removal.web.error_pages import refusal_reply  # these import the models: Django is set up by then

    with logged_as(request_id):  # the body's request_id; no path read: a program's, most likely (not a request line)
        reply = refusal_reply(path, error, head) if path else error.response()
    body = reply.content  # type: ignore[attr-defined]
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.items()]
    headers += [
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (REQUEST_ID_HEADER.encode(), request_id.encode()),
    ]
    status = reply.status_code
    response = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode())
    return [response, h11.Data(data=b"" if method == "HEAD" else body), h11.EndOfMessage()]


# Where h11's reason quotes the client's bytes ("Illegal header value b'...'"): left out, as they may hold a key.
QUOTED_BYTES = re.compile(r""":? (bytearray\()?b['"].*""", re.S)


def unreadable_reason(h11_reason: str) -> str:
    """What a client is told of a request h11 could not read: h11's reason, less the bytes it quotes."""
    detail = QUOTED_BYTES.sub("", h11_reason)[:200].strip()
    return f"the request could not be read as HTTP ({detail})" if detail else "the request could not be read as HTTP"


class _ReasonKeepingConnection(h11.Connection):
    """h11's connection, keeping why it could not read the request (uvicorn's protocol logs and answers without it),
    and the head it could not read: h11 has taken it out of its buffer by then."""

    refused_because = ""
    refused_head = b""

    def next_event(self) -> Any:
        head = self.trailing_data[0] if self.their_state is h11.IDLE else b""
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_because, self.refused_head = str(exc), head
            raise


def head_refusal(buffered: bytes, max_head_bytes: int) -> ApiError | None:
    """The refusal (414 or 431) of a request head that outgrew `max_head_bytes` before it ended; None otherwise."""
    if len(buffered) <= max_head_bytes or b"\r\n\r\n" in buffered:
        return None
    line_end = buffered.find(b"\r\n")
    request_line = len(buffered) if line_end < 0 else line_end
    if request_line > MAX_REQUEST_LINE_BYTES:
        return UriTooLong(f"the request line (method, path and query string) is over {MAX_REQUEST_LINE_BYTES} bytes")
    return RequestHeaderFieldsTooLarge(f"the request headers are over {max_head_bytes // 1024} KiB in all")


class HttpProtocol(H11Protocol):
    """uvicorn's h11 protocol, answering 414/431 to an oversized request head and 408 to a late one (see module
    docstring)."""

    lingering = False
    head_timer: asyncio.TimerHandle | None = None
    linger_timer: asyncio.TimerHandle | None = None
    linger_until = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn only calls its logging methods and reads `.level`, which the adapter has too.
        self.logger = cast(logging.Logger, _WithoutUvicornsRefusalLine(self.logger))
        self.conn = _ReasonKeepingConnection(h11.SERVER, max_incomplete_event_size=self.conn._max_incomplete_event_size)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(transport, self)))
        self.head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self.head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_timer_stopped()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        super().connection_lost(exc)

    def head_timed_out(self) -> None:
        """Close a connection whose request head is still not whole: with 408 when part of one came."""
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        buffered, _ = self.conn.trailing_data
        if buffered:
            request_id = refused_request_id(buffered)
            with logged_as(request_id):
                logger.warning(
                    "refused a request from %s with 408: its head was not whole after %g s",
                    _client(self.client),
                    HEAD_TIMEOUT_SECONDS,
                )
            reason = (
                f"the request's head (request line and headers) was not sent whole within {HEAD_TIMEOUT_SECONDS:g} s"
            )
            refused = self.refused_request(buffered)
            self._write(refusal_events(RequestTimeout(reason), request_id, *refused))
        self.transport.close()

    def _head_timer_stopped(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def refusal(self) -> ApiError | None:
        """The refusal when the head received so far is to be refused with 414/431; None otherwise."""
        buffered, _ = self.conn.trailing_data
        return head_refusal(buffered, self.conn._max_incomplete_event_size)

    def linger(self) -> None:
        """End the answer (FIN) and read and drop what the client still sends, then close (see module docstring)."""
        self.lingering = True
        self._head_timer_stopped()
        raw = cast(_LingeringTransport, self.transport).raw
        if raw.can_write_eof():
            raw.write_eof()
        self.flow.resume_reading()  # uvicorn pauses reading while a body is not taken
        self.linger_until = self.loop.time() + LINGER_MAX_SECONDS
        self._linger_more()

    def _linger_more(self) -> None:
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        raw = cast(_LingeringTransport, self.transport).raw
        delay = min(LINGER_SECONDS, self.linger_until - self.loop.time())
        self.linger_timer = self.loop.call_later(max(delay, 0), raw.close)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._linger_more()  # a refused request's remaining bytes, dropped
            return
        if self.head_timer is None and self.conn.their_state is h11.IDLE:  # a later request on the connection
            self.head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self.head_timed_out)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # its head came whole (or could not be read: answered already)
            self._head_timer_stopped()

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 could not read (uvicorn's `msg` says no more than that): 414/431 for a head too large,
        else 400 with h11's reason; the API's JSON error either way (see module docstring)."""
        error = self.refusal() or BadRequest(
            unreadable_reason(cast(_ReasonKeepingConnection, self.conn).refused_because)
        )
        buffered = cast(_ReasonKeepingConnection, self.conn).refused_head or self.conn.trailing_data[0]
        request_id = refused_request_id(buffered)
        with logged_as(request_id):
            logger.warning("refused a request from %s with %d: %s", _client(self.client), error.status, error.message)
        refused = self.refused_request(buffered)
        if self.cycle is not None and not self.cycle.response_complete:  # its body was unreadable: the app's answer
            self.cycle.disconnected = True  # goes nowhere, as when the client is gone (uvicorn's connection_lost)
            self.cycle.message_event.set()
            refused = self.scope["method"], self.scope["path"], dict(self.scope["headers"])  # its head was read
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # else the app's answer has begun: it cannot follow
            self._write(refusal_events(error, request_id, *refused))
        self.linger()

    def refused_request(self, buffered: bytes) -> tuple[str, str, dict[bytes, bytes]]:
        """(method, path, HEAD_FIELDS_READ) of the head received so far, its path as the app's scope would have it
        (under root_path)."""
        method, path = request_line_path(buffered)
        return (
            method,
            self.root_path + path if path else "",
            {name.lower().encode(): head_field(buffered, name).encode("latin-1") for name in HEAD_FIELDS_READ},
        )

    def _write(self, events: list[h11.Event]) -> None:
        for event in events:
            self.transport.write(self.conn.send(event) or b"")


class _LingeringTransport:
    """The connection's transport as uvicorn's protocol sees it: its close() lingers (HttpProtocol.linger) when the
    request's body is still coming in, or the answer to a refused head has been written; everything else is the
    transport's own."""

    def __init__(self, raw: asyncio.Transport, protocol: HttpProtocol) -> None:
        self.raw, self.protocol = raw, protocol

    def close(self) -> None:
        if self.protocol.lingering or self.raw.is_closing():
            return  # closes when the lingering ends, or has closed
        if self.protocol.conn.their_state is h11.SEND_BODY:
            self.protocol.linger()
            return
        self.raw.close()

    def is_closing(self) -> bool:
        return self.protocol.lingering or self.raw.is_closing()

    def dropped(self) -> None:
        """Bytes came, and were dropped, after this side closed: a lingering close waits on for more."""
        if self.protocol.lingering:
            self.protocol._linger_more()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _WithoutUvicornsRefusalLine(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's logger for one connection, less its "Invalid HTTP request received.": HttpProtocol logs each refusal
    as one line of its own, saying why."""

    @property
    def level(self) -> int:
        return self.logger.level

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs  # the record as uvicorn made it, with no `extra` added

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if msg == UVICORN_INVALID_REQUEST:
            return
        super().log(level, msg, *args, **kwargs)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, closing on a non-UTF-8 text message, or after a message too large, without
    a traceback."""

    closed_by_server = False

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                logger.warning("closed a websocket from %s: a text message was not UTF-8 (1007)", _client(self.client))
                self._close_quietly(1007)
                return
        super().send_receive_event_to_app()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # closed by this side (a message over --ws-max-size: 1009); still arriving
            if isinstance(self.transport, _LingeringTransport):
                self.transport.dropped()
            return  # uvicorn's parser would answer it on a connection already ended (write() after write_eof())
        super().data_received(data)

    def handle_events(self) -> None:
        try:
            super().handle_events()
        except InvalidState:  # a frame that arrived while the socket was closing already
            logger.warning("dropped a websocket frame from %s that came after the close", _client(self.client))
            self.transport.close()

    async def send(self, message: Any) -> None:
        if self.closed_by_server and message["type"] in ("websocket.send", "websocket.close"):
            return  # the app has not read the websocket.disconnect yet; the client is gone
        await super().send(message)

    def _close_quietly(self, code: int) -> None:
        self.closed_by_server = True
        with contextlib.suppress(InvalidState):  # closing already
            self.conn.send_close(code)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": ""})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


def _client(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "a client"
