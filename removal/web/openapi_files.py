"""The OpenAPI document's stored-file downloads (removal.web.endpoints.stored_file_response): a cutout, a mask, an
original, a thumbnail, a /store image; each with `download`, Range, its 302 with S3 and its 304."""

from typing import Any

from removal.web.openapi_schemas import BINARY, ITEM_ID, YES_NO, error_replies

# A stored file's download (removal.web.endpoints.stored_file_response): a copy the client holds, a part of it.
RANGE = {
    "name": "Range",
    "in": "header",
    "description": "One byte range (`bytes=0-1023`, `bytes=1024-`, `bytes=-1024`): a 206 with that part. Several "
    "ranges, or a header not of these forms, get the whole file (200); with If-Range (the ETag or Last-Modified), "
    "the part only while the file is that copy.",
    "schema": {"type": "string"},
}
STORED_FILE_REPLIES = {
    "304": {"description": "The copy the request names (If-None-Match, If-Modified-Since) is current."},
    "206": {"description": "The part that Range asks for, with Content-Range.", "content": {"*/*": {"schema": BINARY}}},
    **error_replies(416),
}


def stored_file(
    summary: str, description: str, *, parameter: dict[str, Any] = ITEM_ID, media_type: str = "*/*"
) -> dict[str, Any]:
    """A stored file's GET, as removal.web.endpoints.stored_file_response sends each: `download`, Range, 302, 304."""
    return {
        "get": {
            "summary": f"{summary} (a redirect to a presigned link with S3 storage)",
            "parameters": [parameter, {"name": "download", "in": "query", "schema": YES_NO}, RANGE],
            "responses": {
                "200": {"description": description, "content": {media_type: {"schema": BINARY}}},
                "302": {"description": "With S3 storage: the presigned link (which takes Range too)."},
                **STORED_FILE_REPLIES,
                **error_replies(400, 401, 404, 405),  # not counted against the rate limits: never a 429
            },
        }
    }


def thumbnail_file(of: str, none: str, side: int = 256, use: str = "for a card or a list") -> dict[str, Any]:
    """A thumbnail's GET: stored_file's, made on the first request (so storage may refuse the write: the 503 every
    operation documents, openapi_schemas.with_refusals)."""
    return stored_file(
        f"A WebP of {of} at most {side} pixels a side, {use}",
        f"The image (image/webp); 404 when there is none to make ({none}).",
    )
