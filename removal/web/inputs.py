"""What every front door reads from a request: parameters, the input image, the background, options.

The batch API (api.py), PixLab's /bgremove (pixlab.py) and remove.bg's /v1.0/removebg
(removebg.py) each turn a request into one call of services.batch_submit with an
input image, Options and the owner; the helpers for that live here, so the view
modules never import each other. Errors are domain exceptions (InvalidOption,
fetch.FetchError, pipeline.ImageRejected) or removal.errors API errors, turned into
each API's reply shape by removal.web.http_errors.
"""

import binascii
import re
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext_noop

from bgsite.multipart_watch import DROPPED_PARTS_SCOPE_KEY
from removal import fetch, selectors, services
from removal.cutout import pipeline
from removal.cutout.option_lists import options_named
from removal.cutout.option_parsing import is_blank, whole_number
from removal.cutout.options import Options, parse_options
from removal.errors import BadRequest, MethodNotAllowed, PayloadTooLarge, invalid_option_code
from removal.models import BATCH_NAME_LENGTH, IDEMPOTENCY_KEY_LENGTH
from removal.ops import limits
from removal.ops.models_run_on import models_installed
from removal.selectors import is_stored_image_path
from removal.translated import in_language
from removal.web.body_limit import fields_too_large, max_fields_bytes
from removal.web.links import on_this_server
from removal.web.parameters import given_more_than_once, json_object, starts_an_object

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BACKGROUND_FIELDS = ("bg_image", "bg_image_file")  # a background to composite onto, not an image to process
CALLBACK_URL_MAX_CHARS = 2000
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986's scheme, then its colon
DATA_URL_PREFIX = re.compile(r"\Adata:[^,]{0,200};base64,", re.I)  # data:image/png;base64,
BASE64_LINE_BREAKS = "\r\n\t"  # taken out of base64 text, wherever they are


def check_method(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        raise MethodNotAllowed.naming(request.method, methods)


def request_parameters(request: HttpRequest) -> dict[str, Any]:
    """Query string, form fields and a JSON object body, merged (later ones win); each text free of what no database
    column takes. A multipart part that holds an image sent without a filename is among request.FILES
    (bgsite.filenameless_parts), not here. Each source gives a name once (json_object, _once_each)."""
    params = _once_each(request.GET)
    if request.method in ("POST", "PATCH"):
        if request.content_type == "application/json":
            params.update(json_object(_fields_body(request)))
        elif request.content_type == "text/plain" and starts_an_object(body := _fields_body(request)):
            params.update(json_object(body))  # fetch() labels a string body text/plain: JSON sent without its type
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update(_once_each(QueryDict(_fields_body(request), encoding=request.encoding)))
        elif request.method == "PATCH" and request.content_type == "multipart/form-data":  # Django reads it for POST
            raise BadRequest("send a PATCH's fields as JSON or url-encoded, not as multipart/form-data (not read)")
        else:
            params.update(_once_each(request.POST))
    for name, value in params.items():
        if unstorable(name) or (isinstance(value, str) and unstorable(value)):
            raise BadRequest(
                f"the parameter {name[:100]!r} holds a character that no parameter may: "
                "NUL (\\u0000) or a lone surrogate"
            )
    return params


def _once_each(fields: QueryDict) -> dict[str, Any]:
    """A query string's or form's fields, each name once (parameters.given_more_than_once)."""
    for name, values in fields.lists():
        if len(values) > 1:
            raise given_more_than_once(name, len(values))
    return fields.dict()


def batch_search(request: HttpRequest) -> str:
    """The text a list of batches is searched for (`name`, its white space at each end taken off); BadRequest for a
    query holding what no parameter may (request_parameters): PostgreSQL refuses a NUL even in a search."""
    return str(request_parameters(request).get("name", "")).strip()


def page_asked(request: HttpRequest) -> str:
    """The `page` of a list asked for, as Paginator.get_page takes it (past the end the last, not a number the first):
    a number below 1 is the first, where get_page gave the last, as past the end (a client counting from 0 got it)."""
    asked = request.GET.get("page", "").strip()
    return "1" if asked.lstrip("-").isdecimal() and int(asked) < 1 else asked


def unstorable(text: str) -> bool:
    """Whether `text` holds a NUL (which PostgreSQL's text columns refuse) or a lone UTF-16 surrogate (which UTF-8
    cannot encode; only a JSON body's escapes such as \\ud800 make one)."""
    if text.isascii():  # the common case, and a long base64 image's: checked at once
        return "\x00" in text
    return "\x00" in text or LONE_SURROGATE.search(text) is not None


def _fields_body(request: HttpRequest) -> bytes:
    """A JSON or url-encoded body, whole: read by Django up to its DATA_UPLOAD_MAX_MEMORY_SIZE, and here up to
    max_fields_bytes where an image may come in a field (remove.bg's image_file_b64)."""
    if not limits.body_past_django_memory(request):
        return request.body
    if int(request.META["CONTENT_LENGTH"]) > (limit := max_fields_bytes(request.path)):
        raise fields_too_large(limit)
    return request.read()


def uploaded_files(request: HttpRequest) -> list[File]:
    """Every uploaded image to process, from `files` fields first, then any other file field."""
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


def request_options(params: Any, *, user: "User", images: int, background: bool = False) -> Options:
    """The output options named in a request of `images` images (removal.cutout.options), with this site's default
    model and format, and size=auto as `user`'s credits decide it (limits.auto_size); `background`: a bg_image is
    named (names_a_background)."""
    return _site_options(params, background=background, auto_size=lambda: limits.auto_size(user, images=images))


def _site_options(params: Any, *, background: bool, auto_size: Callable[[], str]) -> Options:
    return parse_options(
        params,
        default_model=settings.REMBG_MODEL,
        models=models_installed(),
        default_format=settings.DEFAULT_FORMAT,
        background=background,
        auto_size=auto_size,
    )


def check_batch_options_kept(params: Any, batch_options: Options) -> None:
    """Files added to a batch take the options it was created with: a request may send them again, but one
    that gives an option another value is refused (a 400 naming them) rather than have it ignored. A bg_image
    sent again is not compared (it would have to be fetched); it is ignored, as before."""
    named = [option for option in options_named(params) if option.name != "bg_image"]
    if not named:
        return
    # size=auto sent again stands for the size it stood for when the batch was made, not today's credits' choice.
    made_size = "preview" if batch_options.size_preview else "full"
    asked = _site_options(params, background=bool(batch_options.bg_image_sha256), auto_size=lambda: made_size)
    changed = [
        option.name
        for option in named
        if any(getattr(asked, name) != getattr(batch_options, name) for name in option.fields)
    ]
    if changed:
        raise BadRequest(
            f"{', '.join(changed)}: files added to a batch take the options it was created with; "
            "rerun the batch (POST /api/v1/batches/<id>/rerun) for other ones"
        )


def callback_url(params: Any) -> str:
    """The batch's webhook URL (`callback_url`), checked as fetch would check it; '' if absent.

    A host that resolves to an address the server does not call (loopback, private...)
    is refused now, as an image URL is; one that does not resolve yet is checked again
    on each delivery (as every host is: its address may change).
    """
    url = str(params.get("callback_url", "")).strip()
    if url:
        try:
            services.check_callback_url(url=url)
            parts = urlsplit(url)
            port = parts.port or fetch.DEFAULT_PORTS[parts.scheme.lower()]  # check_callback_url took no other scheme
            fetch.resolve_checked(parts.hostname or "", port, settings.FETCH_ALLOWED_NETWORKS, "callback URL")
        except fetch.HostNotFound:
            pass
        except fetch.FetchError as exc:
            raise BadRequest(f"callback_url: {in_language(exc.template, exc.values)}") from None
        if len(url) > CALLBACK_URL_MAX_CHARS:
            at_most = in_language(gettext_noop("%(limit)s characters at most"), {"limit": CALLBACK_URL_MAX_CHARS})
            raise BadRequest(f"callback_url: {at_most}")
    return url


def batch_name(params: Any) -> str | None:
    """The batch's `name`, its white space at each end taken off ("" names none); None when the request gives none."""
    if params.get("name") is None:  # absent, or JSON's null: not given, as for every parameter (web.parameters)
        return None
    name = params["name"].strip()
    if len(name) > BATCH_NAME_LENGTH:
        raise BadRequest(f"name: {BATCH_NAME_LENGTH} characters at most")
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise BadRequest("name: a line break, tab or other control character has no place in a batch's name")
    return name


def improve_quality(request: HttpRequest) -> str:
    """The `quality` an improvement runs with (form field or JSON body); only "best" for now."""
    quality = str(request_parameters(request).get("quality") or services.IMPROVED_QUALITY)
    if quality != services.IMPROVED_QUALITY:
        raise BadRequest(f"quality: improving runs the flagged items with {services.IMPROVED_QUALITY!r} only")
    return quality


# The highest `file_position` a request may give: room above it for a request's files in an Item.position.
MAX_POSITION = 1_000_000_000


def first_position(params: Any) -> int | None:
    """`file_position`: where the request's first file goes among the batch's (the next ones follow it), so that a
    batch keeps its sender's order whatever order parallel requests arrive in; None when not given."""
    if is_blank(params.get("file_position")):
        return None
    return whole_number(params, "file_position", 0, 0, MAX_POSITION)


# What an Idempotency-Key may hold: printable ASCII (a UUID, a hash), as a bare token or a quoted string.
IDEMPOTENCY_KEY_TEXT = re.compile(rf'"?([\x21\x23-\x7e]{{1,{IDEMPOTENCY_KEY_LENGTH}}})"?')


def idempotency_key(request: HttpRequest) -> str:
    """The `Idempotency-Key` header of a batch's creation ('' without one): the same creation sent again with it,
    its reply lost, gets the batch the first made instead of a second one."""
    sent = request.headers.get("Idempotency-Key", "").strip()
    if not sent:
        return ""
    if not (found := IDEMPOTENCY_KEY_TEXT.fullmatch(sent)):
        raise BadRequest(
            f"Idempotency-Key: {IDEMPOTENCY_KEY_LENGTH} printable ASCII characters at most (a UUID, for example)"
        )
    return found[1]
