"""The OpenAPI document: valid, in step with the URLconf, and honoured by the live server under fuzzing."""

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import schemathesis
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from removal.openapi import document
from tests.conftest import LiveServer

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


def test_schema_and_docs_pages(client: Any, db: Any) -> None:
    assert client.get("/api/schema").json()["openapi"] == "3.1.0"
    page = client.get("/api/docs").content.decode()
    assert "POST /api/v1/batches" in page and "GET /bgremove" in page
    assert 'src="http' not in page and 'href="http' not in page  # nothing from other sites


@pytest.fixture(scope="module")
def fuzz_server(server_factory: Any) -> tuple[LiveServer, str]:
    server = server_factory(RATE_LIMITS_ENABLED="false", BGREMOVE_TIMEOUT_SECONDS="30")
    server.start()
    return server, server.create_user("fuzzer")


def loopback_only(value: Any) -> Any:
    """Generated URLs must never make the server reach outside 127.0.0.0/8 (not even by DNS)."""
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        return urlunsplit((parts.scheme, "127.0.0.1:9", parts.path, parts.query, ""))
    return value


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
def test_api_conforms_to_its_schema(operation: Any, fuzz_server: tuple[LiveServer, str]) -> None:
    """schemathesis cases for each operation: no 5xx, documented statuses, content types and bodies."""
    server, key = fuzz_server

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        for container in (case.query, case.body if isinstance(case.body, dict) else None):
            if container:
                for name in ("img", "bg_image", "callback_url"):
                    if name in container:
                        container[name] = loopback_only(container[name])
        case.call_and_validate(base_url=server.url, headers={"X-Api-Key": key}, checks=CHECKS, timeout=60)

    check()
