"""Middleware that only readies each request before the rest of the stack sees it, for both of Django's ways."""

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.utils.decorators import sync_and_async_middleware


def before_each_request(prepare: Callable[[HttpRequest], None]) -> Callable[..., Any]:
    """A middleware, synchronous or asynchronous as the stack below it is, that calls `prepare(request)` first."""

    @sync_and_async_middleware
    def middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
        if iscoroutinefunction(get_response):

            async def prepared_async(request: HttpRequest) -> Any:
                prepare(request)
                return await get_response(request)

            return prepared_async

        def prepared(request: HttpRequest) -> Any:
            prepare(request)
            return get_response(request)

        return prepared

    return middleware
