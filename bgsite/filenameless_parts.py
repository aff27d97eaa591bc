"""Multipart parts sent without a filename that hold a file, read as the file parts they are.

Some HTTP clients send an image in a part that has no filename: Node's form-data given a Buffer,
requests given (None, bytes), `curl -F 'image_file=<photo.jpg'`, .NET's ByteArrayContent. Django
reads every such part as a text field: whole in memory, within DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB,
less than a phone's photo), its bytes decoded and replaced. Every request here parses its multipart
body with `FilenamelessFilesParser` (set by `filenameless_parts_middleware`, before anything reads
request.POST), which hands Django's own parser the body with a filename added to each such part
whose bytes are not UTF-8 text, as an image's never are. Django then reads it as any file part:
through the upload handlers (to a temporary file past FILE_UPLOAD_MAX_MEMORY_SIZE), counted among
the files (DATA_UPLOAD_MAX_NUMBER_FILES), in request.FILES under its field's name. A part whose
bytes are text stays a text field, under Django's limits; one still text after
DATA_UPLOAD_MAX_MEMORY_SIZE bytes is text too long for them, refused by Django as before. The size
of any part, and of the body, is bounded before Django reads it (bgsite.multipart_watch). A text part
that declares a charset other than UTF-8 (`Content-Type: text/plain; charset=iso-8859-1`), which Django
would read as UTF-8, is read as a file too, then put among the fields read in its charset.
"""

import codecs
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import (  # type: ignore[attr-defined]
    MAX_TOTAL_HEADER_SIZE,
    MultiPartParser,
    MultiPartParserError,
)
from django.utils.datastructures import MultiValueDict
from django.utils.http import parse_header_parameters

from bgsite.multipart_watch import boundary_of, skipped_by_django
from bgsite.request_hooks import before_each_request

if TYPE_CHECKING:
    from django.http.request import _PostDataProtocol

READ_SIZE = 64 * 1024
# Django looks for a part's headers in its first MAX_TOTAL_HEADER_SIZE bytes, and reads the part as having none
# (or refuses the body) when they end further on.
HEADER_WINDOW = MAX_TOTAL_HEADER_SIZE
HEADERS_END = b"\r\n\r\n"


class FilenamesGiven(io.RawIOBase):
    """A multipart body, read with a filename given to each part that Django would read as a text field and that
    is not UTF-8 text in its first `look_ahead` bytes. Parts are found as Django's parser finds them: between
    occurrences of '--' and the boundary, each part's headers ending with its first blank line within HEADER_WINDOW
    bytes; the filename is added to its last Content-Disposition header, the one Django reads."""

    def __init__(self, body: "_PostDataProtocol", boundary: bytes, *, look_ahead: int) -> None:
        super().__init__()
        self._body = body
        self._delimiter = b"--" + boundary
        self._look_ahead = look_ahead
        self._buffer = bytearray()  # what was read and not yet given, its first `_ready` bytes final
        self._ready = 0
        self._added: list[tuple[int, int]] = []  # where in `_buffer` filenames were added, and their lengths
        self._at_part_start = True  # the body's start is one too: Django reads its preamble as a part
        self._ended = False  # the body is read to its end
        self._finished = False  # and all of it made ready
        self.charset_fields: set[str] = set()  # the fields of parts given a filename that declared another charset

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        """`size` bytes of the body and the filenames added in them, fewer only at the end (b""); all that is left
        for None or a negative size. Django's parser reads a part it passes over (one without a name, say) only as far
        as a chunk goes, and goes on from where that chunk ends: the chunks must end where a file's reads of the body
        as it came would end (not where the stream below, or a delimiter, or a filename added, would end them), or
        Django cuts the body into other parts than its own parser does."""
        given = self._ready_all() if size is None or size < 0 else min(self._ready_for(size), self._ready)
        chunk = bytes(self._buffer[:given])
        del self._buffer[:given]
        self._ready -= given
        self._added = [(at - given, length) for at, length in self._added if at >= given]
        return chunk

    def _ready_all(self) -> int:
        while not self._finished:
            self._advance()
        return self._ready

    def _ready_for(self, size: int) -> int:
        """Make the first `size` bytes of the body ready, with the filenames added in them; where they end."""
        end, counted = size, 0
        while True:
            for at, length in self._added[counted:]:
                if at >= end:
                    break
                end += length
                counted += 1
            if self._finished or self._ready >= end:
                return end
            self._advance()

    def _read_more(self) -> bool:
        chunk = self._body.read(READ_SIZE)
        self._buffer.extend(chunk)
        self._ended = not chunk
        return bool(chunk)

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size and not self._ended and self._read_more():
            pass

    def _advance(self) -> None:
        """Make more of the body ready: a part's headers, or its content up to and with the next delimiter."""
        if self._at_part_start:
            self._at_part_start = False
            self._name_file(self._ready)
            return
        found = self._buffer.find(self._delimiter, self._ready)
        if found >= 0:
            self._ready = found + len(self._delimiter)
            self._at_part_start = True
        else:  # all but what may be the start of a delimiter cut by the chunk's end, then more
            self._ready = max(self._ready, len(self._buffer) - len(self._delimiter) + 1)
            if not self._read_more():
                self._ready = len(self._buffer)
                self._finished = True

    def _delimiter_at(self, start: int, search_to: int) -> int:
        """Where the delimiter that ends the part at `start` begins, when it begins before `search_to`; else -1.
        The body is read only as far as that delimiter, not to `search_to` (the look-ahead, megabytes on)."""
        end = search_to + len(self._delimiter) - 1
        searched = start
        while (found := self._buffer.find(self._delimiter, searched, end)) < 0:
            searched = max(searched, len(self._buffer) - len(self._delimiter) + 1)
            if len(self._buffer) >= end or not self._read_more():
                return -1
        return found

    def _part_end(self, start: int, delimiter_at: int) -> int:
        """Where the part at `start` ends as Django reads it: before its delimiter and the line break before that."""
        end = delimiter_at
        for line_break in b"\n\r":
            if end > start and self._buffer[end - 1] == line_break:
                end -= 1
        return end

    def _name_file(self, start: int) -> None:
        """Give the part at `start` a filename if Django would read it as a text field and its bytes are not UTF-8 text,
        or it declares another charset (Content-Type: text/plain; charset=iso-8859-1), which Django does not read in a
        field: FilenamelessFilesParser reads it in its charset."""
        delimiter_at = self._delimiter_at(start, start + HEADER_WINDOW)
        window_end = start + HEADER_WINDOW
        if delimiter_at >= 0:
            window_end = min(window_end, self._part_end(start, delimiter_at))
        headers_end = self._buffer.find(HEADERS_END, start, window_end)
        if headers_end < 0 or (field := text_field(bytes(self._buffer[start:headers_end]))) is None:
            return
        disposition_end, filename, name, charset = field
        other_charset = charset is not None and not is_utf8(charset)
        fits = headers_end + len(filename) + len(HEADERS_END) - start <= HEADER_WINDOW
        if fits and self._holds_a_file(headers_end + len(HEADERS_END), other_charset=other_charset):
            self._buffer[start + disposition_end : start + disposition_end] = filename
            self._added.append((start + disposition_end, len(filename)))
            self._ready = headers_end + len(filename) + len(HEADERS_END)
            if other_charset:
                self.charset_fields.add(name)

    def _holds_a_file(self, start: int, *, other_charset: bool) -> bool:
        """Whether the content at `start` is not UTF-8 text in its first `look_ahead` bytes (or, `other_charset`, is
        all there), and is a part Django keeps as a file: one it sees the end of, a delimiter and a byte after it
        (else it drops the file unread)."""
        limit = start + self._look_ahead
        delimiter_at = self._delimiter_at(start, limit)
        if delimiter_at >= 0:
            self._fill(delimiter_at + len(self._delimiter) + 1)
            if len(self._buffer) <= delimiter_at + len(self._delimiter):
                return False
            return other_charset or not is_text(self._buffer, start, self._part_end(start, delimiter_at), whole=True)
        self._fill(limit)
        # The part goes on past `limit`, or is the rest of a body that ends without a delimiter.
        return len(self._buffer) > limit and not is_text(self._buffer, start, limit, whole=False)


def is_text(buffer: bytearray, start: int, end: int, *, whole: bool) -> bool:
    """Whether `buffer[start:end]` is UTF-8 text, or (not `whole`) the start of some, cut anywhere; decoded a read at a
    time, not copied whole (it may be DATA_UPLOAD_MAX_MEMORY_SIZE long)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for at in range(start, end, READ_SIZE):
            decoder.decode(buffer[at : min(at + READ_SIZE, end)])
        decoder.decode(b"", final=whole)
    except UnicodeDecodeError:
        return False
    return True


def is_utf8(charset: str) -> bool:
    """Whether `charset` names UTF-8 (under any of its aliases); False for one Python does not know."""
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def text_field(headers: bytes) -> tuple[int, bytes, str, str | None] | None:
    """Where the Content-Disposition header ends in these headers of a part, the filename parameter to add to it, the
    field's name and the charset its Content-Type declares (None where it declares none),
    when Django reads the part as a text field it would read as a file named after its field with that parameter: a
    Content-Disposition with a name, not blank (Django drops a file with one), and no filename; its bytes not said
    to be base64 (a file's bytes would have to be). Read as Django's parser reads them (parse_boundary_stream): the
    last such header counts."""
    disposition: tuple[dict[str, str], int] | None = None
    transfer_encoding = charset = None
    line_end = -2
    for line in headers.split(b"\r\n"):
        line_end += len(line) + 2
        if (header := part_header(line)) is None:
            continue
        if header[0] == "content-disposition":
            disposition = header[2], line_end
        elif header[0] == "content-transfer-encoding":
            transfer_encoding = header[1].strip()
        elif header[0] == "content-type":
            charset = header[2].get("charset")
    if disposition is None or transfer_encoding == "base64":
        return None
    params, disposition_end = disposition
    if not params.get("name", "").strip() or params.get("filename"):
        return None
    parameter = filename_parameter(headers[headers.rfind(b"\r\n", 0, disposition_end) + 2 : disposition_end], params)
    return None if parameter is None else (disposition_end, parameter, params["name"].strip(), charset)


def filename_parameter(disposition: bytes, params: dict[str, str]) -> bytes | None:
    """The parameter that gives this Content-Disposition header line, its parameters `params`, the filename of its
    field's name (or "file" where Django would find no name in it), when the line reads so with it added. It may not,
    after an unclosed quote or next to some parameters (filename*0): the part is then left as it came rather than be
    read otherwise (under another name, or failing Python's email package)."""
    filename = params["name"] if not skipped_by_django(params["name"]) else "file"
    parameter = b"; filename*=utf-8''" + quote(filename, safe="").encode()
    try:
        edited = part_header(disposition + parameter)
    except MultiPartParserError:
        return None
    return parameter if edited is not None and edited[2] == {**params, "filename": filename} else None


def part_header(line: bytes) -> tuple[str, str, dict[str, str]] | None:
    """A part's header line as Django reads it: its name (lowercased), value and parameters; None for a line Django
    passes over as invalid. MultiPartParserError (a 400) for one that Python's email package fails on (filename*
    next to filename*0), where Django's parser would let its TypeError through (a 500)."""
    try:
        header, value_and_params = line.decode().split(":", 1)
        value, params = parse_header_parameters(value_and_params.lstrip(" "))
        for param in params.values():
            param.encode()
    except (ValueError, LookupError):
        return None
    except TypeError as error:
        raise MultiPartParserError(f"Invalid part header: {error}") from error
    return header.lower().rstrip(" "), value, params


class FilenamelessFilesParser(MultiPartParser):
    """Django's multipart parser, given the body with a filename in each part that holds a file without one."""

    def __init__(
        self,
        META: Mapping[str, Any],
        input_data: "_PostDataProtocol",
        upload_handlers: Any,
        encoding: str | None = None,
    ) -> None:
        try:
            boundary = boundary_of(META.get("CONTENT_TYPE", ""))
        except ValueError:  # Django's parser refuses the body
            boundary = None
        if boundary:
            look_ahead = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.FILE_UPLOAD_MAX_MEMORY_SIZE
            input_data = FilenamesGiven(input_data, boundary, look_ahead=look_ahead)
        self._given = input_data if isinstance(input_data, FilenamesGiven) else None
        super().__init__(META, input_data, upload_handlers, encoding)

    def parse(self) -> tuple[QueryDict, MultiValueDict[str, UploadedFile]]:
        """The fields and files, a text part that declared another charset than UTF-8 among the fields, read in it.
        One whose charset Python does not know, or whose bytes are not text in it, stays a file (a text parameter
        sent as a file is refused naming it: removal.web.parameters.check_text_parts)."""
        post, files = super().parse()
        for field in self._given.charset_fields if self._given else ():
            kept = []
            for upload in files.getlist(field):
                if (text := declared_text(upload)) is None:
                    kept.append(upload)
                    continue
                post._mutable = True  # as Django's parser adds its fields
                post.appendlist(field, text)
                post._mutable = False
                upload.close()
            if kept:
                files.setlist(field, kept)
            else:
                files.pop(field)
        return post, files


def declared_text(upload: UploadedFile) -> str | None:
    """The text of a part read in the charset it declares; None where Python does not know that charset, the bytes
    are not text in it, or the part is longer than a field may be (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if not upload.charset or (limit is not None and (upload.size or 0) > limit):
        return None
    charset: str | bytes = upload.charset  # bytes as Django's parser reads a part's headers
    try:
        upload.seek(0)
        return upload.read().decode(charset.decode("ascii") if isinstance(charset, bytes) else charset)
    except (LookupError, UnicodeDecodeError):
        return None
    finally:
        upload.seek(0)


def _use_parser(request: HttpRequest) -> None:
    # django-stubs types the attribute as a parser, where Django takes (and documents) a parser class.
    request.multipart_parser_class = FilenamelessFilesParser  # type: ignore[assignment]


# First, before anything reads a request's fields.
filenameless_parts_middleware = before_each_request(_use_parser)
