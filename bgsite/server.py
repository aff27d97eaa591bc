"""uvicorn's HTTP and websocket protocols, with the answers a hostile client gets made exact.

Served with `uvicorn ... --http bgsite.server:HttpProtocol --ws bgsite.server:WebSocketProtocol`
(Makefile, Dockerfile, the tests' live servers).

- A request head larger than uvicorn's h11 limit (`--h11-max-incomplete-event-size`, 16 KiB
  by default) gets 414 when its request line is what is too long, else 431, where uvicorn
  answers 400. The rest of what the client sends is read and dropped for a moment before
  the connection closes ("lingering close"), so the client reads the answer instead of a
  connection reset. It is logged as one WARNING line saying which and why, without
  uvicorn's "Invalid HTTP request received." before it.
- A websocket text message that is not UTF-8 closes that websocket with 1007 and logs one
  WARNING line, where uvicorn logs a traceback at ERROR (and, when the socket was closing
  already, asyncio a "Fatal error" with InvalidState). What the app sends on that socket
  before it reads the websocket.disconnect (a batch event already on its way) is dropped,
  where uvicorn raises "Unexpected ASGI message" into the app and logs its traceback.
"""

import contextlib
import logging
from collections.abc import MutableMapping
from http import HTTPStatus
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

logger = logging.getLogger("bgsite.server")

# How long a refused connection's further bytes are read and dropped before it closes.
LINGER_SECONDS = 2.0
# A request line longer than this, in a head that is too large, is what made it too large.
MAX_REQUEST_LINE_BYTES = 8 * 1024
# What uvicorn's h11 protocol logs before answering a request h11 could not parse.
UVICORN_INVALID_REQUEST = "Invalid HTTP request received."


def head_refusal(buffered: bytes, max_head_bytes: int) -> tuple[int, str] | None:
    """(status, reason) for a request head that outgrew `max_head_bytes` before it ended; None otherwise."""
    if len(buffered) <= max_head_bytes or b"\r\n\r\n" in buffered:
        return None
    line_end = buffered.find(b"\r\n")
    request_line = len(buffered) if line_end < 0 else line_end
    if request_line > MAX_REQUEST_LINE_BYTES:
        return 414, f"the request line (method, path and query string) is over {MAX_REQUEST_LINE_BYTES} bytes"
    return 431, f"the request headers are over {max_head_bytes // 1024} KiB in all"


class HttpProtocol(H11Protocol):
    """uvicorn's h11 protocol, answering 414/431 to an oversized request head (see module docstring)."""

    lingering = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn only calls its logging methods and reads `.level`, which the adapter has too.
        self.logger = cast(logging.Logger, _WithoutUvicornsRefusalLine(self.logger, self))

    def refusal(self) -> tuple[int, str] | None:
        """(status, reason) when the head received so far is to be refused with 414/431; None otherwise."""
        buffered, _ = self.conn.trailing_data
        return head_refusal(buffered, self.conn._max_incomplete_event_size)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # a refused request's remaining bytes
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        refusal = self.refusal()
        if refusal is None:
            super().send_400_response(msg)
            return
        status, reason = refusal
        logger.warning("refused a request from %s with %d: %s", _client(self.client), status, reason)
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode()),
            h11.Data(data=f"{reason}\n".encode()),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.lingering = True
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class _WithoutUvicornsRefusalLine(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's logger for one connection, less its "Invalid HTTP request received." for a head the
    connection refuses with 414/431: that refusal is logged as one line of its own, saying why."""

    def __init__(self, logger: logging.Logger, protocol: HttpProtocol) -> None:
        super().__init__(logger)
        self.protocol = protocol

    @property
    def level(self) -> int:
        return self.logger.level

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs  # the record as uvicorn made it, with no `extra` added

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if msg == UVICORN_INVALID_REQUEST and self.protocol.refusal() is not None:
            return
        super().log(level, msg, *args, **kwargs)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, closing on a non-UTF-8 text message without a traceback."""

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
