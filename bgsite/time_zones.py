"""Times shown in the visitor's time zone: the one the browser reports (static/js/language.js keeps it in the
`time_zone` cookie), else TIME_ZONE (UTC), until a page has run once."""

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware

TIME_ZONE_COOKIE = "time_zone"


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _activate_visitors_zone(request: HttpRequest) -> None:
    name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    if name in _known_zones():  # a name from the IANA database, nothing else reaches ZoneInfo
        timezone.activate(zoneinfo.ZoneInfo(name))
    else:
        timezone.deactivate()


@sync_and_async_middleware
def time_zone_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    if iscoroutinefunction(get_response):

        async def in_zone_async(request: HttpRequest) -> Any:
            _activate_visitors_zone(request)
            return await get_response(request)

        return in_zone_async

    def in_zone(request: HttpRequest) -> Any:
        _activate_visitors_zone(request)
        return get_response(request)

    return in_zone
