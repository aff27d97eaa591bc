"""The images a request sends: uploaded files (those Django's parser skipped among them), one image fetched from a
URL, sent as base64 text or named by a /store id or link, the background to composite onto, and an edit's mask. Each
is checked against the per-file limit; errors name the field that gave it. Not a view module: the front doors
(api.py, pixlab.py, removebg.py) read their images here, as their other fields in removal.web.inputs.
"""

import binascii
import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.http import HttpRequest

from bgsite.multipart_watch import DROPPED_PARTS_SCOPE_KEY
from removal import fetch, selectors, services
from removal.cutout import pipeline
from removal.cutout.option_parsing import is_blank
from removal.errors import BadRequest, PayloadTooLarge, invalid_option_code
from removal.selectors import is_stored_image_path
from removal.web.inputs import check_body_type
from removal.web.links import on_this_server

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BACKGROUND_FIELDS = ("bg_image", "bg_image_file")  # a background to composite onto, not an image to process
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986's scheme, then its colon
DATA_URL_PREFIX = re.compile(r"\Adata:[^,]{0,200};base64,", re.I)  # data:image/png;base64,
BASE64_LINE_BREAKS = "\r\n\t"  # taken out of base64 text, wherever they are


def uploaded_files(request: HttpRequest) -> list[File]:
    """Every uploaded image to process, from `files` fields first, then any other file field."""
    check_body_type(request)
    files = request.FILES.getlist("files")
    for field in request.FILES:
        if field != "files" and field not in BACKGROUND_FIELDS:
            files.extend(request.FILES.getlist(field))
    if not files:
        if unreadable := unreadable_files(request):
            raise services.NothingAccepted(unreadable)
        raise BadRequest("no files: send one or more images as multipart/form-data 'files' fields")
    return list(files)


def images_sent(request: HttpRequest) -> bool:
    """Whether the request sends an image to process as a file (a background aside), readable or not."""
    check_body_type(request)
    return any(field not in BACKGROUND_FIELDS for field in request.FILES) or bool(unreadable_files(request))


def one_image(request: HttpRequest) -> File:
    """The uploaded image of a call that takes one (/bgremove, /store, /v1.0/removebg): BadRequest (remove.bg's
    `multiple_sources`) when it sends more, where the first was taken and the others dropped without a word."""
    files = uploaded_files(request)
    if (sent := len(files) + len(unreadable_files(request))) > 1:
        raise BadRequest(
            f"send one image per call, not {sent}; the batch API (POST /api/v1/batches) takes many",
            code="multiple_sources",
        )
    return files[0]


def unreadable_files(request: HttpRequest) -> list[services.RejectedFile]:
    """The uploaded files Django's parser skipped (a name like '..', headers not UTF-8), and why.

    BodySizeLimit noted them while the body streamed in (bgsite.multipart_watch); a
    front door lists them among its refused files.
    """
    dropped = getattr(request, "scope", {}).get(DROPPED_PARTS_SCOPE_KEY, [])
    return [services.RejectedFile(filename=part.filename, error=part.reason) for part in dropped]


def mask_upload(request: HttpRequest) -> bytes:
    """An edited mask: the multipart `mask` file, or the whole body sent as image/png; BadRequest for two `mask` files,
    of which the last was taken without a word."""
    if (sent := len(request.FILES.getlist("mask"))) > 1:
        raise BadRequest(f"send one mask, not {sent}")
    upload = request.FILES.get("mask")
    if upload is None and (request.content_type or "").startswith("image/"):
        # Read from the stream, not request.body: that is refused past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), a
        # limit for form fields, which a large photo's mask passes.
        mask_png = request.read(settings.MAX_UPLOAD_BYTES + 1)
    elif upload is not None:
        mask_png = upload.read(settings.MAX_UPLOAD_BYTES + 1)
    else:
        raise BadRequest(
            "no mask: send a PNG as the multipart 'mask' field, or as the body with Content-Type image/png"
        )
    if len(mask_png) > settings.MAX_UPLOAD_BYTES:  # read to one byte past the limit: "25.0 MB; the limit is 25 MB"
        raise PayloadTooLarge(f"the mask is larger than {settings.MAX_UPLOAD_BYTES / 1e6:g} MB, the limit per file")
    return mask_png


def fetch_image(url: str, *, field: str) -> bytes:
    """An image from the URL in a caller's `field`, fetched safely (removal.fetch); its errors name the field."""
    limits = fetch.FetchLimits(
        max_bytes=settings.MAX_UPLOAD_BYTES,
        timeout_seconds=settings.FETCH_TIMEOUT_SECONDS,
        max_redirects=settings.FETCH_MAX_REDIRECTS,
        allowed_networks=settings.FETCH_ALLOWED_NETWORKS,
    )
    try:
        return fetch.fetch(url, limits)
    except fetch.FetchError as exc:
        named = type(exc)(f"{field}: {exc}")
        named.field = field
        raise named from None


def fetched_file(url: str, *, field: str) -> ContentFile[bytes]:
    return ContentFile(fetch_image(url, field=field), name=url_filename(url))


def url_filename(url: str) -> str:
    return services.display_filename(unquote(urlsplit(url).path)) or "image"


def base64_file(encoded: str, *, field: str) -> ContentFile[bytes]:
    """An image sent as base64 text, as encoders write it: wrapped in lines (MIME, Ruby's Base64.encode64, `base64`
    on the command line), as a data: URL (a browser's FileReader), without its closing padding, or in a url-encoded
    body whose '+' signs were not escaped (curl -d), which the form decoding turned into spaces."""
    # Each step gives back the very text where it has nothing to change: a 34 MB image is not copied three times.
    text = DATA_URL_PREFIX.sub("", encoded.strip(), count=1).replace(" ", "+")
    if any(line_break in text for line_break in BASE64_LINE_BREAKS):
        text = text.translate(str.maketrans("", "", BASE64_LINE_BREAKS))
    try:  # binascii reads an ASCII str where it lies; base64.b64decode would first copy it into bytes
        return ContentFile(binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=True), name="image")
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field}: not valid base64", code=invalid_option_code(field)) from None


def stored_or_fetched(request: HttpRequest, user: "User", reference: str, *, field: str) -> File:
    """A /store id of the user's, or a /store link to this server; else an image URL to fetch (another host's link)."""
    try:
        link = urlsplit(reference)
    except ValueError:  # not a URL at all ("http://[::1/"): fetched_file says so, naming the field
        link = None
    if selectors.is_stored_image_id(reference) or (
        link is not None and is_stored_image_path(link.path) and on_this_server(request, link)
    ):
        stored = selectors.stored_image_for(user, reference)
        with stored.file.open("rb") as source:
            return ContentFile(source.read(), name=stored.filename)
    if not URL_SCHEME.match(reference):
        raise BadRequest(
            f"{field}: {reference[:100]!r} is neither an image URL nor an id or link returned by /store "
            "(a URL starts with https:// or http://)"
        )
    return fetched_file(reference, field=field)


def check_upload_size(upload: File, *, field: str = "") -> None:
    """PayloadTooLarge when an upload (or a fetched image) is over MAX_UPLOAD_BYTES (services' rule)."""
    if error := services.upload_size_error(upload.size):
        raise PayloadTooLarge(f"{field}: {error}" if field else error)


def names_a_background(request: HttpRequest, params: Any) -> bool:
    """Whether the request names a `bg_image` (a file, or a URL that background_image fetches once the work is
    admitted: a caller over its quota makes this server fetch nothing)."""
    return any(field in request.FILES for field in BACKGROUND_FIELDS) or any(
        params.get(name) for name in ("bg_image", "bg_image_url")
    )


def one_background(names: list[str]) -> None:
    """BadRequest (remove.bg's `multiple_bg_sources`) for a request that gives more than one background, `names` one per
    field or file part sent (a colour counts, as at remove.bg): one would be dropped without a word."""
    if len(names) > 1:
        raise BadRequest(f"send one background only, not {' and '.join(names)}", code="multiple_bg_sources")


def background_image(request: HttpRequest, params: Any) -> File | None:
    """The `bg_image` to composite onto: an uploaded file, or a URL (also remove.bg's names); None if absent."""
    files = [field for field in BACKGROUND_FIELDS for _ in request.FILES.getlist(field)]
    colour = [] if is_blank(params.get("bg_color")) else ["bg_color"]
    one_background(colour + files + [name for name in ("bg_image", "bg_image_url") if params.get(name)])
    upload: File | None = request.FILES.getlist(files[0])[0] if files else None  # the one one_background allows
    if upload is None:
        field = next((name for name in ("bg_image", "bg_image_url") if params.get(name)), "")
        if not field:
            return None
        url = str(params[field])
        upload = ContentFile(fetch_image(url, field=field), name=PurePosixPath(urlsplit(url).path).name or "background")
    check_upload_size(upload, field="bg_image")
    try:
        pipeline.inspect_image(upload, max_pixels=settings.MAX_IMAGE_PIXELS)
    except pipeline.ImageRejected as exc:
        raise BadRequest(f"bg_image: {exc}") from None
    return upload
