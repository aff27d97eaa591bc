"""Websocket: the owner of a batch follows its items' progress live."""

import contextlib
import logging
import sys
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from accounts.auth import api_key_in_scope, caller_of_websocket, user_of_head_now
from removal import events, selectors, serializers
from removal.errors import NotFound, TooManyRequests
from removal.ops import limits, metrics
from removal.ops.connections import kept_connection_read
from removal.translated import in_language
from removal.web.http_errors import unavailable

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# The channel layer is gone (Redis down), the database or storage cannot answer, or the caller is past its rate limits:
# the page reconnects, as on any other code.
CLOSE_TRY_AGAIN_LATER = 1013

# How often, at most, an open socket's key or session is checked again, as events come for it.
CREDENTIALS_RECHECK_SECONDS = 1.0


def channel_layer_lost(exc: BaseException) -> bool:
    """Whether `exc` is what a channel layer that cannot be reached raises: a socket's OSError, or channels_redis's
    redis-py errors (looked up once redis is loaded, as a Redis layer loads it: the embedded server's in-memory layer
    never does, and the import cost each process 0.4 s of CPU at start)."""
    redis_exceptions = sys.modules.get("redis.exceptions")
    return isinstance(exc, OSError) or (redis_exceptions is not None and isinstance(exc, redis_exceptions.RedisError))


class BatchProgressConsumer(AsyncJsonWebsocketConsumer):
    """Sends a snapshot of the batch on connect, then every item change.

    A client that reconnects therefore always starts from the true state.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The consumer's life; a channel layer lost (Redis down), or a database or storage that cannot answer
        (removal.web.http_errors.unavailable: an HTTP call's 503), closes the socket with CLOSE_TRY_AGAIN_LATER and
        one warning, instead of an error in the server (a handshake's bare HTTP 500). The page reconnects, and its
        snapshot catches it up."""
        accepted = False

        async def noting_send(message: dict[str, Any]) -> None:
            nonlocal accepted
            await send(message)
            accepted = accepted or message["type"] == "websocket.accept"

        try:
            await super().__call__(scope, receive, noting_send)
        except Exception as exc:
            if not channel_layer_lost(exc) and unavailable(exc) is None:
                raise
            logger.warning(
                "live updates on %s stopped: %s is unavailable (%s: %s)",
                scope.get("path"),
                "the channel layer" if channel_layer_lost(exc) else "the database or storage",
                type(exc).__name__,
                exc,
            )
            with contextlib.suppress(OSError, RuntimeError):  # the client may be gone already
                if not accepted:  # a handshake refused outright is a bare HTTP 403; a close code says why
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
        finally:  # however it ended, an error included
            self._forget()

    async def connect(self) -> None:
        user, api_key = await kept_connection_read(caller_of_websocket)(self.scope)
        if user is None:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            await sync_to_async(_handshake_counted, thread_sensitive=False)(user, api_key)
        except TooManyRequests:
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        batch_id = self.scope["url_route"]["kwargs"]["batch_id"]
        try:
            batch = await kept_connection_read(selectors.batch_for)(user, batch_id)
        except NotFound:
            await self._refuse(CLOSE_NOT_FOUND)
            return
        if not limits.websocket_opened(user.pk):
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        self.user_id, self.counted = user.pk, True
        metrics.WEBSOCKET_CONNECTIONS.inc()
        self.group = events.batch_group(batch.id)
        self.language = _language_of(self.scope)
        self.credentials_checked_at = time.monotonic()
        # Accepted before joining the group, so that a channel layer that is down closes it with
        # CLOSE_TRY_AGAIN_LATER (see __call__) rather than a bare 403; the snapshot, read after joining, still
        # holds every change made before.
        await self.accept()
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await kept_connection_read(_snapshot)(batch, self.language)
        await self.send_json({"event": "snapshot", "batch": snapshot})

    async def _refuse(self, code: int) -> None:
        # Accept first: a handshake refused outright reaches the client as a bare
        # HTTP 403, while a close code tells it why (and not to retry).
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self._forget()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def _forget(self) -> None:
        """No longer count this socket among the open ones (once, whichever way it ends)."""
        if getattr(self, "counted", False):
            self.counted = False
            metrics.WEBSOCKET_CONNECTIONS.dec()
            limits.websocket_closed(self.user_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Clients only listen; anything they send (JSON or not, text or binary) is ignored."""

    async def batch_event(self, message: dict[str, Any]) -> None:
        if not await self._credentials_still_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        event = {key: value for key, value in message.items() if key not in ("type", events.ERROR_MESSAGE)}
        if (error := message.get(events.ERROR_MESSAGE)) and error["template"]:  # as the page's language has it
            with translation.override(self.language):
                event["item"] = {**event["item"], "error": in_language(error["template"], error["values"])}
        await self.send_json(event)

    async def _credentials_still_valid(self) -> bool:
        """Whether the key or session the socket opened with still names its user, read again at most every
        CREDENTIALS_RECHECK_SECONDS: a socket opened before its key was revoked (or its session ended) kept
        getting the batch's events (names, states, links) for as long as it stayed open."""
        if time.monotonic() - self.credentials_checked_at < CREDENTIALS_RECHECK_SECONDS:
            return True
        user = await kept_connection_read(user_of_head_now)(self.scope)
        self.credentials_checked_at = time.monotonic()
        return user is not None and user.pk == self.user_id


def _handshake_counted(user: Any, api_key: Any) -> None:
    """Count the handshake against the caller's rate limits, as a GET of the batch is: each one costs a snapshot of
    it (about 1 MB of JSON and a tenth of a core's second for a thousand items). TooManyRequests past them."""
    request = HttpRequest()
    if api_key is not None:
        request.api_key = api_key  # type: ignore[attr-defined]  # the per-key limit, as limits reads it
    limits.check_rate(request, user)


def _snapshot(batch: Any, language: str) -> dict[str, Any]:
    with translation.override(language):
        return serializers.serialize_batch(batch, selectors.batch_items(batch), selectors.batch_counts(batch))


def _language_of(scope: dict[str, Any]) -> str:
    """The page's language, as LocaleMiddleware chose it for the page (its picker's cookie, else Accept-Language);
    English for a program (an API key), as for its HTTP calls (accounts.auth)."""
    if api_key_in_scope(scope):
        return settings.LANGUAGE_CODE
    request = HttpRequest()
    request.COOKIES = scope.get("cookies", {})
    request.META["HTTP_ACCEPT_LANGUAGE"] = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin1")
    return translation.get_language_from_request(request)


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other websocket path: closed with 4404 (rather than an error in the server)."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
