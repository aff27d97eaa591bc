"""bgsite.multipart_watch: part sizes and skipped files, found in a body fed in pieces of any size."""

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from bgsite.multipart_watch import UNREADABLE_HEADER, DroppedPart, MultipartWatch, boundary_of


def body(parts: list[tuple[bytes, bytes]]) -> bytes:
    """A multipart body of (Content-Disposition value, content) parts, as browsers send it."""
    out = b""
    for disposition, content in parts:
        out += (
            b"--XyZ\r\nContent-Disposition: "
            + disposition
            + b"\r\nContent-Type: image/jpeg\r\n\r\n"
            + content
            + b"\r\n"
        )
    return out + b"--XyZ--\r\n"


def watched(data: bytes, *, piece: int, max_part_bytes: int = 1000) -> MultipartWatch:
    watch = MultipartWatch(b"XyZ", max_part_bytes=max_part_bytes)
    for start in range(0, len(data), piece):
        watch.feed(data[start : start + piece])
    return watch


@pytest.mark.parametrize("piece", [1, 2, 7, 64, 100_000])
def test_parts_at_the_limit_pass_and_one_byte_more_is_named(piece: int) -> None:
    at_limit = body([(b'form-data; name="files"; filename="a.jpg"', b"\r-" * 500), (b'form-data; name="x"', b"1")])
    watch = watched(at_limit, piece=piece)
    assert watch.oversized is None and watch.finished and watch.dropped == []
    over = body(
        [
            (b'form-data; name="files"; filename="a.jpg"', b"a"),
            (b'form-data; name="files"; filename="big.jpg"', b"b" * 1001),
        ]
    )
    assert watched(over, piece=piece).oversized == "big.jpg"


def test_the_part_is_named_as_soon_as_it_passes_the_limit() -> None:
    watch = MultipartWatch(b"XyZ", max_part_bytes=1000)
    watch.feed(b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n\r\n' + b"x" * 900)
    assert watch.oversized is None
    watch.feed(b"x" * 200)  # no closing boundary yet: the rest of the body never needs to arrive
    assert watch.oversized == "big.jpg"


def test_a_part_without_a_filename_is_bounded_as_a_file_is() -> None:
    """A file sent without a filename is read as one (bgsite.filenameless_parts), up to the same limit."""
    assert watched(body([(b'form-data; name="image_file"', b"\xff" * 1001)]), piece=64).oversized == "image_file"


@pytest.mark.parametrize("piece", [3, 100_000])
def test_files_django_would_skip_are_noted(piece: int) -> None:
    data = body(
        [
            (b'form-data; name="files"; filename=".."', b"a"),
            (b'form-data; name="files"; filename="caf\xe9.jpg"', b"b"),
            (b'form-data; name="files"; filename="dir/."', b"c"),
            (b'form-data; name="files"; filename="ok.jpg"', b"d"),
            (b'form-data; name="files"; filename=""', b""),  # an empty file input: a field to Django
        ]
    )
    watch = watched(data, piece=piece)
    assert watch.dropped == [
        DroppedPart("..", "'..' is not a file name; give the file a name"),
        DroppedPart("caf\ufffd.jpg", "its part's headers are not UTF-8, so its name cannot be read; send it in UTF-8"),
        DroppedPart("dir/.", "'dir/.' is not a file name; give the file a name"),
    ]


def test_django_test_client_bodies_are_read() -> None:
    data = encode_multipart(BOUNDARY, {"files": [], "size": "auto"})
    boundary = boundary_of(MULTIPART_CONTENT)
    assert boundary == BOUNDARY.encode()
    watch = MultipartWatch(boundary, max_part_bytes=10)
    watch.feed(data)
    assert watch.finished and watch.oversized is None


@pytest.mark.parametrize("piece", [1, 5, 100_000])
def test_a_body_with_no_delimiter_of_its_boundary_is_told_apart(piece: int) -> None:
    delimited = body([(b'form-data; name="files"; filename="a.jpg"', b"x" * 10)])
    assert watched(delimited, piece=piece).delimited
    assert watched(b"\r\n--XyZ--\r\n", piece=piece).delimited  # a form without fields: a delimiter still
    assert not watched(delimited.replace(b"XyZ", b"AbC"), piece=piece).delimited  # another boundary than the header's


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x"])
def test_other_bodies_are_not_watched(content_type: str) -> None:
    assert boundary_of(content_type) is None


def test_headers_too_long_to_read_are_passed_over() -> None:
    """Django reads header parameters up to 10,000 characters: a longer Content-Type is refused, a part skipped."""
    with pytest.raises(ValueError):  # the middleware answers 400 (tests/web/test_issue22_live.py)
        boundary_of("multipart/form-data; boundary=XyZ; note=" + "a" * 10_000)
    long_name = b'form-data; name="files"; filename="' + b"a" * 10_000 + b'.jpg"'
    watch = watched(body([(long_name, b"x"), (b'form-data; name="files"; filename="b.jpg"', b"y" * 1001)]), piece=64)
    assert watch.dropped == [DroppedPart("a" * 100, UNREADABLE_HEADER)] and watch.oversized == "b.jpg"


def test_a_file_whose_part_header_cannot_be_read_is_named_as_dropped() -> None:
    """Django's parser passes over a Content-Disposition it cannot read (here an unknown charset), and the file."""
    unreadable = b"form-data; name=\"files\"; filename*=bogus''a%20b.jpg"
    watch = watched(body([(unreadable, b"x"), (b'form-data; name="files"; filename="b.jpg"', b"y")]), piece=7)
    assert watch.dropped == [DroppedPart("a%20b.jpg", UNREADABLE_HEADER)] and watch.finished


def test_a_header_pythons_email_package_fails_on_is_passed_over() -> None:
    """filename* next to filename*0 makes email.utils.decode_params compare None with 0 (TypeError): the watch, in
    the ASGI stack before any view, must not fail on it (a 500 with no body of the API's shape)."""
    watch = watched(body([(b'form-data; name="files"; filename*=utf-8\'\'a.jpg; filename*0="b"', b"x")]), piece=7)
    assert watch.finished and watch.oversized is None


@pytest.mark.parametrize("piece", [1, 5, 100_000])
def test_a_body_that_ends_inside_a_part_is_told_apart(piece: int) -> None:
    whole = body([(b'form-data; name="files"; filename="a.jpg"', b"x" * 10)])
    assert watched(whole, piece=piece).unreadable() == ""
    for end in (b"\r\n--XyZ", b"\r\n--XyZ\r\n", b"\r\n--XyZ-"):  # no closing "--" or CRLF: Django reads the part
        assert watched(whole[: whole.rindex(b"\r\n--XyZ")] + end, piece=piece).unreadable() == ""
    for cut in (len(whole) - len(b"\r\n--XyZ--\r\n"), len(whole) - 20, 30):  # in the file's bytes, in its headers
        reason = watched(whole[:cut], piece=piece).unreadable()
        assert reason.startswith("the multipart/form-data body ends inside a part, with no boundary after it"), reason
    assert watched(whole.replace(b"XyZ", b"AbC"), piece=piece).unreadable() == (
        "the multipart/form-data body holds no part that starts with its boundary, 'XyZ'"
    )
