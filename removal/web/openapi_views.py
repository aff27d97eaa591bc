"""The OpenAPI document served: as JSON at /api/schema, and at /api/docs as a reference rendered on the server
(removal.web.openapi.document)."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control

from removal.web.endpoints import public_endpoint
from removal.web.openapi import document
from removal.web.openapi_schemas import SCHEMAS


@public_endpoint("GET", "HEAD")
@cache_control(max_age=300, public=True)
def schema(request: HttpRequest) -> JsonResponse:
    return JsonResponse(document(), json_dumps_params={"indent": 2})


@public_endpoint("GET")  # another method is the API's 405, not the CSRF check's page nor the reference
def docs(request: HttpRequest) -> Any:
    """A readable reference rendered on the server from the same document (no CDN, no script)."""
    spec = document()
    operations = [
        {
            "path": path,
            "method": method.upper(),
            "summary": operation.get("summary", ""),
            "parameters": operation.get("parameters", []),
            "body": sorted(_body_fields(operation)),
            "responses": [
                (code, reply.get("description", ""), ", ".join(reply.get("content", {})))
                for code, reply in operation["responses"].items()
            ],
        }
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    return render(request, "removal/api_docs.html", {"info": spec["info"], "operations": operations})


def _body_fields(operation: dict[str, Any]) -> set[str]:
    fields: set[str] = set()
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media["schema"]
        for part in schema.get("allOf", [schema]):
            if "$ref" in part:
                part = SCHEMAS[part["$ref"].rsplit("/", 1)[1]]
            fields |= set(part.get("properties", {}))
    return fields
