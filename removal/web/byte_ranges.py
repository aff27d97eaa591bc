"""The one byte range of a stored file that a request asks for with `Range` (RFC 9110, section 14): a video player
seeking, a download manager resuming, a client fetching the rest of a file after a broken link.

One range only: a request for several, or a header this does not read, is answered with the whole file, as RFC 9110
lets a server do (14.2). `If-Range` names the copy the client holds part of: with another, the whole file is sent.
"""

import re
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.http import parse_http_date_safe

from removal.errors import RangeNotSatisfiable

# `bytes=first-last`, `bytes=first-` or `bytes=-suffix_length`. A position of more than 19 digits (past 2**63, and
# past what int() reads at all at 4,300) is a header this does not read.
ONE_RANGE = re.compile(r"bytes=(?P<first>\d{0,19})-(?P<last>\d{0,19})", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # included
    size: int  # of the whole file

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def requested_range(request: HttpRequest, *, size: int, etag: str, last_modified: int) -> ByteRange | None:
    """The part of a file of `size` bytes that a GET (or HEAD) asks for; None for the whole file. Raises
    RangeNotSatisfiable, with the Content-Range that names the size, for a range that starts past the end.

    `etag` and `last_modified` are the file's validators, for If-Range. Call it once the request is known to be
    the file's owner's and not answered by a 304."""
    header = request.headers.get("Range")
    if header is None or request.method not in ("GET", "HEAD"):
        return None
    if not _if_range_holds(request.headers.get("If-Range"), etag=etag, last_modified=last_modified):
        return None
    if (match := ONE_RANGE.fullmatch(header.strip())) is None:
        return None
    first, last = match["first"], match["last"]
    if first:
        if last and int(last) < int(first):
            return None  # not a range (RFC 9110, 14.1.1): ignored, as a malformed header
        if int(first) >= size:
            raise _unsatisfiable(size)
        return ByteRange(int(first), min(int(last), size - 1) if last else size - 1, size)
    if not last:
        return None  # `bytes=-`
    if int(last) == 0 or size == 0:
        raise _unsatisfiable(size)
    return ByteRange(max(size - int(last), 0), size - 1, size)


def _if_range_holds(if_range: str | None, *, etag: str, last_modified: int) -> bool:
    """Whether the copy If-Range names (an entity tag, or a date) is the current one: true without If-Range.

    An entity tag matches by strong comparison (RFC 9110, 13.1.5), so a weak one never does; a date only when it
    is the file's Last-Modified itself."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return if_range == etag
    return parse_http_date_safe(if_range) == last_modified


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        "the range asked for starts past the end of the file", headers={"Content-Range": f"bytes */{size}"}
    )
