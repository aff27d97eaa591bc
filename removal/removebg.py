"""remove.bg-compatible endpoints: POST /v1.0/removebg and GET /v1.0/account.

Clients written for remove.bg work by changing the base URL and key. Same
pipeline, workers and limits as /bgremove; remove.bg's parameter names are
mapped onto removal.options; replies and errors take remove.bg's shapes:
the image itself (or {"data": {"result_b64", "foreground_*"}} with
`Accept: application/json`), X-Width/X-Height/X-Type/X-Foreground-* headers,
and {"errors": [{"title", "code"}]}.

Not offered (400 naming the parameter): semitransparency.
"""

import base64
import binascii
import io
import time
import uuid
import zipfile
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from PIL import Image

from accounts.auth import user_for_api_request
from removal import limits, pipeline, services
from removal.api import (
    as_api_error,
    background_image,
    check_method,
    check_upload_size,
    fetch_image,
    request_options,
    uploaded_files,
    with_headers,
)
from removal.errors import ApiError, BadRequest, QuotaExceeded
from removal.models import Item
from removal.options import Options
from removal.pixlab import failure_error, request_parameters, url_filename, wait_finished

# Our status -> remove.bg's (status, code).
ERROR_CODES = {
    400: (400, "invalid_parameter"),
    401: (403, "auth_failed"),
    403: (403, "auth_failed"),
    404: (400, "invalid_parameter"),
    405: (405, "method_not_allowed"),
    413: (400, "file_too_large"),
    429: (429, "rate_limit_exceeded"),
    500: (500, "server_error"),
    503: (503, "service_unavailable"),
    504: (504, "timeout"),
}
UNSUPPORTED = ("semitransparency",)
SIZES = {"auto": "full", "full": "full", "4k": "full", "hd": "full", "50mp": "full", "medium": "full"}
SIZES |= {"preview": "preview", "small": "preview", "regular": "preview"}
UNLIMITED = 1_000_000_000  # no daily quota: what remove.bg clients read as credits
INPUTS = ("image_file", "image_file_b64", "image_url")  # the ways to send the image: one per request
TYPES = {"auto", "person", "product", "car", "animal", "graphic", "transportation"}


def removebg_error(error: ApiError, headers: dict[str, str] | None = None) -> HttpResponseBase:
    """`error` in remove.bg's shape, with `headers` (the caller's rate-limit state) beneath its own."""
    status, code = ERROR_CODES.get(error.status, (error.status, "error"))
    if isinstance(error, QuotaExceeded):
        status, code = 402, "insufficient_credits"
    reply = JsonResponse({"errors": [{"title": error.message, "code": code}]}, status=status)
    return with_rate_headers(with_headers(reply, {**(headers or {}), **error.headers}))


def with_rate_headers(reply: HttpResponseBase) -> HttpResponseBase:
    """Add remove.bg's X-RateLimit-* names beside the IETF RateLimit-* headers (Reset as a Unix time)."""
    if reply.has_header("RateLimit-Limit"):
        reply["X-RateLimit-Limit"] = reply["RateLimit-Limit"]
        reply["X-RateLimit-Remaining"] = reply["RateLimit-Remaining"]
        reply["X-RateLimit-Reset"] = str(int(time.time()) + int(reply["RateLimit-Reset"]))
    return reply


@csrf_exempt
@never_cache
async def removebg(request: HttpRequest) -> HttpResponseBase:
    rate_headers: dict[str, str] = {}
    try:
        check_method(request, ("POST",))
        params, user, rate_headers = await sync_to_async(_admit)(request)
        item_id, batch_id, as_json, foreground_type, credits = await sync_to_async(_accept)(request, params, user)
        item = await wait_finished(item_id, batch_id)
        reply = await sync_to_async(_reply)(item, as_json=as_json, foreground_type=foreground_type)
        return with_rate_headers(with_headers(reply, {**rate_headers, "X-Credits-Charged": f"{credits:g}"}))
    except Exception as exc:
        if (error := as_api_error(exc)) is None:
            raise
        return removebg_error(error, rate_headers)


def _admit(request: HttpRequest) -> tuple[dict[str, Any], Any, dict[str, str]]:
    """The request's parameters, its user, and the rate-limit headers every later reply carries."""
    params = request_parameters(request)
    user = user_for_api_request(request)
    return params, user, limits.check_rate(request, user)


def _accept(request: HttpRequest, params: dict[str, Any], user: Any) -> tuple[uuid.UUID, uuid.UUID, bool, str, float]:
    """Check the request and queue its image: (item id, batch id, JSON wanted, X-Type, credits charged)."""
    requested_type = str(params.get("type") or "auto").lower()
    if requested_type not in TYPES:
        raise BadRequest(f"type: must be one of {', '.join(sorted(TYPES))}")
    background = background_image(request, params)
    options = request_options(_our_options(params), background=background)
    limits.check_new_work(user, images=1, options=options)
    upload = _input_image(request, params)
    try:
        item = services.bgremove_submit(owner=user, upload=upload, options=options, background=background)
    except pipeline.ImageRejected as exc:
        raise BadRequest(str(exc)) from None
    as_json = "application/json" in request.headers.get("Accept", "")
    # We do not classify subjects: X-Type echoes the requested type, or "other".
    foreground_type = "other" if requested_type == "auto" else requested_type
    return item.id, item.batch_id, as_json, foreground_type, limits.image_credits(options)


def _our_options(params: dict[str, Any]) -> dict[str, Any]:
    """remove.bg's parameter names and values, as removal.options understands them."""
    for name in UNSUPPORTED:
        if params.get(name):
            raise BadRequest(f"{name}: not supported by this server")
    fmt = str(params.get("format") or "auto").lower()
    size = str(params.get("size") or "auto").lower()
    if size not in SIZES and "x" not in size:
        raise BadRequest(f"size: must be one of {', '.join(sorted(SIZES))}")
    shared = [*("bg_color", "crop", "crop_margin", "channels", "roi", "scale", "position")]
    shared += ["add_shadow", "shadow_type", "shadow_opacity", "quality"]
    ours: dict[str, Any] = {name: params[name] for name in shared if name in params}
    return {**ours, "format": fmt, "size": SIZES.get(size, size)}


def _input_image(request: HttpRequest, params: dict[str, Any]) -> Any:
    given = [name for name in INPUTS if name in request.FILES or params.get(name)]
    if len(given) > 1:
        raise BadRequest(f"send the image one way only, not {' and '.join(given)} together")
    if request.FILES:
        upload = request.FILES.get("image_file") or uploaded_files(request)[0]
    elif encoded := params.get("image_file_b64"):
        try:
            upload = ContentFile(base64.b64decode(str(encoded), validate=True), name="image")
        except (binascii.Error, ValueError):
            raise BadRequest("image_file_b64: not valid base64") from None
    elif url := params.get("image_url"):
        upload = ContentFile(fetch_image(str(url), field="image_url"), name=url_filename(str(url)))
    else:
        raise BadRequest("No image given: send image_file, image_file_b64 or image_url")
    check_upload_size(upload)
    return upload


def _reply(item: Item, *, as_json: bool, foreground_type: str) -> HttpResponseBase:
    if item.status == Item.Status.FAILED:
        raise failure_error(item)
    with item.result.open("rb") as result:
        data = result.read()
    left, top, width, height = item.foreground or (0, 0, 0, 0)
    size = _result_size(data)
    headers = {
        "X-Width": str(size[0]),
        "X-Height": str(size[1]),
        "X-Type": foreground_type,
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(width),
        "X-Foreground-Height": str(height),
    }
    if as_json:
        body = {
            "data": {
                "result_b64": base64.b64encode(data).decode("ascii"),
                "foreground_top": top,
                "foreground_left": left,
                "foreground_width": width,
                "foreground_height": height,
            }
        }
        return with_headers(JsonResponse(body), headers)
    options = Options.from_json(item.batch.options)
    return with_headers(HttpResponse(data, content_type=options.mime_type), headers)


def _result_size(data: bytes) -> tuple[int, int]:
    """Width and height of a result: the image's header, or the alpha.png of a zip result."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as bundle, Image.open(bundle.open("alpha.png")) as alpha:
            return alpha.size
    with Image.open(io.BytesIO(data)) as image:  # reads the header only
        return image.size


@csrf_exempt
@never_cache
def account(request: HttpRequest) -> HttpResponseBase:
    """remove.bg's account call: what this key's owner may still process today."""
    try:
        check_method(request, ("GET",))
        user = user_for_api_request(request)
        headers = limits.check_rate(request, user)
    except Exception as exc:
        if (error := as_api_error(exc)) is None:
            raise
        return removebg_error(error)
    left = limits.credits_left_today(user)
    credits = (int(left) if left.is_integer() else left) if left is not None else UNLIMITED
    body = {
        "data": {
            "attributes": {
                "credits": {"total": credits, "subscription": 0, "payg": credits, "enterprise": 0},
                "api": {"free_calls": credits, "sizes": "all"},
            }
        }
    }
    return with_rate_headers(with_headers(JsonResponse(body), headers))
