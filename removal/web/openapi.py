"""The OpenAPI 3.1 description of the HTTP API, served at /api/schema and rendered at /api/docs.

Written by hand next to the code it describes, except the options, which come from
their declaration (removal.cutout.options.OPTIONS); tests/web/test_openapi.py checks it against
the URLconf and fuzzes the live server with schemathesis against it.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control

from removal.cutout import providers
from removal.cutout.options import OPTIONS, QUALITIES

JSON = "application/json"
MULTIPART = "multipart/form-data"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, *, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref("Error")}}}
    if headers:
        reply["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return reply


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad input; `error` says what and why.",
        401: "No API key, or an invalid or revoked one.",
        403: "A signed-in browser's write without the CSRF token.",
        404: "No such object for this user.",
        405: "Method not allowed.",
        409: "Not possible in the object's state; `error` says why.",
        413: "Too large.",
        429: "Rate limit or daily quota reached.",
        500: "The image could not be processed on our side.",
        503: "Busy (queue full) or storage unavailable.",
        504: "The cutout was not ready in time; `result` says where it will be.",
    }
    limited = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    return {
        str(code): _error(texts[code], headers=limited if code == 429 else ("Retry-After",) if code == 503 else ())
        for code in codes
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


# From the declaration in removal.cutout.options: each option, then the further parameters it reads.
OPTION_PROPERTIES: dict[str, Any] = {
    **{option.name: option.openapi() for option in OPTIONS},
    **{name: {"type": "string"} for option in OPTIONS for name in option.params},
}
KEY_SECURITY: list[dict[str, list[str]]] = [
    {"apiKeyHeader": []},
    {"bearer": []},
    {"apiKeyQuery": []},
    {"pixlabHeader": []},
]
ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
BINARY = {"type": "string", "format": "binary"}

BATCH_SUMMARY_REQUIRED = ["id", "status", "created_at", "counts", "ws", "zip", "manifest", "options"]
BATCH_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["processing", "done", "empty"]},
    "created_at": {"type": "string", "format": "date-time"},
    "counts": _ref("Counts"),
    "ws": {"type": "string", "description": "The websocket path for this batch's progress events."},
    "zip": {"type": "string"},
    "manifest": {"type": "string", "description": "The path of the batch's manifest (also manifest.json in the zip)."},
    "options": {"type": "object", "description": "The options the batch was made with."},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "error"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "rejected": {"type": "array", "items": _ref("Rejected")},
            "id": {"type": "string"},
            "result": {"type": "string"},
        },
    },
    "Rejected": {
        "type": "object",
        "additionalProperties": False,
        "required": ["filename", "error"],
        "properties": {"filename": {"type": "string"}, "error": {"type": "string"}},
    },
    "Item": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            *("id", "filename", "status", "revision", "result", "original", "error"),
            *("width", "height", "processing_ms", "cached", "edited", "mask"),
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "filename": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
            "revision": {"type": "integer"},
            "result": {"type": ["string", "null"]},
            "original": {"type": "string"},
            "error": {"type": ["string", "null"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "processing_ms": {"type": ["integer", "null"]},
            "cached": {"type": "boolean"},
            "edited": {"type": "boolean"},
            "mask": {"type": ["string", "null"]},
        },
    },
    "ManifestEntry": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            *("id", "original_name", "output_name", "status", "error", "width", "height"),
            *("bytes", "sha256", "options", "model", "cached"),
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "original_name": {"type": "string", "description": "The uploaded file name."},
            "output_name": {
                "type": ["string", "null"],
                "description": "The member's name in the zip; null unless done.",
            },
            "status": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
            "error": {"type": ["string", "null"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "bytes": {"type": ["integer", "null"], "description": "The size of the output."},
            "sha256": {"type": ["string", "null"], "description": "The SHA-256 of the output, in hex."},
            "options": {"type": "object"},
            "model": {"type": ["string", "null"], "description": "The model that made the output."},
            "cached": {"type": "boolean"},
        },
    },
    "Manifest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["batch", "created_at", "options", "items"],
        "properties": {
            "batch": {"type": "string", "format": "uuid"},
            "created_at": {"type": "string", "format": "date-time"},
            "options": {"type": "object"},
            "items": {"type": "array", "items": _ref("ManifestEntry")},
        },
    },
    "Counts": {
        "type": "object",
        "additionalProperties": False,
        "required": ["queued", "processing", "done", "failed", "total"],
        "properties": {name: {"type": "integer"} for name in ("queued", "processing", "done", "failed", "total")},
    },
    "BatchSummary": {
        "type": "object",
        "additionalProperties": False,
        "required": BATCH_SUMMARY_REQUIRED,
        "properties": BATCH_SUMMARY_PROPERTIES,
    },
    "Batch": {
        "type": "object",
        "additionalProperties": False,
        "required": [*BATCH_SUMMARY_REQUIRED, "items"],
        "properties": {
            **BATCH_SUMMARY_PROPERTIES,
            "items": {"type": "array", "items": _ref("Item")},
            "rejected": {"type": "array", "items": _ref("Rejected"), "description": "Only when creating."},
        },
    },
    "AddedFiles": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "items", "rejected"],
        "properties": {
            "id": {"type": "string"},
            "items": {"type": "array", "items": _ref("Item")},
            "rejected": {"type": "array", "items": _ref("Rejected")},
        },
    },
    "BatchList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["batches", "page", "pages", "count", "next", "previous"],
        "properties": {
            "batches": {"type": "array", "items": _ref("BatchSummary")},
            "page": {"type": "integer"},
            "pages": {"type": "integer"},
            "count": {"type": "integer"},
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
        },
    },
    "Cutout": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "mimeType", "extension"],
        "properties": {
            "status": {"type": "integer", "const": 200},
            "imgData": {"type": "string", "contentEncoding": "base64"},
            "link": {"type": "string"},
            "mimeType": {"type": "string"},
            "extension": {"type": "string"},
        },
    },
    "Stored": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "link", "id"],
        "properties": {"status": {"type": "integer"}, "link": {"type": "string"}, "id": {"type": "string"}},
    },
    "Models": {
        "type": "object",
        "additionalProperties": False,
        "required": ["models", "default", "providers", "layout", "max_batch", "qualities", "measured"],
        "properties": {
            "models": {"type": "array", "items": {"type": "string"}},
            "default": {"type": "string"},
            "providers": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The ONNX Runtime execution providers the models run on, in order "
                "(e.g. CUDAExecutionProvider, CPUExecutionProvider); see ORT_PROVIDERS.",
            },
            "layout": {
                "type": "string",
                "enum": [providers.PER_THREAD, providers.SHARED],
                "description": "How worker threads run the models: each on its own session, or all on one session "
                "per model that runs their images in batches; see ORT_LAYOUT.",
            },
            "max_batch": {
                "type": "integer",
                "description": "Images per run of a model, at most (1 on the per-thread layout); see ORT_MAX_BATCH.",
            },
            "qualities": {"type": "array", "items": {"type": "string", "enum": list(QUALITIES)}},
            "measured": {
                "type": "object",
                "description": "What `make quality` last measured on real photos: photos (count), "
                "measured_on (date), and models: {model: {preset: {iou, mae, residue, crop_iou, ms_per_image}}} "
                "for the installed models it measured; empty when it has not run.",
            },
        },
    },
    "BgremoveParameters": {
        "type": "object",
        "properties": {
            "img": {"type": "string", "description": "An http(s) image URL, or a /store link or id."},
            "key": {"type": "string"},
            "blob": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
            **OPTION_PROPERTIES,
        },
    },
}

BGREMOVE_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "The cutout: JSON (imgData, or link with S3 storage), or the image itself with blob=true.",
        "content": {
            JSON: {"schema": _ref("Cutout")},
            "image/*": {"schema": BINARY},
            "application/zip": {"schema": BINARY},
        },
    },
    **_errors(400, 401, 403, 404, 405, 413, 429, 500, 503, 504),
}
BGREMOVE_QUERY = [
    {"name": "img", "in": "query", "schema": {"type": "string"}},
    {"name": "blob", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
    *({"name": name, "in": "query", "schema": schema} for name, schema in OPTION_PROPERTIES.items()),
]


def _bgremove(summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": f"bgremove_get_{summary[:3].lower()}",
            "parameters": BGREMOVE_QUERY,
            "security": KEY_SECURITY,
            "responses": BGREMOVE_RESPONSES,
        },
        "post": {
            "summary": summary + " (upload, form or JSON body)",
            "operationId": f"bgremove_post_{summary[:3].lower()}",
            "security": KEY_SECURITY,
            "requestBody": {
                "content": {
                    MULTIPART: {
                        "schema": {
                            "allOf": [
                                _ref("BgremoveParameters"),
                                {"type": "object", "properties": {"file": BINARY}},
                            ]
                        }
                    },
                    JSON: {"schema": _ref("BgremoveParameters")},
                }
            },
            "responses": BGREMOVE_RESPONSES,
        },
    }


FILES_BODY = {
    "required": True,
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "array", "items": BINARY},
                    "callback_url": {"type": "string"},
                    **OPTION_PROPERTIES,
                },
            }
        }
    },
}


STORE = {
    "post": {
        "summary": "Keep an image for later /bgremove calls",
        "requestBody": {
            "required": True,
            "content": {MULTIPART: {"schema": {"type": "object", "properties": {"file": BINARY}}}},
        },
        "responses": {
            "200": _json(_ref("Stored"), "Stored; name it in /bgremove by link or id."),
            **_errors(400, 401, 403, 405, 413, 429, 503),
        },
    }
}


def _stored_file(summary: str, description: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"{summary} (a redirect to a presigned link with S3 storage)",
            "parameters": [ITEM_ID, {"name": "download", "in": "query", "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": description, "content": {"*/*": {"schema": BINARY}}},
                "302": {"description": "With S3 storage: the presigned link."},
                **_errors(401, 404, 405, 429),
            },
        }
    }


PATHS: dict[str, Any] = {
    "/bgremove": _bgremove("Remove the background of one image (PixLab path)"),
    "/api/v1/bgremove": _bgremove("Remove the background of one image"),
    "/store": STORE,
    "/api/v1/store": STORE,
    "/api/v1/store/{image_id}": {
        "get": {
            "summary": "A stored image (owner only)",
            "parameters": [{"name": "image_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The image.", "content": {"image/*": {"schema": BINARY}}},
                **_errors(401, 404, 405, 429),
            },
        }
    },
    "/api/v1/models": {
        "get": {
            "summary": "Installed models",
            "security": [],
            "responses": {"200": _json(_ref("Models"), "Installed models and the default.")},
        }
    },
    "/api/v1/batches": {
        "get": {
            "summary": "The caller's batches, newest first",
            "parameters": [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": _json(_ref("BatchList"), "A page of batches."), **_errors(401, 405, 429)},
        },
        "post": {
            "summary": "Create a batch from one or more images",
            "requestBody": FILES_BODY,
            "responses": {
                "201": _json(_ref("Batch"), "Created; files that could not be accepted are in rejected."),
                **_errors(400, 401, 403, 405, 413, 429, 503),
            },
        },
    },
    "/api/v1/batches/{batch_id}": {
        "get": {
            "summary": "A batch and its items",
            "parameters": [ID],
            "responses": {"200": _json(_ref("Batch"), "The batch."), **_errors(401, 404, 405, 429)},
        }
    },
    "/api/v1/batches/{batch_id}/files": {
        "post": {
            "summary": "Add images to a batch",
            "parameters": [ID],
            "requestBody": FILES_BODY,
            "responses": {
                "201": _json(_ref("AddedFiles"), "Added."),
                **_errors(400, 401, 403, 404, 405, 413, 429, 503),
            },
        }
    },
    "/api/v1/batches/{batch_id}/rerun": {
        "post": {
            "summary": "The same uploads again with other options, as a new batch",
            "parameters": [ID],
            "requestBody": {"content": {MULTIPART: {"schema": {"type": "object", "properties": OPTION_PROPERTIES}}}},
            "responses": {
                "201": _json(_ref("Batch"), "The new batch."),
                **_errors(400, 401, 403, 404, 405, 413, 429, 503),
            },
        }
    },
    "/api/v1/batches/{batch_id}/zip": {
        "get": {
            "summary": "The finished cutouts as one zip, streamed, ending with manifest.json",
            "parameters": [ID],
            "responses": {
                "200": {"description": "cutouts.zip", "content": {"application/zip": {"schema": BINARY}}},
                **_errors(401, 404, 405, 429),
            },
        }
    },
    "/api/v1/batches/{batch_id}/manifest": {
        "get": {
            "summary": "Every item of the batch with its zip member name and output SHA-256 (the zip's manifest.json)",
            "parameters": [ID],
            "responses": {"200": _json(_ref("Manifest"), "The manifest."), **_errors(401, 404, 405, 429)},
        }
    },
    "/api/v1/items/{item_id}/result": _stored_file("One cutout", "The cutout."),
    "/api/v1/items/{item_id}/original": _stored_file("One uploaded original", "The original."),
    "/api/v1/items/{item_id}/mask": {
        "get": _stored_file(
            "The cutout's mask (the last edit's, else the model's)",
            "An L PNG in the original's frame: white keeps, black removes.",
        )["get"],
        "post": {
            "summary": "Replace a cutout's mask (a new revision of its result), or revert to the model's",
            "description": "The mask is in the original's frame (as displayed): its size, or scaled down by the "
            "same factor in both directions. Grey levels are the alpha (L), or its alpha channel is (LA, RGBA). "
            "The result is composed again from the original with the batch's options. `revert` (form or query) "
            "goes back to the model's cutout.",
            "parameters": [ITEM_ID, {"name": "revert", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {
                "content": {
                    MULTIPART: {
                        "schema": {
                            "type": "object",
                            "properties": {"mask": BINARY, "revert": {"type": "string"}},
                        }
                    },
                    "image/png": {"schema": BINARY},
                }
            },
            "responses": {
                "200": _json(_ref("Item"), "The item, with its newest result."),
                **_errors(400, 401, 403, 404, 405, 409, 413, 429, 503),
            },
        },
        "delete": {
            "summary": "Revert a cutout to the model's",
            "parameters": [ITEM_ID],
            "responses": {
                "200": _json(_ref("Item"), "The item, with the model's result."),
                **_errors(401, 403, 404, 405, 409, 429),
            },
        },
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bgsite",
            "version": "1",
            "description": "Background removal: PixLab-compatible /bgremove and /store, remove.bg-compatible "
            "/v1.0/removebg, and the batch API used by the web page. Errors are "
            '{"status": <code>, "error": "<text>"} with the same HTTP status (remove.bg\'s own shape on /v1.0).',
        },
        "security": KEY_SECURITY,
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "headers": {
                name: {"schema": {"type": "integer"}}
                for name in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
            },
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
                "pixlabHeader": {"type": "apiKey", "in": "header", "name": "WWW-Authenticate"},
            },
        },
    }


@cache_control(max_age=300, public=True)
def schema(request: HttpRequest) -> JsonResponse:
    return JsonResponse(document(), json_dumps_params={"indent": 2})


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
        parts = schema.get("allOf", [schema])
        for part in parts:
            if "$ref" in part:
                part = SCHEMAS[part["$ref"].rsplit("/", 1)[1]]
            fields |= set(part.get("properties", {}))
    return fields
