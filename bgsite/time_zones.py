"""Times shown in the visitor's time zone: the one the browser reports (static/js/language.js keeps it in the
`time_zone` cookie), else TIME_ZONE (UTC), until a page has run once."""

import functools
import zoneinfo

from django.http import HttpRequest
from django.utils import timezone

from bgsite.request_hooks import before_each_request

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


# Before the views: times in the browser's zone (its cookie), else TIME_ZONE.
time_zone_middleware = before_each_request(_activate_visitors_zone)
