"""bgsite/server.py in process: what its websocket protocol does after closing a socket itself."""

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from bgsite.server import WebSocketProtocol


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
