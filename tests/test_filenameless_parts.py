"""bgsite/filenameless_parts.py: a multipart part sent without a filename that holds an image is read as a file
part (streamed, up to the per-file limit), while text parts stay text fields under Django's limits."""

import io
import tracemalloc
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError

from bgsite.filenameless_parts import FilenamelessFilesParser, FilenamesGiven
from tests.conftest import phone_photo_jpeg, photo_bytes

BOUNDARY = b"----bgsite-test-boundary"
PHOTO = photo_bytes("astronaut.png", size=(160, 120))


def part(name: str, content: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"'
        + extra
        + (b"\r\n\r\n" + content + b"\r\n")
    )


def body_of(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


class Trickling(io.BytesIO):
    """A body that comes `read_size` bytes at a time at most, as a socket's does."""

    def __init__(self, body: bytes, read_size: int) -> None:
        super().__init__(body)
        self.read_size = read_size

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(self.read_size)


def parse(body: bytes, *, read_size: int | None = None, parser: type[MultiPartParser] = FilenamelessFilesParser) -> Any:
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY.decode()}", "CONTENT_LENGTH": str(len(body))}
    handlers = [MemoryFileUploadHandler(), TemporaryFileUploadHandler()]
    stream = io.BytesIO(body) if read_size is None else Trickling(body, read_size)
    return parser(meta, stream, handlers).parse()


def test_an_image_without_a_filename_is_a_file_and_text_stays_text() -> None:
    body = body_of(
        part("size", "prévue".encode()),
        part("image_file", PHOTO, extra=b"\r\nContent-Type: image/jpeg"),
        part("bg_image_file", PHOTO, extra=b'; filename=""'),  # blank, as clients that send every field do
        part("named", PHOTO, extra=b'; filename="me.jpg"'),
        part("blank", b"", extra=b'; filename=""'),
    )
    fields, files = parse(body)
    assert fields.dict() == {"size": "prévue", "blank": ""}
    assert {name: [(upload.name, upload.read()) for upload in uploads] for name, uploads in files.lists()} == {
        "image_file": [("image_file", PHOTO)],
        "bg_image_file": [("bg_image_file", PHOTO)],
        "named": [("me.jpg", PHOTO)],
    }
    assert files["image_file"].content_type == "image/jpeg"


def test_a_text_part_that_declares_its_charset_is_a_field_read_in_it() -> None:
    """Django reads a field in the request's encoding whatever its part declares: Latin-1's bytes were taken for a
    file (not UTF-8 text), UTF-8's said to be Latin-1 read as UTF-8. One Python cannot read stays a file."""
    latin1 = b"\r\nContent-Type: text/plain; charset=iso-8859-1"
    body = body_of(
        part("name", "Café".encode("latin-1"), extra=latin1),
        part("format", "Café".encode(), extra=latin1),
        part("size", "prévue".encode("latin-1"), extra=b"\r\nContent-Type: text/plain; charset=x-unknown"),
        part("image_file", PHOTO, extra=b"\r\nContent-Type: image/jpeg"),
    )
    fields, files = parse(body, read_size=7)
    assert fields.dict() == {"name": "Café", "format": "CafÃ©"}
    assert sorted(files) == ["image_file", "size"]


def test_a_phone_photo_without_a_filename_is_streamed_to_a_temporary_file() -> None:
    """Past Django's 2.5 MiB for text fields (a 413 before): read as a file part is, not held in memory."""
    photo = phone_photo_jpeg()
    fields, files = parse(body_of(part("key", b"abc"), part("image_file", photo)))
    upload = files["image_file"]
    assert isinstance(upload, TemporaryUploadedFile) and upload.read() == photo
    assert fields.dict() == {"key": "abc"}


@pytest.mark.parametrize("tail", [b"", b"\xff\xd8"], ids=["text", "bytes after Django's limit"])
def test_a_huge_text_field_is_still_refused(tail: bytes) -> None:
    """A part that is still UTF-8 text past DATA_UPLOAD_MAX_MEMORY_SIZE is text, refused as Django refuses it."""
    with pytest.raises(RequestDataTooBig):
        parse(body_of(part("image_file_b64", b"QUJD" * 750_000 + tail)))


def test_text_fields_are_still_counted() -> None:
    body = body_of(*(part(f"field{index}", b"1") for index in range(1001)), part("image_file", PHOTO))
    with pytest.raises(TooManyFieldsSent):
        parse(body)


@pytest.mark.parametrize("read_size", [1, 3, 4096, 65536])
def test_the_body_is_given_as_it_came_but_for_the_filenames(read_size: int) -> None:
    """Delimiters and headers are found wherever the reads cut them."""
    body = body_of(part("size", b"auto"), part("image_file", PHOTO), part("files", PHOTO), part("format", b"png"))
    given = FilenamesGiven(Trickling(body, read_size), BOUNDARY, look_ahead=2_621_440)
    chunks = iter(lambda: given.read(1000), b"")
    assert b"".join(chunks) == body.replace(
        b'name="image_file"', b"name=\"image_file\"; filename*=utf-8''image_file"
    ).replace(b'name="files"', b"name=\"files\"; filename*=utf-8''files")


def test_a_field_name_is_kept_whatever_its_characters() -> None:
    files = parse(body_of(part("fich'ier é;/", PHOTO), part("../", PHOTO)))[1]
    assert files["fich'ier é;/"].read() == PHOTO and files["../"].name == "file"  # named after the field where it may


def test_headers_with_no_room_for_a_filename_leave_the_part_a_field() -> None:
    """Django reads a part's headers within its first KiB: a part there is no room in stays what it was, not a 400."""
    name = "n" * 960
    fields, files = parse(body_of(part(name, PHOTO)))
    assert name in fields and not files


def test_parts_are_cut_where_djangos_parser_cuts_them_whatever_the_reads() -> None:
    """Django's parser reads a part it passes over (here one with no Content-Disposition) only as far as its chunk
    goes, and reads on from there as if a part started: the body must reach it in the chunks a file gives, not in
    those of the stream below (a server's short reads)."""
    passed_over = b"--" + BOUNDARY + b"\r\n\r\n" + b"a" * 5000 + b"\r\n"
    body = body_of(passed_over, part("size", b"auto"))
    fields, files = parse(body, read_size=64)
    assert fields.dict() == {"size": "auto"} and not files
    given = FilenamesGiven(Trickling(body, 3), BOUNDARY, look_ahead=2_621_440)
    assert [len(given.read(1000)) for _ in range(6)] == [1000] * 5 + [len(body) - 5000]


@pytest.mark.parametrize(
    "body",
    [
        b'--%(b)s\r\nContent-Disposition: form-data; name="photo\r\n\r\n\xff\xd8\r\n--%(b)s--\r\n',
        b'--%(b)s\r\nContent-Disposition: form-data; name="photo"; filename*0=""\r\n\r\n\xff\xd8\r\n--%(b)s--\r\n',
        b"--%(b)s\r\nContent-Disposition: form-data; name=photo\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
        b"\xff\xd8\r\n--%(b)s--\r\n",
        b'--%(b)s\r\nContent-Disposition: form-data; name=" "\r\n\r\n\xff\xd8\r\n--%(b)s--\r\n',
        b'--%(b)s\r\nContent-Disposition: form-data; name="photo"\r\n\r\n\xff\xd8\r\n--%(b)s',
        b'--%(b)s\r\nContent-Disposition: form-data; name="photo"\r\n\r\n\xff\xd8',
    ],
    ids=["unclosed quote", "filename*0", "base64", "blank name", "no byte after the last delimiter", "no delimiter"],
)
def test_a_part_django_would_not_read_as_the_file_is_left_as_it_came(body: bytes) -> None:
    """Given a filename, these parts would come out otherwise than as a file named after their field: under another
    field name (the parameter read into an unclosed quote), a TypeError in Python's email package (filename*0 next to
    filename*), a 400 (bytes that cannot be base64), or dropped unread (a blank name, or no next part to end it)."""
    body %= {b"b": BOUNDARY}
    fields, files = parse(body)
    django_fields, django_files = parse(body, parser=MultiPartParser)
    assert list(fields.lists()) == list(django_fields.lists()) and len(fields) == 1
    assert not files and not django_files


def test_a_header_pythons_email_package_fails_on_is_a_400_not_a_500() -> None:
    """Django's parser lets the TypeError of email.utils.decode_params (filename* next to filename*0) through."""
    disposition = b"; filename*=utf-8''a.jpg; filename*0=\"b\""
    body = body_of(part("size", b"auto"), part("image_file", PHOTO, extra=disposition))
    with pytest.raises(TypeError):
        parse(body, parser=MultiPartParser)
    with pytest.raises(MultiPartParserError):
        parse(body)


@pytest.mark.parametrize("content", ["prévue ".encode() * 500_000, b"\xff\xd8" * 1_500_000], ids=["text", "bytes"])
def test_the_look_ahead_is_held_once(content: bytes) -> None:
    """The first `look_ahead` bytes of a part are held to look at them, not copied again (nor decoded whole)."""
    look_ahead = 1024 * 1024
    given = FilenamesGiven(io.BytesIO(body_of(part("image_file", content))), BOUNDARY, look_ahead=look_ahead)
    tracemalloc.start()
    try:
        while given.read(65536):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * look_ahead  # the buffer, and its copy as it grows; it was 4 times, held thrice


@pytest.mark.parametrize("length", [66_383, 66_400, 66_411])
def test_parts_after_a_filename_added_are_cut_where_djangos_parser_cuts_them(length: int) -> None:
    """A filename added makes the body longer: Django's chunks must still end where they end in the body as it came,
    or a part it passes over is read on from elsewhere (here, a 400 where its own parser gives the fields)."""
    passed_over = b"--" + BOUNDARY + b"\r\n\r\n" + b"a" * length + b"\r\n"
    body = body_of(part("image_file", b"\xff\xd8\xff"), passed_over, part("size", b"auto"))
    fields, files = parse(body)
    assert parse(body, parser=MultiPartParser)[0].dict() == {"image_file": "\ufffd" * 3, "size": "auto"}
    assert fields.dict() == {"size": "auto"} and files["image_file"].read() == b"\xff\xd8\xff"


def test_a_short_field_is_looked_at_without_reading_the_file_after_it() -> None:
    """A field's bytes are looked at up to its delimiter: the photo after it is not read `look_ahead` bytes ahead."""
    body = body_of(part("size", b"auto"), part("image_file", b"\xff\xd8" * 1_500_000, extra=b'; filename="a.jpg"'))
    given = FilenamesGiven(io.BytesIO(body), BOUNDARY, look_ahead=2_621_440)
    tracemalloc.start()
    try:
        given.read(65536)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024
