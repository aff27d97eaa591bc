"""removal.web.error_pages: the handlers bgsite.urls names, in each API's shape under its prefix, the site's pages
elsewhere; an error that maps to a 503 (the database or storage unavailable) is one, with Retry-After."""

import json
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from removal import errors
from removal.web import error_pages
from tests.conftest import error_text

UNAVAILABLE = "the database is busy or unreachable; try again in a few seconds"
pytestmark = pytest.mark.django_db


def handled_while_the_database_fails(request: Any) -> Any:
    """server_error's reply as Django calls it: inside the `except` of a real failed query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM a_table_that_is_not_there")
    except OperationalError:
        return error_pages.server_error(request)
    raise AssertionError("the query did not fail")


def test_a_page_whose_database_fails_is_a_503_page_saying_to_try_again(rf: Any) -> None:
    reply = handled_while_the_database_fails(rf.post("/accounts/login/"))
    assert reply.status_code == 503 and reply["Retry-After"] == "5"
    html = reply.content.decode()
    assert "<h1>Briefly unavailable</h1>" in html and "/static/css/site.css" in html


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/batches", {"status": 503, "error": UNAVAILABLE}),
        ("/bgremove", {"status": 503, "error": UNAVAILABLE}),
        ("/v1.0/removebg", {"errors": [{"title": UNAVAILABLE, "code": "service_unavailable"}]}),
    ],
)
def test_an_api_call_whose_database_fails_past_its_view_is_a_503_in_its_shape(
    rf: Any, path: str, body: dict[str, Any]
) -> None:
    reply = handled_while_the_database_fails(rf.get(path))
    assert (reply.status_code, reply["Retry-After"], json.loads(reply.content)) == (503, "5", body)


def test_a_bug_stays_a_500(rf: Any) -> None:
    try:
        raise ValueError("a bug")
    except ValueError:
        reply = error_pages.server_error(rf.get("/batches/"))
    assert reply.status_code == 500 and not reply.has_header("Retry-After")
    assert "<h1>Something went wrong</h1>" in reply.content.decode()


def test_a_refusal_at_a_page_with_no_page_of_its_status_keeps_its_json() -> None:
    # 401 and 429 are an API's (a key, a rate): there is no templates/401.html to render, and no 500 for the lack.
    refused = error_pages.refusal_reply("/", errors.Unauthorized("a key is needed"), {b"accept-language": b"fr"})
    assert (refused.status_code, json.loads(refused.content)["error"]) == (401, "a key is needed")  # type: ignore[attr-defined]
    page = error_pages.refusal_reply("/", errors.BadRequest("unreadable"), {b"accept-language": b"fr"})
    assert page["Content-Type"] == "text/html; charset=utf-8" and '<html lang="fr">' in page.content.decode()  # type: ignore[attr-defined]


def test_djangos_bare_405_at_a_page_is_the_sites_page_in_its_language(client: Any, user: Any) -> None:
    """require_POST answered a GET of /accounts/keys/ (typed, or a bookmark) with no body: a blank page."""
    client.force_login(user)
    reply = client.get("/accounts/keys/", headers={"Accept-Language": "fr"})
    assert (reply.status_code, reply["Allow"]) == (405, "POST")
    html = reply.content.decode()
    assert "<h1>Requête non autorisée ici</h1>" in html and '<html lang="fr">' in html


@pytest.mark.parametrize("path", ["/client/bgsite-client.tar.gz", "/sample/cutout.png", "/jsi18n/"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS"])
def test_a_public_file_answers_another_method_with_the_sites_405_page(path: str, method: str) -> None:
    """The client's sdist and the sample cutout answered a PUT or DELETE with the CSRF check's page for a form; so did
    the pages' JavaScript catalog (/jsi18n/), which answered OPTIONS with a blank 200."""
    reply = Client(enforce_csrf_checks=True).generic(method, path, headers={"Accept-Language": "fr"})
    assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD")
    assert "<h1>Requête non autorisée ici</h1>" in reply.content.decode()


@pytest.mark.parametrize("method", ["DELETE", "TRACE"])
def test_a_page_under_an_apis_prefix_answers_another_method_in_its_shape(method: str) -> None:
    """/api/docs answered a TRACE with itself, and a DELETE with the CSRF check's HTML page for a form."""
    reply = Client(enforce_csrf_checks=True).generic(method, "/api/docs")
    assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD")
    assert json.loads(reply.content)["error"] == f"{method} is not allowed here; use GET or HEAD"


def test_a_pages_form_too_large_to_read_is_the_413_page_not_the_400s(client: Any) -> None:
    """Django's RequestDataTooBig (a form's fields over DATA_UPLOAD_MAX_MEMORY_SIZE) was the page that says the
    server could not understand the request."""
    reply = client.post("/accounts/login/", {"username": "alice", "password": "p" * 3_000_000})
    assert reply.status_code == 413
    assert "<h1>Request too large</h1>" in reply.content.decode()


@pytest.mark.parametrize("path", ["/api/v1/batches", "/bgremove", "/v1.0/account"])
def test_an_api_call_to_a_host_name_not_served_says_so(path: str) -> None:
    """Django refuses a Host header outside ALLOWED_HOSTS (DisallowedHost, a 400): the reply said only "bad request",
    so a client calling the server by its address, or by a name the operator had not listed, could not tell why."""
    reply = Client().get(path, HTTP_HOST="198.51.100.7:8000")
    assert reply.status_code == 400
    message = error_text(path, reply)
    assert message == (
        "the Host header '198.51.100.7:8000' is not a name this server answers to (its ALLOWED_HOSTS); "
        "call it by one of its names"
    )
