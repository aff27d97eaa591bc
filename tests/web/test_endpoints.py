"""The wrappers around the JSON front doors (removal.web.endpoints)."""

from typing import Any

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/models", "/api/schema"])
def test_a_405_names_each_allowed_method_once(client: Client, path: str) -> None:
    # These views name HEAD themselves; with_head added it a second time ("use GET or HEAD or HEAD").
    reply = client.post(path)
    assert reply.status_code == 405
    assert reply["Allow"] == "GET, HEAD"
    assert reply.json()["error"] == "POST is not allowed here; use GET or HEAD"


@pytest.mark.django_db
def test_head_is_added_where_get_is(api: Any) -> None:
    reply = api.delete("/api/v1/batches")
    assert reply["Allow"] == "GET, POST, HEAD"
