"""The OpenAPI document's building blocks: component schemas, error replies and parameters.

openapi.py puts them together with the paths. The options' properties come from their
declaration (removal.cutout.options.OPTIONS).
"""

from typing import Any

from removal.cutout.option_parsing import YES_NO_WORDS
from removal.cutout.options import OPTIONS, QUALITIES
from removal.models import BATCH_NAME_LENGTH, Item
from removal.serializers import BatchStatus
from removal.web.inputs import IDEMPOTENCY_KEY_TEXT
from removal.web.openapi_models import MODELS

JSON = "application/json"
MULTIPART = "multipart/form-data"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_reply(description: str, *, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description, "content": {JSON: {"schema": ref("Error")}}}
    if headers:
        reply["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return reply


def error_replies(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad input; `error` says what and why.",
        401: "No API key, or an invalid or revoked one.",
        403: "A signed-in browser's write without the CSRF token.",
        404: "No such object for this user.",
        405: "Method not allowed.",
        408: "The request body stopped arriving, or came too slowly.",
        409: "Not possible in the object's state; `error` says why.",
        413: "Too large.",
        415: "The request body was sent compressed (Content-Encoding), or in a type the operation does not read.",
        416: "The Range asked for starts past the end of the file; `Content-Range: bytes */<size>` gives its size.",
        429: "Rate limit or daily quota reached.",
        500: "An unexpected error on the server's side (logged); not for the input.",
        503: "Busy, storage or the database down, or a cutout's processing failed on our side: send it again.",
        504: "The cutout was not ready in time; `result` says where it will be.",
    }
    limited = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    return {
        str(code): error_reply(texts[code], headers=limited if code == 429 else ("Retry-After",) if code == 503 else ())
        for code in codes
    }


def with_refusals(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with the refusals any request may get, whatever its operation: 503 when the database refuses a
    connection (removal.web.http_errors; the key is looked up there), and at each operation that takes a body, the
    refusals of one, which removal.web.body_limit answers before a view reads it: 408 (stalled), 413 (too large),
    415 (compressed)."""
    any_request, any_body = error_replies(503), error_replies(408, 413, 415)

    def refusals(operation: dict[str, Any]) -> dict[str, Any]:
        return any_request | (any_body if "requestBody" in operation else {})

    return {
        path: {
            method: {**operation, "responses": dict(sorted((operation["responses"] | refusals(operation)).items()))}
            for method, operation in operations.items()
        }
        for path, operations in paths.items()
    }


def json_reply(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


# From the declaration in removal.cutout.options: each option, then the further parameters it reads.
OPTION_PROPERTIES: dict[str, Any] = {
    **{option.name: option.openapi() for option in OPTIONS},
    **{name: {"type": "string", "description": does} for option in OPTIONS for name, does in option.params.items()},
}


KEY_SECURITY: list[dict[str, list[str]]] = [
    {"apiKeyHeader": []},
    {"bearer": []},
    {"apiKeyQuery": []},
    {"pixlabHeader": []},
]


ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}

ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "A key of the caller's (a UUID): the creation sent again with it, its reply lost, gets the batch "
    "it made (with file_position, its items too) instead of a second one. 409 while the first is still being made.",
    "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_TEXT.pattern}$"},
}


BINARY = {"type": "string", "format": "binary"}


# A yes/no parameter (/bgremove's blob), every word the parser takes.
YES_NO = {"type": "string", "enum": [word for pair in YES_NO_WORDS for word in pair]}

# /bgremove's own parameters, beside the options: in its query string or its body alike.
BGREMOVE_OWN = {
    "img": {"type": "string", "description": "An http(s) image URL, or a /store link or id; or upload the image."},
    "key": {"type": "string", "description": "Your API key, where no header carries it."},
    "blob": {**YES_NO, "description": "Yes: the reply is the image itself, not JSON with it in base64."},
}


ITEM_STATUS = {"type": "string", "enum": Item.Status.values}

BATCH_NAME = {
    "type": "string",
    "maxLength": BATCH_NAME_LENGTH,
    "description": "What its owner calls the batch; empty for none.",
}

BATCH_LIST_QUERY = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "name", "in": "query", "schema": {"type": "string"}, "description": "Only batches whose name holds it."},
]

# How sure the model is of a cutout, in every reply that reports one (serializers.review_fields).
REVIEW_PROPERTIES: dict[str, Any] = {
    "confidence": {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 1,
        "description": "How sure the model is of the cutout, 0-1, read from its own mask (3 decimals); "
        "null until the item is done, and for items made before it was measured.",
    },
    "needs_review": {
        "type": "boolean",
        "description": "A done item whose confidence is below the server's review_below (REVIEW_CONFIDENCE_BELOW) "
        "and that nobody has edited or reviewed: it may need a look.",
    },
}

# How an item's cutout came to be, in the item and in the manifest alike.
MADE_HOW_PROPERTIES: dict[str, Any] = {
    "edited": {"type": "boolean", "description": "The result is a hand-edited revision (POST .../mask)."},
    "reviewed": {
        "type": "boolean",
        "description": "A person edited the cutout or marked it reviewed (POST .../review); a revert keeps it.",
    },
    "quality": {
        "type": "string",
        "enum": list(QUALITIES),
        "description": "The quality preset of the current (or coming) result: the batch's, or best once "
        "improved (POST /api/v1/batches/{batch_id}/improve).",
    },
}


BATCH_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "name": BATCH_NAME,
    "status": {"type": "string", "enum": [status.value for status in BatchStatus]},
    "created_at": {"type": "string", "format": "date-time"},
    "counts": ref("Counts"),
    "ws": {"type": "string", "description": "The websocket path for this batch's progress events."},
    "zip": {"type": "string"},
    "manifest": {"type": "string", "description": "The path of the batch's manifest (also manifest.json in the zip)."},
    "options": {"type": "object", "description": "The options the batch was made with."},
    "review_below": {
        "type": "number",
        "description": "Items less sure than this are flagged needs_review (the server's REVIEW_CONFIDENCE_BELOW).",
    },
    "improvements": {
        "type": "integer",
        "minimum": 0,
        "description": "How many times the batch's flagged items were queued again with best (POST .../improve); "
        "each one that finishes sends the webhook again.",
    },
}
BATCH_SUMMARY_REQUIRED = list(BATCH_SUMMARY_PROPERTIES)  # every one, null where it has no value


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "error"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "request_id": {"type": "string", "description": "The request's X-Request-ID, to quote when asking why."},
            "rejected": {"type": "array", "items": ref("Rejected")},
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
            *("result_thumbnail", "original_thumbnail", "original_display", "original_bytes"),
            *("width", "height", "processing_ms", "cached", "edited", "mask"),
            *("confidence", "needs_review", "reviewed", "quality"),
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "filename": {"type": "string"},
            "status": ITEM_STATUS,
            "revision": {"type": "integer"},
            "result": {"type": ["string", "null"]},
            "original": {"type": "string"},
            "result_thumbnail": {"type": ["string", "null"]},
            "original_thumbnail": {"type": "string"},
            "original_display": {"type": "string"},
            "original_bytes": {"type": "integer"},
            "error": {"type": ["string", "null"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "processing_ms": {"type": ["integer", "null"]},
            "cached": {"type": "boolean"},
            "mask": {"type": ["string", "null"]},
            **REVIEW_PROPERTIES,
            **MADE_HOW_PROPERTIES,
        },
    },
    "ManifestEntry": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            *("id", "original_name", "output_name", "status", "error", "width", "height"),
            *("bytes", "sha256", "options", "model", "cached", "confidence", "needs_review"),
            *("quality", "edited", "reviewed"),
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "original_name": {"type": "string", "description": "The uploaded file name."},
            "output_name": {
                "type": ["string", "null"],
                "description": "The member's name in the zip; null unless done.",
            },
            "status": ITEM_STATUS,
            "error": {"type": ["string", "null"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "bytes": {"type": ["integer", "null"], "description": "The size of the output."},
            "sha256": {"type": ["string", "null"], "description": "The SHA-256 of the output, in hex."},
            "options": {"type": "object"},
            "model": {"type": ["string", "null"], "description": "The model that made the output."},
            "cached": {"type": "boolean"},
            **REVIEW_PROPERTIES,
            **MADE_HOW_PROPERTIES,
        },
    },
    "Manifest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["batch", "name", "created_at", "options", "items"],
        "properties": {
            "batch": {"type": "string", "format": "uuid"},
            "name": BATCH_NAME,
            "created_at": {"type": "string", "format": "date-time"},
            "options": {"type": "object"},
            "items": {"type": "array", "items": ref("ManifestEntry")},
        },
    },
    "Counts": {
        "type": "object",
        "additionalProperties": False,
        "required": [*Item.Status.values, "total", "needs_review"],
        "properties": {name: {"type": "integer"} for name in (*Item.Status.values, "total", "needs_review")},
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
            "items": {"type": "array", "items": ref("Item")},
            "rejected": {"type": "array", "items": ref("Rejected"), "description": "Only when creating."},
        },
    },
    "AddedFiles": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "items", "rejected"],
        "properties": {
            "id": {"type": "string"},
            "items": {"type": "array", "items": ref("Item")},
            "rejected": {"type": "array", "items": ref("Rejected")},
        },
    },
    "BatchRename": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": BATCH_NAME},
    },
    "BatchList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["batches", "page", "pages", "count", "next", "previous"],
        "properties": {
            "batches": {"type": "array", "items": ref("BatchSummary")},
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
        "required": ["status", "mimeType", "extension", "confidence", "needs_review"],
        "properties": {
            "status": {"type": "integer", "const": 200},
            "imgData": {"type": "string", "contentEncoding": "base64"},
            "link": {"type": "string"},
            "mimeType": {"type": "string"},
            "extension": {"type": "string"},
            **REVIEW_PROPERTIES,
        },
    },
    "Stored": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "link", "id"],
        "properties": {"status": {"type": "integer"}, "link": {"type": "string"}, "id": {"type": "string"}},
    },
    "Models": MODELS,
    "BgremoveParameters": {
        "type": "object",
        "properties": {**BGREMOVE_OWN, **OPTION_PROPERTIES},
    },
}


def deletion(summary: str, parameter: dict[str, Any], gone: str) -> dict[str, Any]:
    """A DELETE that removes the object now: 204, then 404 for it; 503 when storage refuses."""
    return {
        "summary": summary,
        "parameters": [parameter],
        "responses": {
            "204": {"description": f"Deleted; {gone} (404 from now on)."},
            **error_replies(401, 403, 404, 405, 429, 503),
        },
    }
