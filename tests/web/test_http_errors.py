"""removal.web.http_errors (the one mapping of errors to each API's replies), and removal.web.body_limit.BodySizeLimit
at the ASGI level: a body that stops arriving gets 408 in its API's shape; a batch upload larger than any request may
be is read only from a caller known before its body."""

import asyncio
import io
import json
import logging
import time
import uuid
from typing import Any
from unittest.mock import ANY

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import BadRequest as DjangoBadRequest
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import OperationalError
from django.http.multipartparser import MultiPartParserError

from bgsite.asgi import application
from bgsite.log_context import LogContext
from removal import errors, selectors
from removal.web import body_limit, http_errors
from tests.conftest import files_written_up_to, photo_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def stalled_post(
    path: str,
    headers: list[tuple[bytes, bytes]],
    length: int | None = 1000,
    query: bytes = b"",
    *,
    sent: int = 10,
    http_version: str = "1.1",
) -> tuple[int, dict[str, Any]]:
    """POST `path` whose body sends its first `sent` bytes and then nothing, declaring a Content-Length of `length`
    (None: none): the reply's status and JSON."""
    status, _, body = stalled_post_reply(path, headers, length, query, sent=sent, http_version=http_version)
    return status, json.loads(body)


def stalled_post_reply(
    path: str,
    headers: list[tuple[bytes, bytes]],
    length: int | None = 1000,
    query: bytes = b"",
    *,
    sent: int = 10,
    http_version: str = "1.1",
    method: str = "POST",
) -> tuple[int, dict[bytes, bytes], bytes]:
    """stalled_post's reply (or another `method`'s): its status, headers and body."""
    declared = [(b"content-length", str(length).encode())] if length is not None else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": http_version,
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *declared, *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    megabyte = b"x" * 1_000_000
    chunks = [{"type": "http.request", "body": b"x" * (sent % 1_000_000), "more_body": True}]
    chunks += [{"type": "http.request", "body": megabyte, "more_body": True}] * (sent // 1_000_000)
    replied: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # a client that sends no more
        raise AssertionError("not reached")

    async def send(message: dict[str, Any]) -> None:
        replied.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), 10))  # its http door is BodySizeLimit
    (start,) = [message for message in replied if message["type"] == "http.response.start"]
    body = b"".join(message.get("body", b"") for message in replied if message["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    ("path", "headers", "length", "status", "language", "link"),
    [  # a log-in form's body that stops arriving, in the language of the picker's cookie
        ("/accounts/login/", [(b"cookie", b"django_language=de")], 1000, 408, "de", "Zur Upload-Seite"),
        ("/i18n/setlang/", [(b"accept-language", b"fr")], 10**12, 413, "fr", "Aller à la page d\u2019envoi"),
        ("/", [(b"content-encoding", b"gzip")], 1000, 415, "en", "Go to the upload page"),
        ("/batches/", [(b"content-type", b"text/plain; a*=bogus''x")], 1000, 400, "en", "Bad request"),
    ],
)
def test_a_body_refused_at_a_pages_path_gets_the_sites_page(
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    headers: list[tuple[bytes, bytes]],
    length: int,
    status: int,
    language: str,
    link: str,
) -> None:
    """BodySizeLimit answered a browser with the API's JSON, which it shows as text."""
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    replied_status, replied_headers, body = stalled_post_reply(path, headers, length)
    assert (replied_status, replied_headers[b"Content-Type"]) == (status, b"text/html; charset=utf-8")
    assert replied_headers[b"Connection"] == b"close"
    assert f'<html lang="{language}">' in body.decode() and link in body.decode()


def test_a_body_that_stops_arriving_is_refused_with_408_in_its_apis_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    form = [(b"content-type", b"application/x-www-form-urlencoded")]

    status, batch_api = stalled_post("/api/v1/batches", form)
    assert status == 408 and batch_api["error"].startswith("the request body stopped arriving")

    status, removebg = stalled_post("/v1.0/removebg", form)
    assert status == 408 and removebg["errors"][0]["code"] == "timeout"


def test_a_batch_upload_past_any_requests_size_is_read_only_from_a_caller_known_before_its_body(
    monkeypatch: pytest.MonkeyPatch, api_key: str, client: Any, user: Any
) -> None:
    """A stranger's 2.5 GB is not read into temporary files: past two images' worth, a batch upload needs a working
    key in a header or ?key=, or a signed-in session, before its body; a key in a form field comes too late."""
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)  # a known caller's upload is read: it stalls, 408
    length = body_limit.max_body_bytes("/api/v1/batches", caller_known=False) + 1
    form = (b"content-type", b"multipart/form-data; boundary=b")
    client.force_login(user)
    session = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    for unknown in ([], [(b"x-api-key", b"bgs_nosuchke_y")], [(b"cookie", b"sessionid=forged")]):
        status, reply = stalled_post("/api/v1/batches", [form, *unknown], length)
        assert status == 401 and reply["error"].startswith("a request body over 54 MB is read only from a known caller")
    for known in ([(b"x-api-key", api_key.encode())], [(b"authorization", f"Bearer {api_key}".encode())]):
        assert stalled_post("/api/v1/batches", [form, *known], length)[0] == 408
    assert stalled_post("/api/v1/batches", [form, (b"cookie", session.encode())], length)[0] == 408
    assert stalled_post("/api/v1/batches", [form], length - 1)[0] == 408  # anyone's size: read, as before


def test_a_large_batch_upload_whose_caller_cannot_be_looked_up_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    def database_gone(scope: Any) -> bool:
        raise OperationalError("the database is gone")

    monkeypatch.setattr(body_limit, "caller_known", database_sync_to_async(database_gone))
    length = body_limit.max_body_bytes("/api/v1/batches", caller_known=False) + 1
    headers = [(b"content-type", b"multipart/form-data; boundary=b"), (b"x-api-key", b"bgs_1a2b3c4d_x")]
    status, reply = stalled_post("/api/v1/batches", headers, length)
    assert status == 503 and reply["error"].startswith("the database is busy or unreachable")


def test_the_caller_known_before_a_body_is_the_one_its_request_will_be_judged_as(
    monkeypatch: pytest.MonkeyPatch, api_key: str, client: Any, user: Any
) -> None:
    """A key sent twice is read as the view reads it (accounts.auth.the_one_api_key: two different keys, in headers
    joined by a comma or in two ?key=, are no one's; the same key twice is its own), and a session is a signed-in
    user's only while Django would take it: not once the user is deactivated or changed their password. Each was
    known before the body and refused after it: 2.5 GB read for a 401."""
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    length = body_limit.max_body_bytes("/api/v1/batches", caller_known=False) + 1
    form = (b"content-type", b"multipart/form-data; boundary=b")
    key = api_key.encode()

    def status(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> int:
        return stalled_post("/api/v1/batches", [form, *headers], length, query)[0]

    assert status([(b"x-api-key", b"bgs_nosuchke_y"), (b"x-api-key", key)]) == 401
    assert status([(b"x_api_key", key)]) == 401  # Django drops a header spelled with underscores
    assert status([], b"key=" + key + b"&key=bgs_nosuchke_y") == 401
    assert status([], b"key=bgs_nosuchke_y&key=" + key) == 401
    assert status([], b"key=" + key + b"&key=" + key) == 408

    session = signed_in(client, user)
    assert status([session]) == 408
    user.set_password("another horse battery")
    user.save()
    assert status([session]) == 401

    session = signed_in(client, user)
    user.is_active = False
    user.save()
    assert status([session]) == 401


def signed_in(client: Any, user: Any) -> tuple[bytes, bytes]:
    """The Cookie header of a new session of `user`'s."""
    client.force_login(user)
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def test_a_body_sent_compressed_is_refused_with_415_in_its_apis_shape_before_it_is_read() -> None:
    """A gzip-compressed form or JSON body was read as it came: a batch upload "no files", /bgremove "not valid
    JSON", a mask "not an image": never that the server reads no Content-Encoding."""
    gzip_form = [(b"content-type", b"multipart/form-data; boundary=b"), (b"content-encoding", b"gzip")]
    status, batch_api = stalled_post("/api/v1/batches", gzip_form)
    assert (status, batch_api["error"]) == (
        415,
        "the request body is sent with Content-Encoding 'gzip'; send it as it is (images are compressed already)",
    )
    status, removebg = stalled_post("/v1.0/removebg", [(b"content-encoding", b"br"), (b"content-encoding", b"gzip")])
    assert (status, removebg["errors"][0]["code"]) == (415, "unsupported_media_type")
    assert "'br,gzip'" in removebg["errors"][0]["title"]


def test_a_body_sent_as_it_is_or_no_body_is_read_whatever_its_content_encoding_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)  # read: it stalls, 408
    assert stalled_post("/api/v1/batches", [(b"content-encoding", b"Identity")])[0] == 408
    assert stalled_post("/api/v1/batches", [(b"content-encoding", b"gzip")], length=0, sent=0)[0] == 408


def test_a_body_of_unknown_length_past_any_requests_size_is_read_only_from_a_known_caller(
    monkeypatch: pytest.MonkeyPatch, api_key: str
) -> None:
    """A chunked body's length is unknown, whatever Content-Length says beside it (the server reads the chunks, as
    HTTP says): 'Content-Length: 10' with 'Transfer-Encoding: chunked' had a stranger's 2.5 GB read. HTTP/2 may send
    a body with neither."""
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    past = body_limit.max_body_bytes("/api/v1/batches", caller_known=False) + 1_000_000
    form = (b"content-type", b"application/octet-stream")  # no multipart parts, each of which has its own limit
    chunked = (b"transfer-encoding", b"chunked")

    status, reply = stalled_post("/api/v1/batches", [form, chunked], 10, sent=past)
    assert status == 401 and reply["error"].startswith("a request body over 54 MB is read only from a known caller")
    assert stalled_post("/api/v1/batches", [form], None, sent=past, http_version="2")[0] == 401
    known = (b"x-api-key", api_key.encode())
    assert stalled_post("/api/v1/batches", [form, chunked, known], 10, sent=past)[0] == 408  # read on, then stalled


def api_errors() -> list[tuple[errors.ApiError, int, tuple[int, str]]]:
    """Each error class: its status in the {"status", "error"} shape, and remove.bg's (status, code) for it."""
    return [
        (errors.BadRequest("x"), 400, (400, "invalid_parameter")),
        (errors.NoSubjectFound("x"), 400, (400, "unknown_foreground")),
        (errors.Unauthorized("x"), 401, (403, "auth_failed")),
        (errors.Forbidden("x"), 403, (403, "auth_failed")),
        (errors.NotFound("x"), 404, (400, "invalid_parameter")),
        (errors.MethodNotAllowed("x"), 405, (405, "method_not_allowed")),
        (errors.RequestTimeout("x"), 408, (408, "timeout")),
        (errors.Conflict("x"), 409, (409, "conflict")),
        (errors.PayloadTooLarge("x"), 413, (400, "file_too_large")),
        (errors.UnsupportedMediaType("x"), 415, (415, "unsupported_media_type")),
        (errors.TooManyRequests("x"), 429, (429, "rate_limit_exceeded")),
        (errors.QuotaExceeded("x"), 429, (402, "insufficient_credits")),
        (errors.InternalError("x"), 500, (500, "server_error")),
        (errors.ServiceUnavailable("x"), 503, (503, "service_unavailable")),
        (errors.GatewayTimeout("x"), 504, (504, "timeout")),
        (errors.BadRequest("x", code="invalid_size"), 400, (400, "invalid_size")),  # a 400 keeps its own code
        (errors.PayloadTooLarge("x", code="invalid_size"), 413, (400, "file_too_large")),
    ]


@pytest.mark.parametrize(("error", "status", "removebg"), api_errors())
def test_each_error_has_its_status_in_both_shapes(error: errors.ApiError, status: int, removebg: Any) -> None:
    error.headers = {"Retry-After": "7"}
    pixlab = http_errors.pixlab_error(error, {"RateLimit-Limit": "9"})
    assert (pixlab.status_code, json.loads(pixlab.content)) == (status, {"status": status, "error": "x"})
    assert (pixlab["Retry-After"], pixlab["RateLimit-Limit"]) == ("7", "9")
    reply = http_errors.removebg_error(error)
    assert (reply.status_code, json.loads(reply.content)) == (
        removebg[0],
        {"errors": [{"title": "x", "code": removebg[1]}]},
    )
    assert reply["Retry-After"] == "7"


def test_domain_errors_map_to_their_api_errors() -> None:
    from accounts.auth import CsrfFailed, NotAuthenticated
    from removal import events, fetch, services
    from removal.cutout import pipeline
    from removal.cutout.option_parsing import InvalidOption

    too_large = fetch.FetchedTooLarge("too large")
    failed = fetch.FetchError("could not fetch")
    failed.field = "bg_image_url"
    cases: list[tuple[Exception, int, str, dict[str, str]]] = [
        (NotAuthenticated("who"), 401, "", {}),
        (CsrfFailed("csrf"), 403, "", {}),
        (InvalidOption("size", "bad"), 400, "invalid_size", {}),
        (services.ItemNotEditable("busy"), 409, "", {}),
        (services.NothingToImprove("none"), 409, "", {}),
        (too_large, 413, "", {}),
        (failed, 400, "failed_bg_download", {}),
        (services.StorageUnavailable("down"), 503, "", {"Retry-After": "30"}),
        (OperationalError("locked"), 503, "", {"Retry-After": "5"}),
    ]
    for exc, status, code, headers in cases:
        error = http_errors.as_api_error(exc)
        assert error is not None and (error.status, error.code, error.headers) == (status, code, headers), exc
    rejected = services.NothingAccepted([services.RejectedFile(filename="a.jpg", error="the file is empty")])
    refused = http_errors.as_api_error(rejected)
    assert refused is not None and refused.status == 400
    assert refused.details == {"rejected": [{"filename": "a.jpg", "error": "the file is empty"}]}
    nothing = http_errors.as_api_error(services.NothingAccepted([]))
    assert nothing is not None and (nothing.status, nothing.details) == (400, {})
    unreadable = http_errors.as_api_error(pipeline.ImageRejected("the file is empty"))
    assert unreadable is not None and (unreadable.status, unreadable.code, unreadable.message) == (
        400,
        "failed_to_read_image",
        "the file is empty",
    )
    for gone in (services.BatchDeleted("gone"), services.ItemDeleted()):
        error = http_errors.as_api_error(gone)
        assert error is not None and error.status == 404
    item_id = uuid.uuid4()
    late = http_errors.as_api_error(events.NotFinishedInTime(item_id, 30))
    assert late is not None and late.status == 504
    assert late.details == {"id": str(item_id), "result": f"/api/v1/items/{item_id}/result"}
    not_utf8 = http_errors.as_api_error(DjangoBadRequest("must be UTF-8 encoded"))  # Django's reason, not "bad request"
    assert not_utf8 is not None and (not_utf8.status, not_utf8.message) == (400, "must be UTF-8 encoded")
    for unread in (MultiPartParserError("bad boundary"), TooManyFilesSent(), TooManyFieldsSent()):
        error = http_errors.as_api_error(unread)
        assert error is not None and error.status == 400, unread
    fields_too_large = http_errors.as_api_error(RequestDataTooBig())
    assert fields_too_large is not None and fields_too_large.status == 413
    assert http_errors.as_api_error(KeyError("a bug")) is None
    with pytest.raises(KeyError):
        http_errors.pixlab_error(KeyError("a bug"))


def test_a_failed_item_is_a_400_when_its_input_was_refused_else_a_503_to_retry() -> None:
    from removal.models import Item

    refused = http_errors.item_failure_error(Item(error="not an image", input_rejected=True))
    assert (refused.status, refused.code, refused.message) == (400, "failed_to_read_image", "not an image")
    failed = http_errors.item_failure_error(Item(error="storage is down", input_rejected=False))
    assert (failed.status, failed.message, failed.headers) == (503, "storage is down", {"Retry-After": "30"})


def test_removebg_replies_carry_its_rate_limit_names_and_bugs_propagate() -> None:
    before = int(time.time())
    reply = http_errors.removebg_error(
        errors.TooManyRequests("slow down"),
        {"RateLimit-Limit": "9", "RateLimit-Remaining": "0", "RateLimit-Reset": "60"},
    )
    assert (reply["X-RateLimit-Limit"], reply["X-RateLimit-Remaining"]) == ("9", "0")
    assert before + 60 <= int(reply["X-RateLimit-Reset"]) <= int(time.time()) + 60  # a Unix time, as remove.bg's
    with pytest.raises(KeyError):
        http_errors.removebg_error(KeyError("a bug"))


def test_a_body_with_no_room_in_the_temporary_folder_is_a_503_in_its_apis_shape(settings: Any) -> None:
    """Found by the embedded-default audit, TMPDIR on a 6 MB tmpfs: Django's ASGI handler spools a body past
    FILE_UPLOAD_MAX_MEMORY_SIZE into TMPDIR before any view, and its OSError (no space left) reached uvicorn, which
    answered a bare 500 "Internal Server Error" to a batch upload, /bgremove and /v1.0/removebg. Now storage's 503."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    with files_written_up_to(50_000):
        status, batch_api = stalled_post("/api/v1/batches", form, length=200_000, sent=200_000)
        removebg_status, removebg = stalled_post("/v1.0/removebg", form, length=200_000, sent=200_000)
    assert status == 503 and batch_api["error"] == "storage is unavailable (OSError); try again shortly"
    assert removebg_status == 503 and removebg["errors"][0]["code"] == "service_unavailable"


def test_a_body_with_no_room_in_the_temporary_folder_at_a_pages_path_is_the_sites_503_page(settings: Any) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    form = [(b"content-type", b"application/x-www-form-urlencoded"), (b"accept-language", b"es")]
    with files_written_up_to(50_000):
        status, headers, page = stalled_post_reply("/accounts/login/", form, length=200_000, sent=200_000)
    assert (status, headers[b"Content-Type"], headers[b"Retry-After"]) == (503, b"text/html; charset=utf-8", b"30")
    assert '<html lang="es">' in page.decode() and "Ir a la página de subida" in page.decode()


def test_an_uploaded_file_with_no_room_in_the_temporary_folder_is_a_503(api: Any, settings: Any) -> None:
    """Django's multipart parser writes each file past FILE_UPLOAD_MAX_MEMORY_SIZE into FILE_UPLOAD_TEMP_DIR (TMPDIR)
    when the view reads it: no room there was a 500 `internal error`, as storage full is a 503."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    photo = photo_bytes("astronaut.png", fmt="PNG")
    assert len(photo) > 100_000
    with files_written_up_to(50_000):
        reply = api.post("/api/v1/batches", {"files": [io.BytesIO(photo)]})
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "30"
    assert reply.json()["error"] == "storage is unavailable (OSError); try again shortly"


def asgi_request(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str], Any]:
    """`method path` with no body through the whole ASGI application: status, headers and JSON of the reply."""
    scope = {
        **{"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "root_path": ""},
        **{"method": method, "path": path, "raw_path": path.encode(), "query_string": b""},
        **{"headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 50000)},
        "server": ("testserver", 80),
    }
    replied: list[dict[str, Any]] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if bodies:
            return bodies.pop()
        await asyncio.sleep(3600)  # a client that waits for its reply
        raise AssertionError("not reached")

    async def send(message: dict[str, Any]) -> None:
        replied.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), 10))
    (start,) = [message for message in replied if message["type"] == "http.response.start"]
    body = b"".join(message.get("body", b"") for message in replied if message["type"] == "http.response.body")
    return start["status"], {name.decode(): value.decode() for name, value in start["headers"]}, json.loads(body)


def test_an_error_body_carries_the_request_id_in_each_apis_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user quotes from an error finds its log lines (bgsite.log_context)."""
    status, headers, pixlab = asgi_request("POST", "/bgremove", [(b"x-request-id", b"support-case-1")])
    assert (status, pixlab["request_id"], headers["x-request-id"]) == (401, "support-case-1", "support-case-1")

    status, headers, batch_api = asgi_request("GET", f"/api/v1/batches/{uuid.uuid4()}", [])
    assert status == 401 and batch_api["request_id"] == headers["x-request-id"]

    status, headers, removebg = asgi_request("GET", "/v1.0/removebg", [])
    (error,) = removebg["errors"]
    assert status == 405 and error == {"title": error["title"], "code": "method_not_allowed", "request_id": ANY}
    assert error["request_id"] == headers["x-request-id"]

    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)  # and a refusal the ASGI door makes
    status, refused = stalled_post("/v1.0/removebg", [(b"x-request-id", b"support-case-2")])
    assert status == 408 and refused["errors"][0]["request_id"] == "support-case-2"


def test_a_bugs_500_names_the_request_id_its_traceback_is_logged_under(
    api_key: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "batches_named", broken)
    caplog.handler.addFilter(LogContext())
    with caplog.at_level(logging.INFO):
        status, _, reply = asgi_request("GET", "/api/v1/batches", [(b"x-api-key", api_key.encode())])
    assert (status, reply["error"]) == (500, "internal error; it has been logged")
    (logged,) = [record for record in caplog.records if record.name == "django.request"]
    assert (logged.levelname, logged.request_id) == ("ERROR", reply["request_id"])  # type: ignore[attr-defined]
    assert logged.exc_info is not None and "a bug" in str(logged.exc_info[1])
