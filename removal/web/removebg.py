"""remove.bg-compatible endpoints: POST /v1.0/removebg and GET /v1.0/account.

Clients written for remove.bg work by changing the base URL and key. Same
pipeline, workers and limits as /bgremove; remove.bg's parameter names are
mapped onto removal.cutout.options; replies and errors take remove.bg's shapes:
the image itself (or {"data": {"result_b64", "foreground_*"}} with
`Accept: application/json`, see wants_json), X-Width/X-Height/X-Type/X-Foreground-* headers (and ours,
X-Confidence and X-Needs-Review),
and {"errors": [{"title", "code"}]}; a photo in which no subject is found is remove.bg's 400 unknown_foreground, and
is not charged.

Not offered (400 naming the parameter): semitransparency other than true, remove.bg's default.
"""

import base64
import io
import uuid
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files import File
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import user_for_api_request
from removal import events, serializers, services
from removal.cutout import pipeline
from removal.cutout.option_parsing import InvalidOption, is_blank
from removal.cutout.options import Options
from removal.cutout.removebg_options import removebg_params, removebg_refusals
from removal.errors import BadRequest, GatewayTimeout, NoSubjectFound
from removal.models import Item
from removal.ops import limits
from removal.ops.connections import kept_connection_read
from removal.web import input_images, inputs
from removal.web.endpoints import with_head
from removal.web.http_errors import item_failure_error, removebg_error, with_headers, with_removebg_rate_headers

if TYPE_CHECKING:
    from django.contrib.auth.models import User

UNLIMITED = 1_000_000_000  # no daily quota: what remove.bg clients read as credits
INPUTS = ("image_file", "image_file_b64", "image_url")  # the ways to send the image: one per request
# remove.bg's X-Type, in the classes of the requested type_level (its default 1: person, product, animal, car, other;
# 2 and latest: also car_interior, car_part, transportation, graphics); "none" sends no X-Type. We do not classify
# subjects: X-Type is the requested type in those words, and "other" for auto.
COARSE_TYPES = {"person": "person", "product": "product", "animal": "animal"} | dict.fromkeys(
    ("car", "car_interior", "car_part"), "car"
)
FINE_TYPES = {name: name for name in ("person", "product", "animal", "car", "car_interior", "car_part")} | {
    "transportation": "transportation",
    "graphics": "graphics",
    "graphic": "graphics",  # remove.bg's type parameter says graphic, its X-Type graphics
}
X_TYPES = {"1": COARSE_TYPES, "2": FINE_TYPES, "latest": FINE_TYPES}
TYPE_LEVELS = ("none", *X_TYPES)
# The types a request may name: remove.bg's, and the X-Type classes, which clients (PyPI's removebg) also send.
TYPES = {"auto", "other", *FINE_TYPES}


@csrf_exempt
@never_cache
async def removebg(request: HttpRequest) -> HttpResponseBase:
    rate_headers: dict[str, str] = {}
    turn = limits.LargeBodyTurn(request)  # a base64 image's body is read and decoded a few at a time
    try:
        inputs.check_method(request, ("POST",))
        await turn.taken()
        params, user, rate_headers = await sync_to_async(_admit)(request)
        with limits.waiting_room(request.path):
            item_id, batch_id, as_json, foreground_type, credits = await sync_to_async(_accept)(request, params, user)
            del params  # its image is stored now: its text (up to 34 MB) is not held while the cutout is made
            turn.release()
            try:
                item = await events.wait_finished(item_id, batch_id, timeout_seconds=settings.BGREMOVE_TIMEOUT_SECONDS)
            except events.NotFinishedInTime as late:  # remove.bg's errors have no field to say where its result goes
                raise GatewayTimeout(f"{late.busy}: try again shortly") from None
            # On a kept connection, once more on a new one: the request's own may have died in the wait (/bgremove's).
            reply = await kept_connection_read(_reply)(item, as_json=as_json, foreground_type=foreground_type)
        return with_removebg_rate_headers(with_headers(reply, {**rate_headers, "X-Credits-Charged": f"{credits:g}"}))
    except Exception as exc:
        return removebg_error(exc, rate_headers)
    finally:
        turn.release()


def _admit(request: HttpRequest) -> tuple[dict[str, Any], Any, dict[str, str]]:
    """The request's parameters, its user, and the rate-limit headers every later reply carries.

    A JSON or url-encoded body may hold a whole image (image_file_b64): it is read only once the caller is known.
    """
    user = user_for_api_request(request, spends_credits=True)
    params = inputs.request_parameters(request)
    return params, user, limits.check_rate(request, user)


def _accept(
    request: HttpRequest, params: dict[str, Any], user: "User"
) -> tuple[uuid.UUID, uuid.UUID, bool, str | None, float]:
    """Check the request and queue its image: (item id, batch id, JSON wanted, X-Type or None, credits charged)."""
    requested_type = _word(params, "type", "auto", sorted(TYPES))
    type_level = _word(params, "type_level", "1", TYPE_LEVELS)
    if refusals := removebg_refusals(params):
        raise refusals[0]
    options = inputs.request_options(
        removebg_params(params), user=user, images=1, background=input_images.names_a_background(request, params)
    )
    limits.check_new_work(user, images=1, options=options)
    background = input_images.background_image(request, params)
    upload = _input_image(request, params)
    item = services.image_submit(owner=user, upload=upload, options=options, background=background)
    as_json = wants_json(request.headers.get("Accept", ""))
    foreground_type = None if type_level == "none" else X_TYPES[type_level].get(requested_type, "other")
    return item.id, item.batch_id, as_json, foreground_type, limits.image_credits(options)


def _word(params: dict[str, Any], name: str, default: str, words: Sequence[str]) -> str:
    """remove.bg's `type` or `type_level` (which say what X-Type answers, not how the image is cut out): one of
    `words`, any case, `default` when blank; InvalidOption (remove.bg's `invalid_<name>`) otherwise."""
    word = default if is_blank(params.get(name)) else str(params[name]).strip().lower()
    if word not in words:
        raise InvalidOption(name, f"must be one of {', '.join(words)}, not {word!r}")
    return word


def wants_json(accept: str) -> bool:
    """Whether the reply is remove.bg's JSON: asked for by `Accept: application/json` from a client that would not
    take the image itself. axios, which remove.bg's own Node.js sample uses, sends "application/json, text/plain,
    */*" with every request, and that sample writes the reply to a PNG file."""
    media_types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    takes_image = "*/*" in media_types or any(media_type.startswith("image/") for media_type in media_types)
    return "application/json" in media_types and not takes_image


def _input_image(request: HttpRequest, params: dict[str, Any]) -> File:
    files = input_images.images_sent(request)  # as image_file, or under another name
    given = [name for name in INPUTS if (files if name == "image_file" else params.get(name))]
    if len(given) > 1:
        raise BadRequest(f"send the image one way only, not {' and '.join(given)} together", code="multiple_sources")
    upload: File
    if files:
        upload = input_images.one_image(request)  # says why none is usable
    elif encoded := params.get("image_file_b64"):
        upload = input_images.base64_file(str(encoded), field="image_file_b64")
    elif url := params.get("image_url"):
        upload = input_images.fetched_file(str(url), field="image_url")
    else:
        raise BadRequest("No image given: send image_file, image_file_b64 or image_url", code="missing_source")
    input_images.check_upload_size(upload)
    if pipeline.is_video(upload):  # its cutout is a zip of frames, which no remove.bg reply can carry
        raise BadRequest(
            "the file is a video; remove.bg's API takes images: send videos to POST /api/v1/batches",
            code="invalid_file_type",
        )
    return upload


def _reply(item: Item, *, as_json: bool, foreground_type: str | None) -> HttpResponseBase:
    if item.status == Item.Status.FAILED:
        raise item_failure_error(item)
    if item.foreground is None:
        services.usage_given_back(item=item)
        raise NoSubjectFound(
            "no subject was found in the image, and nothing was charged: remove.bg's unknown_foreground. A photo "
            "with one clear subject (a person, an animal, a product, a car) in front of its background works best",
            headers={"X-Credits-Charged": "0", **serializers.review_headers(item)},
        )
    with item.result.open("rb") as result:
        result_bytes = result.read()
    left, top, width, height = item.foreground
    size = _result_size(result_bytes)
    headers = {
        "X-Width": str(size[0]),
        "X-Height": str(size[1]),
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(width),
        "X-Foreground-Height": str(height),
        **serializers.review_headers(item),
        **({"X-Type": foreground_type} if foreground_type else {}),
    }
    if as_json:
        body = {
            "data": {
                "result_b64": base64.b64encode(result_bytes).decode("ascii"),
                "foreground_top": top,
                "foreground_left": left,
                "foreground_width": width,
                "foreground_height": height,
            }
        }
        return with_headers(JsonResponse(body), headers)
    options = Options.from_json(item.batch.options)
    return with_headers(HttpResponse(result_bytes, content_type=options.mime_type), headers)


def _result_size(result_bytes: bytes) -> tuple[int, int]:
    """Width and height of a result: the image's header, or the alpha.png of a zip result."""
    from PIL import Image  # here: Pillow would load in every process that imports the URLs

    if result_bytes[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(result_bytes)) as bundle, Image.open(bundle.open("alpha.png")) as alpha:
            return alpha.size
    with Image.open(io.BytesIO(result_bytes)) as image:  # reads the header only
        return image.size


@csrf_exempt
@never_cache
def account(request: HttpRequest) -> HttpResponseBase:
    """remove.bg's account call: what this key's owner may still process today."""
    try:
        inputs.check_method(request, with_head(("GET",)))
        user = user_for_api_request(request)
        headers = limits.check_rate(request, user)
    except Exception as exc:
        return removebg_error(exc)
    left = limits.credits_left_today(user)
    credits = (int(left) if left.is_integer() else left) if left is not None else UNLIMITED
    body = {
        "data": {
            "attributes": {
                "credits": {"total": credits, "subscription": 0, "payg": credits, "enterprise": 0},
                # remove.bg's free calls are previews paid by no credit, a pool beside the credits: bgsite has
                # none, every call is paid from the credits above. Clients add the two (removebg-cli's "remaining").
                "api": {"free_calls": 0, "sizes": "all"},
            }
        }
    }
    return with_removebg_rate_headers(with_headers(JsonResponse(body), headers))
