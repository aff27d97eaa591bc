"""bgsite.request_hooks: a request readied before the stack below, synchronous or asynchronous."""

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from bgsite.request_hooks import before_each_request


def mark(request: HttpRequest) -> None:
    request.marked = True  # type: ignore[attr-defined]


def seen(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(getattr(request, "marked", False)))


async def seen_async(request: HttpRequest) -> HttpResponse:
    return seen(request)


def test_the_request_is_readied_before_a_synchronous_and_an_asynchronous_stack(rf: RequestFactory) -> None:
    middleware: Any = before_each_request(mark)
    assert middleware.sync_capable and middleware.async_capable
    assert middleware(seen)(rf.get("/")).content == b"True"
    assert asyncio.run(middleware(seen_async)(rf.get("/"))).content == b"True"
