"""The OpenAPI document: valid, in step with the URLconf, and honoured by the live server under fuzzing."""

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from hypothesis import HealthCheck, given, settings, strategies
from schemathesis import checks

from removal.cutout.option_parsing import is_true
from removal.cutout.options import OPTION_NAMES, OPTIONS, QUALITIES
from removal.models import Batch, Item
from removal.serializers import BatchStatus, batch_status
from removal.web import body_limit
from removal.web.openapi import document
from removal.web.openapi_schemas import OPTION_PROPERTIES
from tests.conftest import LiveServer, make_item, photo_bytes
from tests.web.test_http_errors import stalled_post_reply

DOCUMENTED_ELSEWHERE = {"v1.0/removebg", "v1.0/account"}  # remove.bg's own contract; see docs/api.md


def django_api_paths() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                found.add(prefix + route)

    walk(get_resolver().url_patterns, "")
    return {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        for path in found
        if path.startswith(("api/v1/", "bgremove", "store")) and path not in DOCUMENTED_ELSEWHERE
    }


def test_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(document())
    assert sum(1 for _ in schema.get_all_operations()) >= 15


def test_every_api_url_is_documented_and_nothing_else(db: Any) -> None:
    assert set(document()["paths"]) == django_api_paths()


def test_every_option_is_documented() -> None:
    assert set(OPTION_NAMES) <= set(OPTION_PROPERTIES)


def test_the_option_properties_are_the_declaration() -> None:
    for option in OPTIONS:
        prop = OPTION_PROPERTIES[option.name]
        assert prop == option.openapi()  # no other option's further parameter took its name
        assert prop["type"] == "string" and prop.get("description") == (option.summary or None)
        words = [*option.values, *option.aliases]
        if option.pattern:
            assert all(re.fullmatch(prop["pattern"], word) for word in words), option.name
        elif words:
            assert prop["enum"] == words
    assert OPTION_PROPERTIES["quality"]["enum"] == ["fast", "best"]
    assert document()["components"]["schemas"]["BgremoveParameters"]["properties"]["quality"]["enum"] == [
        "fast",
        "best",
    ]


def test_every_bgremove_parameter_says_what_it_does() -> None:
    """/api/docs listed img, blob, crop, channels, alpha_matting, add_shadow, the matting thresholds and the shadow's
    settings with their values and no word on what they do."""
    for path in ("/bgremove", "/api/v1/bgremove"):
        query = document()["paths"][path]["get"]["parameters"]
        assert [parameter["name"] for parameter in query if not parameter["schema"].get("description")] == []
    body = document()["components"]["schemas"]["BgremoveParameters"]["properties"]
    assert [name for name, schema in body.items() if not schema.get("description")] == []


def test_a_cutout_that_failed_on_the_server_is_a_503_as_the_docs_say() -> None:
    """The schema gave it as a 500 ("The image could not be processed on our side."), which /bgremove never answers
    for it: docs/api.md's 503, send it again; a 500 is a crash."""
    replies = document()["paths"]["/bgremove"]["get"]["responses"]
    assert "processing failed" in replies["503"]["description"]
    assert "processed" not in replies["500"]["description"]


def test_blob_lists_every_word_the_parser_reads_as_yes_in_the_query_and_the_body() -> None:
    """`blob` is read by is_true (true, 1, yes, on, any case): the query said only true or false, the body left out
    on and off."""
    bgremove = document()["paths"]["/bgremove"]["get"]["parameters"]
    in_query = next(parameter["schema"]["enum"] for parameter in bgremove if parameter["name"] == "blob")
    in_body = document()["components"]["schemas"]["BgremoveParameters"]["properties"]["blob"]["enum"]
    assert in_query == in_body
    assert {word for word in in_body if is_true(word)} == {"true", "1", "yes", "on"}
    assert {word for word in in_body if not is_true(word)} == {"false", "0", "no", "off"}


def test_a_429_is_promised_only_where_reads_are_counted(db: Any) -> None:
    """docs/api.md: downloads of stored files (results, originals, thumbnails, a mask's GET, /store/<id>) are not
    counted against the rate limits, so they never answer 429; the schema promised one for each."""
    for path, operations in document()["paths"].items():
        if "get" in operations:
            view = resolve(re.sub(r"\{\w+\}", "0d6f3c5e-8a0b-4c1e-9a51-3f0e7f6b2d14", path)).func
            assert ("429" in operations["get"]["responses"]) == getattr(view, "rate_limited_reads", True), path


def documented(path: str, method: str) -> dict[str, Any]:
    operation = document()["paths"][path][method]
    return {"statuses": set(operation["responses"]), "parameters": {p["name"] for p in operation.get("parameters", [])}}


def test_a_stored_images_get_documents_what_it_answers(api: Any) -> None:
    """/api/v1/store/<id> is sent as every stored file is (removal.web.endpoints.stored_file_response): it reads
    `download` (a word it does not know, or the parameter given twice, is a 400) and answers a conditional request
    with a 304. The document listed 200, 401, 404 and 405 only, and no `download` (schemathesis: 400 undocumented)."""
    stored = api.post("/store", {"file": SimpleUploadedFile("me.jpg", photo_bytes(size=(32, 32)))}).json()
    url = f"/api/v1/store/{stored['id']}"
    sent = api.get(url)
    replies = [
        sent,
        api.get(url, {"download": "maybe"}),
        api.get(f"{url}?download=1&download=0"),
        api.get(url, headers={"If-None-Match": sent["ETag"]}),
        api.get(url, {"download": "true"}),
    ]
    assert [reply.status_code for reply in replies] == [200, 400, 400, 304, 200]
    assert replies[-1]["Content-Disposition"].startswith("attachment")
    store_get = documented("/api/v1/store/{image_id}", "get")
    assert {str(reply.status_code) for reply in replies} <= store_get["statuses"]
    assert "download" in store_get["parameters"]


@pytest.mark.django_db(transaction=True)  # BodySizeLimit asks who the caller is on a connection of its own
def test_each_operation_with_a_body_documents_the_refusals_of_one(monkeypatch: Any, api_key: str) -> None:
    """removal.web.body_limit refuses a body before any view reads it, at every path: past its size (413), sent
    compressed (415), stalled (408). Only some operations listed a 413 and none a 415 or 408 (PATCH
    /api/v1/batches/<id> with a 3 MB JSON name: 413, undocumented)."""
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    known = (b"x-api-key", api_key.encode())
    refusals = {
        413: {"length": 10**12, "headers": [known]},
        415: {"headers": [known, (b"content-encoding", b"gzip")]},
        408: {"headers": [known]},
    }
    undocumented = []
    for path, operations in document()["paths"].items():
        url = re.sub(r"\{\w+\}", "0d6f3c5e-8a0b-4c1e-9a51-3f0e7f6b2d14", path)
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            for status, request in refusals.items():
                assert stalled_post_reply(url, method=method.upper(), **request)[0] == status, (method, path)
                if str(status) not in operation["responses"]:
                    undocumented.append(f"{status} {method.upper()} {path}")
    assert undocumented == []


def test_the_models_operation_documents_its_405(client: Any, db: Any) -> None:
    """Every other operation lists the 405 its path answers another method with; /api/v1/models listed its 200
    alone (schemathesis: POST /api/v1/models, 405 with Allow: GET, HEAD)."""
    reply = client.post("/api/v1/models")
    assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD")
    assert "405" in documented("/api/v1/models", "get")["statuses"]
    assert all("405" in operation["responses"] for ops in document()["paths"].values() for operation in ops.values())


def test_each_write_documents_the_403_a_browsers_write_without_its_csrf_token_gets(user: Any) -> None:
    """A signed-in browser's write without the CSRF token is a 403 at every operation that writes; PATCH
    /api/v1/batches/<id> (a batch's rename, which the page sends) did not list it."""
    batch = Batch.objects.create(owner=user)
    ids = {"batch_id": str(batch.id), "item_id": str(make_item(batch).id), "image_id": str(batch.id)}
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    for path, operations in document()["paths"].items():
        for method in operations.keys() - {"get"}:
            reply = browser.generic(method.upper(), path.format(**ids), "{}", content_type="application/json")
            assert reply.status_code == 403, (method, path, reply.content)
            assert "403" in operations[method]["responses"], (method, path)


def test_adding_files_documents_that_they_take_the_batchs_options(api: Any, user: Any) -> None:
    """POST /api/v1/batches/<id>/files lists every option in its body, as creating a batch does, but an option given
    another value than the batch's is a 400 (docs/api.md, "Add files to a batch"); the document did not say so, and
    schemathesis saw most of its generated bodies refused."""
    batch = Batch.objects.create(owner=user)
    photo = SimpleUploadedFile("a.jpg", photo_bytes(size=(32, 32)))
    reply = api.post(f"/api/v1/batches/{batch.id}/files", {"files": photo, "crop": "true"})
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("crop: files added to a batch take the options it was created with")
    description = document()["paths"]["/api/v1/batches/{batch_id}/files"]["post"].get("description", "")
    assert "take the options the batch was created with" in description and "400" in description


def test_status_and_quality_enums_are_the_models_and_the_options() -> None:
    schemas = document()["components"]["schemas"]
    for name in ("Item", "ManifestEntry"):
        assert schemas[name]["properties"]["status"]["enum"] == Item.Status.values
        assert schemas[name]["properties"]["quality"]["enum"] == list(QUALITIES)
    assert schemas["Counts"]["required"] == [*Item.Status.values, "total", "needs_review"]
    assert schemas["BatchSummary"]["properties"]["status"]["enum"] == ["processing", "done", "empty"]
    assert {batch_status({"total": 0}), batch_status({"total": 1, "queued": 1, "processing": 0})} <= set(BatchStatus)


def test_a_web_process_without_workers_answers_models_as_documented(client: Any, db: Any, settings: Any) -> None:
    """Its providers, layout and max_batch are the worker processes' (removal.ops.models_run_on): an empty list and
    nulls while none is seen, which the schema allows, as it does their `workers`."""
    from jsonschema import Draft202012Validator

    from removal import services

    settings.EMBEDDED_WORKERS = 0
    validator = Draft202012Validator(document()["components"]["schemas"]["Models"])
    nobody = client.get("/api/v1/models").json()
    services.worker_process_seen(
        name="w", threads=2, providers=["CPUExecutionProvider"], layout="shared", max_batch=2, models=["u2netp"]
    )
    one_worker = client.get("/api/v1/models").json()
    for reply in (nobody, one_worker):
        assert list(validator.iter_errors(reply)) == []
    assert (nobody["layout"], one_worker["layout"], one_worker["workers"][0]["threads"]) == (None, "shared", 2)


def test_schema_and_docs_pages(client: Any, db: Any) -> None:
    assert client.get("/api/schema").json()["openapi"] == "3.1.0"
    page = client.get("/api/docs").content.decode()
    assert "POST /api/v1/batches" in page and "GET /bgremove" in page
    assert "<th>Status</th>" in page and "<code>blob</code>" in page
    assert 'src="http' not in page and 'href="http' not in page  # nothing from other sites


@pytest.mark.live
def test_each_operation_documents_the_503_of_a_database_that_refuses_it(
    server_factory: Any, limited_postgres_url: str
) -> None:
    """A database that refuses a connection is a 503 with Retry-After at every operation (removal.web.http_errors:
    the key is looked up in it, /api/v1/models reads the workers there), as tests/ops/test_scaled.py sees at GET
    /api/v1/batches; 15 of the 29 operations, that one among them, did not list a 503."""
    import psycopg

    web = server_factory(DATABASE_URL=limited_postgres_url, EMBEDDED_WORKERS="0", SECRET_KEY="one-web-process")
    web.start()
    key = web.create_user("reader")
    web.stop()  # and its kept shell's connection; the server's own close after each request (CONN_MAX_AGE 0)
    web.start()
    held = []
    try:
        with contextlib.suppress(psycopg.OperationalError):
            while len(held) < 10:  # every connection the role may open, until PostgreSQL refuses one
                held.append(psycopg.connect(limited_postgres_url, connect_timeout=5))
        for path, operations in document()["paths"].items():
            url = web.url + re.sub(r"\{\w+\}", "0d6f3c5e-8a0b-4c1e-9a51-3f0e7f6b2d14", path)
            for method, operation in operations.items():
                reply = requests.request(method, url, headers={"X-Api-Key": key}, timeout=30)
                assert (reply.status_code, reply.headers.get("Retry-After")) == (503, "5"), (method, path)
                assert "503" in operation["responses"], (method, path)
    finally:
        for connection in held:
            connection.close()
        web.stop()


@dataclass(frozen=True)
class FuzzTarget:
    """A server to fuzz, its key, and real objects of that key's user for path parameters."""

    server: LiveServer
    key: str
    known: dict[str, str]
    known_to_delete: dict[str, str]  # for DELETE, whose first case removes the object


@pytest.fixture(scope="module")
def fuzz_target(server_factory: Any) -> FuzzTarget:
    server = server_factory(RATE_LIMITS_ENABLED="false", BGREMOVE_TIMEOUT_SECONDS="30")
    server.start()
    key = server.create_user("fuzzer")
    auth = {"X-Api-Key": key}
    photo = photo_bytes("astronaut.png", size=(64, 64))
    stored = requests.post(f"{server.url}/store", files={"file": ("a.jpg", photo)}, headers=auth, timeout=30)
    batch = requests.post(
        f"{server.url}/api/v1/batches", files={"files": ("a.jpg", photo)}, headers=auth, timeout=30
    ).json()
    deadline = time.monotonic() + 60
    while batch["status"] != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
        batch = requests.get(f"{server.url}/api/v1/batches/{batch['id']}", headers=auth, timeout=30).json()
    assert batch["status"] == "done", batch
    known = {"batch_id": batch["id"], "item_id": batch["items"][0]["id"], "image_id": stored.json()["id"]}
    # Each DELETE gets a batch of its own, so that the operations after it still find the first one.
    doomed = [
        requests.post(f"{server.url}/api/v1/batches", files={"files": (name, photo)}, headers=auth, timeout=30).json()
        for name in ("b.jpg", "c.jpg")
    ]
    doomed_ids = {"batch_id": doomed[0]["id"], "item_id": doomed[1]["items"][0]["id"]}
    return FuzzTarget(server, key, known, doomed_ids)


CREDENTIALS = ("Authorization", "WWW-Authenticate", "X-Api-Key")
REFUSED_URL = "http://127.0.0.1:9/x.jpg"  # loopback: refused by the server's address check


def with_only_our_key(case: Any, target: FuzzTarget, *, img_is_stored: bool) -> None:
    """Drop generated credentials (every case runs as the fuzzer) and make URL parameters harmless.

    Generated URLs must never make the server reach outside 127.0.0.0/8, not even by DNS: each
    becomes REFUSED_URL, which the server refuses before connecting. Values without "://" have
    no host name, and the server refuses those before any lookup.
    """
    for name in CREDENTIALS:
        case.headers.pop(name, None)
    for container in (case.query, case.body if isinstance(case.body, dict) else None):
        if container is None:
            continue
        container.pop("key", None)
        for name in ("img", "bg_image", "callback_url"):
            if isinstance(container.get(name), str) and "://" in container[name]:
                container[name] = REFUSED_URL
    if img_is_stored and case.operation.path.endswith("/bgremove"):
        # The stored photo, so that the options are applied to a real cutout. A generated model
        # name or background URL would only be refused, so those keep their defaults here.
        for container in (case.query, case.body if isinstance(case.body, dict) else {}):
            container.pop("model", None)
            container.pop("bg_image", None)
            container["img"] = target.known["image_id"]


# Schema-valid input can still be refused (a random string is a valid `img` but not a reachable image),
# so "positive data acceptance" is not checked; everything about the responses is.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(document()).get_all_operations()]


@pytest.mark.live
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS])
def test_api_conforms_to_its_schema(operation: Any, fuzz_target: FuzzTarget) -> None:
    """schemathesis cases for each operation: no 5xx, documented statuses, content types and bodies.

    Path parameters are random ids (404) or the ids of real objects, so the 200 replies are checked too.
    """
    names = {parameter.name for parameter in operation.path_parameters}
    deletes_it = operation.method.upper() == "DELETE" and operation.path.endswith("}")  # not a mask's revert
    known = fuzz_target.known_to_delete if deletes_it else fuzz_target.known
    real_ids = {name: value for name, value in known.items() if name in names}
    cases = operation.as_strategy()
    if real_ids:
        cases = strategies.one_of(cases, operation.as_strategy(path_parameters=real_ids))

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=cases, img_is_stored=strategies.integers(0, 2).map(bool))
    def check(case: Any, img_is_stored: bool) -> None:
        with_only_our_key(case, fuzz_target, img_is_stored=img_is_stored)
        case.call_and_validate(
            base_url=fuzz_target.server.url, headers={"X-Api-Key": fuzz_target.key}, checks=CHECKS, timeout=60
        )

    check()


def fuzzed_batches_at_work(target: FuzzTarget) -> int:
    """How many of the fuzzer's batches still have an item waiting or running."""
    at_work, url = 0, f"{target.server.url}/api/v1/batches"
    while url:
        listed = requests.get(url, headers={"X-Api-Key": target.key}, timeout=30).json()
        at_work += sum(batch["status"] == "processing" for batch in listed["batches"])
        url = listed["next"] and f"{target.server.url}/api/v1/batches{listed['next']}"
    return at_work


@pytest.mark.live
def test_no_job_the_fuzzing_queued_crashed(fuzz_target: FuzzTarget) -> None:
    """After the fuzzing above (a file's tests run in order, on one worker): every cutout its accepted cases
    queued, with any options, ended without a crash. A crashed job is no reply's 5xx: the checks above
    cannot see it."""
    deadline = time.monotonic() + 120
    while fuzzed_batches_at_work(fuzz_target) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not fuzzed_batches_at_work(fuzz_target)
    crashes = [line for line in fuzz_target.server.log().splitlines() if " ERROR removal.services" in line]
    assert not crashes, fuzz_target.server.log()[-20_000:]
