"""The OpenAPI 3.1 description of the HTTP API (document()), served at /api/schema and rendered at /api/docs
(removal.web.openapi_views).

Written by hand next to the code it describes, except the options, which come from
their declaration (removal.cutout.options.OPTIONS); tests/web/test_openapi.py checks it against
the URLconf and fuzzes the live server with schemathesis against it.
"""

import copy
from typing import Any

from removal.cutout.results import MASK_WORKING_SIDE
from removal.web.inputs import MAX_POSITION
from removal.web.openapi_files import stored_file, thumbnail_file
from removal.web.openapi_schemas import (
    BATCH_LIST_QUERY,
    BATCH_NAME,
    BGREMOVE_OWN,
    BINARY,
    ID,
    IDEMPOTENCY_KEY,
    ITEM_ID,
    JSON,
    KEY_SECURITY,
    MULTIPART,
    OPTION_PROPERTIES,
    SCHEMAS,
    YES_NO,
    deletion,
    error_replies,
    json_reply,
    ref,
    with_refusals,
)

REVIEW_HEADERS = {
    "X-Confidence": {"$ref": "#/components/headers/X-Confidence"},
    "X-Needs-Review": {"$ref": "#/components/headers/X-Needs-Review"},
}

BGREMOVE_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "The cutout: JSON (imgData, or link with S3 storage), or the image itself with blob=true "
        "(then X-Confidence and X-Needs-Review say what the JSON's confidence and needs_review say).",
        "headers": REVIEW_HEADERS,
        "content": {
            JSON: {"schema": ref("Cutout")},
            "image/*": {"schema": BINARY},
            "application/zip": {"schema": BINARY},
        },
    },
    **error_replies(400, 401, 403, 404, 405, 413, 429, 500, 503, 504),
}

BGREMOVE_QUERY = [
    {"name": name, "in": "query", "schema": schema}
    for name, schema in {**BGREMOVE_OWN, **OPTION_PROPERTIES}.items()
    if name != "key"  # the apiKeyQuery security scheme's
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
                                ref("BgremoveParameters"),
                                {"type": "object", "properties": {"file": BINARY}},
                            ]
                        }
                    },
                    JSON: {"schema": ref("BgremoveParameters")},
                }
            },
            "responses": BGREMOVE_RESPONSES,
        },
    }


# The batch's webhook: given when a batch is made (created or rerun); files added to one keep the batch's.
CALLBACK_URL = {"callback_url": {"type": "string", "description": "Where bgsite POSTs when the batch is finished."}}
FILES_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "array", "items": BINARY},
                    "file_position": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_POSITION,
                        "description": "Where the first file goes among the batch's; the next ones follow it.",
                    },
                    **OPTION_PROPERTIES,
                },
            }
        }
    },
}
CREATE_BODY = copy.deepcopy(FILES_BODY)
CREATE_BODY["content"][MULTIPART]["schema"]["properties"] |= CALLBACK_URL | {"name": BATCH_NAME}

STORE = {
    "post": {
        "summary": "Keep an image for later /bgremove calls",
        "requestBody": {
            "required": True,
            "content": {MULTIPART: {"schema": {"type": "object", "properties": {"file": BINARY}}}},
        },
        "responses": {
            "200": json_reply(ref("Stored"), "Stored; name it in /bgremove by link or id."),
            **error_replies(400, 401, 403, 405, 413, 429, 503),
        },
    }
}

PATHS: dict[str, Any] = {
    "/bgremove": _bgremove("Remove the background of one image (PixLab path)"),
    "/api/v1/bgremove": _bgremove("Remove the background of one image"),
    "/store": STORE,
    "/api/v1/store": STORE,
    "/api/v1/store/{image_id}": stored_file(
        "A stored image (owner only)",
        "The image.",
        parameter={"name": "image_id", "in": "path", "required": True, "schema": {"type": "string"}},
        media_type="image/*",
    ),
    "/api/v1/models": {
        "get": {
            "summary": "Installed models",
            "security": [],
            "responses": {
                "200": json_reply(ref("Models"), "Installed models and the default."),
                **error_replies(405),
            },
        }
    },
    "/api/v1/batches": {
        "get": {
            "summary": "The caller's batches, newest first",
            "parameters": BATCH_LIST_QUERY,
            "responses": {"200": json_reply(ref("BatchList"), "A page of them."), **error_replies(400, 401, 405, 429)},
        },
        "post": {
            "summary": "Create a batch from one or more images",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": CREATE_BODY,
            "responses": {
                "201": json_reply(ref("Batch"), "Created; files that could not be accepted are in rejected."),
                **error_replies(400, 401, 403, 405, 409, 413, 429, 503),
            },
        },
    },
    "/api/v1/batches/{batch_id}": {
        "get": {
            "summary": "A batch and its items",
            "parameters": [ID],
            "responses": {"200": json_reply(ref("Batch"), "The batch."), **error_replies(401, 404, 405, 429)},
        },
        "patch": {
            "summary": "Rename a batch",
            "parameters": [ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("BatchRename")}}},
            "responses": {
                "200": json_reply(ref("Batch"), "Renamed."),
                **error_replies(400, 401, 403, 404, 405, 429),
            },
        },
        "delete": deletion(
            "Delete a batch: its uploads, cutouts and masks now, and its images still waiting",
            ID,
            "the batch and its items are gone",
        ),
    },
    "/api/v1/items/{item_id}": {
        "get": {
            "summary": "One item",
            "parameters": [ITEM_ID],
            "responses": {"200": json_reply(ref("Item"), "The item."), **error_replies(401, 404, 405, 429)},
        },
        "delete": deletion(
            "Delete an item: its upload, cutout and mask now; its batch goes on without it",
            ITEM_ID,
            "the item is gone",
        ),
    },
    "/api/v1/batches/{batch_id}/files": {
        "post": {
            "summary": "Add images to a batch",
            "description": "The files take the options the batch was created with: a request may send them again, "
            "but an option given another value is a 400 naming it, and nothing is added (rerun the batch for other "
            "options). A bg_image sent again is ignored.",
            "parameters": [ID],
            "requestBody": FILES_BODY,
            "responses": {
                "201": json_reply(ref("AddedFiles"), "Added."),
                **error_replies(400, 401, 403, 404, 405, 413, 429, 503),
            },
        }
    },
    "/api/v1/batches/{batch_id}/rerun": {
        "post": {
            "summary": "The same uploads again with other options, as a new batch",
            "parameters": [ID],
            "requestBody": {
                "content": {
                    media: {"schema": {"type": "object", "properties": CALLBACK_URL | OPTION_PROPERTIES}}
                    for media in (MULTIPART, JSON)
                }
            },
            "responses": {
                "201": json_reply(ref("Batch"), "The new batch."),
                **error_replies(400, 401, 403, 404, 405, 413, 429, 503),
            },
        }
    },
    "/api/v1/batches/{batch_id}/improve": {
        "post": {
            "summary": "The batch's items that need review made again, in place, with quality=best",
            "description": "Only done items whose confidence is below review_below and that nobody edited or "
            "reviewed; their results are replaced (the previous one is kept on the server) and their events flow "
            "over the websocket as usual. 409 when no item needs review.",
            "parameters": [ID],
            "requestBody": {
                "content": {
                    media: {
                        "schema": {"type": "object", "properties": {"quality": {"type": "string", "enum": ["best"]}}}
                    }
                    for media in (MULTIPART, JSON)
                }
            },
            "responses": {
                "202": json_reply(ref("Batch"), "The batch, its flagged items queued again."),
                **error_replies(400, 401, 403, 404, 405, 409, 429, 503),
            },
        }
    },
    "/api/v1/batches/{batch_id}/zip": {
        "get": {
            "summary": "The finished cutouts as one zip, streamed, ending with manifest.json",
            "parameters": [ID],
            "responses": {
                "200": {"description": "cutouts.zip", "content": {"application/zip": {"schema": BINARY}}},
                **error_replies(401, 404, 405, 429),
            },
        }
    },
    "/api/v1/batches/{batch_id}/manifest": {
        "get": {
            "summary": "Every item of the batch with its zip member name and output SHA-256 (the zip's manifest.json)",
            "parameters": [ID],
            "responses": {"200": json_reply(ref("Manifest"), "The manifest."), **error_replies(401, 404, 405, 429)},
        }
    },
    "/api/v1/items/{item_id}/result": stored_file("One cutout", "The cutout."),
    "/api/v1/items/{item_id}/original": stored_file("One uploaded original", "The original."),
    "/api/v1/items/{item_id}/result/thumbnail": thumbnail_file("the cutout", "no result yet, or not a still image"),
    "/api/v1/items/{item_id}/original/thumbnail": thumbnail_file("the original", "a video"),
    "/api/v1/items/{item_id}/original/display": thumbnail_file(
        "the original, upright", "a video", 2048, "for a browser that cannot show the upload itself (HEIC, TIFF)"
    ),
    "/api/v1/items/{item_id}/review": {
        "post": {
            "summary": "Mark a cutout as looked at (it will do): it no longer needs review",
            "parameters": [ITEM_ID],
            "responses": {
                "200": json_reply(ref("Item"), "The item, reviewed; its result is unchanged."),
                **error_replies(401, 403, 404, 405, 409, 429),
            },
        }
    },
    "/api/v1/items/{item_id}/mask": {
        "get": stored_file(
            "The cutout's mask (the last edit's, else the model's)",
            "An L PNG in the original's frame: white keeps, black removes.",
        )["get"],
        "post": {
            "summary": "Replace a cutout's mask (a new revision of its result), or revert to the model's",
            "description": f"The mask is in the original's frame: its size, or scaled down by one factor to "
            f"{MASK_WORKING_SIDE} pixels on its long side at the least. Grey levels are the alpha (L), or its alpha "
            "channel is (LA, RGBA). The result is made again with the batch's options; `revert`: the model's again.",
            "parameters": [ITEM_ID, {"name": "revert", "in": "query", "schema": YES_NO}],
            "requestBody": {
                "content": {
                    MULTIPART: {
                        "schema": {
                            "type": "object",
                            "properties": {"mask": BINARY, "revert": YES_NO},
                        }
                    },
                    "image/png": {"schema": BINARY},
                }
            },
            "responses": {
                "200": json_reply(ref("Item"), "The item, with its newest result."),
                **error_replies(400, 401, 403, 404, 405, 409, 413, 429, 503),
            },
        },
        "delete": {
            "summary": "Revert a cutout to the model's",
            "parameters": [ITEM_ID],
            "responses": {
                "200": json_reply(ref("Item"), "The item, with the model's result."),
                **error_replies(401, 403, 404, 405, 409, 429),
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
        "paths": with_refusals(PATHS),
        "components": {
            "schemas": SCHEMAS,
            "headers": {
                **{
                    name: {"schema": {"type": "integer"}}
                    for name in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
                },
                "X-Confidence": {
                    "description": "How sure the model is of the cutout, 0-1 with 3 decimals (as confidence).",
                    "schema": {"type": "string", "pattern": "^[01]\\.[0-9]{3}$"},
                },
                "X-Needs-Review": {
                    "description": "Whether the cutout may need a look (as needs_review).",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            },
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
                "pixlabHeader": {"type": "apiKey", "in": "header", "name": "WWW-Authenticate"},
            },
        },
    }
