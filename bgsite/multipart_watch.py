"""Follow a multipart/form-data body as it streams in: each part's size, and the file parts Django will skip.

Django reads a request's whole body before a view runs (under ASGI it spools it to a
file first), so a limit per file would only be applied after every byte arrived.
`MultipartWatch` is fed the body chunk by chunk (by removal.web.body_limit.BodySizeLimit)
and notes the first part that passes the per-file limit, so that the upload can end
there. It also notes the file parts that Django's parser skips without a word: a file
name that is empty, "." or ".." once Django has taken out directories and unprintable
characters, or a Content-Disposition header that is not UTF-8.
"""

import html
import re
from dataclasses import dataclass

from django.utils.http import parse_header_parameters

# Part headers longer than this are not inspected (Django's parser reads at most 64 KiB of them).
MAX_PART_HEADER_BYTES = 16 * 1024
# Where BodySizeLimit leaves the watch's `dropped` list in the ASGI scope, for the views.
DROPPED_PARTS_SCOPE_KEY = "bgsite.dropped_parts"


# A file name, plain or RFC 2231's (filename*=charset'language'name), in a header Django could not read.
FILENAME_IN_HEADER = re.compile(r"""filename\*?=(?:[\w-]*'[\w-]*')?"?([^";]+)""")
UNREADABLE_HEADER = (
    "its part's Content-Disposition header cannot be read (too long, or a name in an unknown charset); "
    "send a shorter name in UTF-8"
)


@dataclass(frozen=True)
class DroppedPart:
    filename: str
    reason: str


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, or None for any other body; ValueError for a Content-Type
    Django cannot parse (too long, or a parameter in an unknown charset), which it fails to make a request of."""
    media_type, params = parse_header_parameters(content_type)
    boundary = params.get("boundary", "")
    if media_type != "multipart/form-data" or not boundary:
        return None
    return boundary.encode("latin-1", errors="replace")


class MultipartWatch:
    """Fed a multipart body in order; `oversized` names the first part over `max_part_bytes`."""

    def __init__(self, boundary: bytes, *, max_part_bytes: int) -> None:
        self.boundary, self.delimiter = boundary, b"\r\n--" + boundary
        self.delimited = False  # whether a delimiter came: a body with none holds no part Django can read
        self.max_part_bytes = max_part_bytes
        self.pending = b"\r\n"  # the body opens with the delimiter without its CRLF
        self.in_headers = False
        self.finished = False
        self.part_bytes = 0
        self.part_name = ""
        self.oversized: str | None = None
        self.dropped: list[DroppedPart] = []

    def feed(self, chunk: bytes) -> None:
        data, self.pending = self.pending + chunk, b""
        position = 0
        while not self.finished and self.oversized is None:
            if self.in_headers:
                position = self._read_headers(data, position)
                if position < 0:
                    return
            else:
                found = data.find(self.delimiter, position)
                if found < 0:
                    # Keep what could be the start of a delimiter cut by the chunk's end.
                    safe = max(position, len(data) - len(self.delimiter) + 1)
                    self._count(safe - position)
                    self.pending = data[safe:]
                    return
                self._count(found - position)
                position = found + len(self.delimiter)
                self.in_headers = self.delimited = True

    def unreadable(self) -> str:
        """Fed the whole body: why Django's parser reads none of its parts, or drops its last unread (a file part that
        no boundary ends: a stream that stopped early, a Content-Length shorter than the body); '' for neither."""
        if not self.delimited:
            boundary = self.boundary.decode("latin-1")[:70]
            return f"the multipart/form-data body holds no part that starts with its boundary, {boundary!r}"
        if self.finished or (self.in_headers and not self.pending.strip(b"\r\n-")):  # a closing boundary, or near one
            return ""
        return (
            "the multipart/form-data body ends inside a part, with no boundary after it: it was cut short (a stream "
            "that stopped early, or a Content-Length less than the body's length)"
        )

    def _read_headers(self, data: bytes, position: int) -> int:
        """Where the part's body starts in `data`, or -1 when more bytes are needed (kept in pending)."""
        if len(data) - position < 2:
            self.pending = data[position:]
            return -1
        if data[position : position + 2] == b"--":  # the closing delimiter
            self.finished = True
            return len(data)
        end = data.find(b"\r\n\r\n", position)
        if end < 0 and len(data) - position <= MAX_PART_HEADER_BYTES:
            self.pending = data[position:]
            return -1
        self.in_headers = False
        self.part_bytes = 0
        if end < 0:  # headers too long to inspect: count the rest as the part's body
            self.part_name = ""
            return position
        self._part_headers(data[position:end])
        return end + 4

    def _count(self, size: int) -> None:
        self.part_bytes += size
        if self.part_bytes > self.max_part_bytes:
            self.oversized = self.part_name or "a part"

    def _part_headers(self, block: bytes) -> None:
        self.part_name = ""
        for line in block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() != b"content-disposition":
                continue
            try:
                text, readable = value.decode(), True
            except UnicodeDecodeError:
                text, readable = value.decode("utf-8", errors="replace"), False
            try:
                params = parse_header_parameters(text.strip())[1]
            except (ValueError, TypeError):  # Django's parser passes over the header, and so the part
                # (TypeError: Python's email package fails on filename* next to filename*0, as Django's parser does)
                if named := FILENAME_IN_HEADER.search(text):
                    self.dropped.append(DroppedPart(named[1][:100], UNREADABLE_HEADER))
                continue
            filename = params.get("filename", "")
            self.part_name = filename or params.get("name", "")
            if filename and not readable:
                reason = "its part's headers are not UTF-8, so its name cannot be read; send it in UTF-8"
                self.dropped.append(DroppedPart(filename, reason))
            elif filename and skipped_by_django(filename):
                self.dropped.append(DroppedPart(filename, f"{filename!r} is not a file name; give the file a name"))


def skipped_by_django(filename: str) -> bool:
    """Whether Django's MultiPartParser.sanitize_file_name leaves nothing of `filename` (it then skips the file)."""
    name = html.unescape(filename).rsplit("/")[-1].rsplit("\\")[-1]
    return "".join(char for char in name if char.isprintable()) in {"", ".", ".."}
