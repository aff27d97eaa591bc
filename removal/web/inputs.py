"""What every front door reads from a request: parameters, options, the callback URL, a batch's name and the
other fields (the images it sends are removal.web.input_images').

The batch API (api.py), PixLab's /bgremove (pixlab.py) and remove.bg's /v1.0/removebg
(removebg.py) each turn a request into one call of a service (services.batch_submit, image_submit) with an
input image, Options and the owner; the helpers for that live here, so the view
modules never import each other. Errors are domain exceptions (InvalidOption,
fetch.FetchError, pipeline.ImageRejected) or removal.errors API errors, turned into
each API's reply shape by removal.web.http_errors.
"""

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext_noop

from bgsite.names import breaks_a_name
from removal import fetch, services
from removal.cutout.option_lists import options_named
from removal.cutout.option_parsing import FULL_SIZE, PREVIEW_SIZE, is_blank, whole_number
from removal.cutout.options import Options, parse_options
from removal.errors import BadRequest, MethodNotAllowed, UnsupportedMediaType
from removal.models import BATCH_NAME_LENGTH, IDEMPOTENCY_KEY_LENGTH
from removal.ops import limits
from removal.ops.models_run_on import models_installed
from removal.translated import in_language
from removal.web.body_limit import fields_too_large, max_fields_bytes
from removal.web.parameters import check_text_parts, given_more_than_once, json_object, starts_an_object

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CALLBACK_URL_MAX_CHARS = 2000
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
JSON_MEDIA_TYPE = re.compile(r"application/([\w.-]+\+)?json")  # and RFC 6839's +json types: merge-patch+json, ...


# The bodies request_parameters reads (JSON also under RFC 6839's +json types, and as text/plain: fetch()'s label).
FIELDS_BODY_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")


def check_body_type(request: HttpRequest) -> None:
    """UnsupportedMediaType for a body that is neither a form nor JSON (raw image bytes, XML): Django reads no field
    and no file of it, and the request was refused for what it then lacked ("no file: upload the image as
    multipart/form-data", a 400), not for its type. A request without a body (GET /bgremove?img=URL) is not judged."""
    content_type = request.content_type or ""
    if not int(request.META.get("CONTENT_LENGTH") or 0):  # bgsite.asgi_handler counts a chunked body's
        return
    if content_type in (*FIELDS_BODY_TYPES, "text/plain") or JSON_MEDIA_TYPE.fullmatch(content_type):
        return
    *others, last = FIELDS_BODY_TYPES
    raise UnsupportedMediaType(
        f"a request body of Content-Type {content_type[:100] or '(none)'} is not read here: send "
        f"{others[0]} (images as files), {', '.join(others[1:])} or {last}"
    )


def check_method(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        raise MethodNotAllowed.naming(request.method, methods)


def request_parameters(request: HttpRequest) -> dict[str, Any]:
    """Query string, form fields and a JSON object body, merged (later ones win); each text free of what no database
    column takes. A multipart part that holds an image sent without a filename is among request.FILES
    (bgsite.filenameless_parts), not here. Each source gives a name once (json_object, _once_each)."""
    params = _once_each(request.GET)
    if request.method in ("POST", "PATCH"):
        if JSON_MEDIA_TYPE.fullmatch(request.content_type or ""):
            params.update(json_object(_fields_body(request)))
        elif request.content_type == "text/plain" and starts_an_object(body := _fields_body(request)):
            params.update(json_object(body))  # fetch() labels a string body text/plain: JSON sent without its type
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update(_once_each(QueryDict(_fields_body(request), encoding=request.encoding)))
        elif request.method == "PATCH" and request.content_type == "multipart/form-data":  # Django reads it for POST
            raise BadRequest("send a PATCH's fields as JSON or url-encoded, not as multipart/form-data (not read)")
        else:
            params.update(_once_each(request.POST))
            check_text_parts(request.FILES)
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
    made_size = PREVIEW_SIZE if batch_options.size_preview else FULL_SIZE
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
    if breaks_a_name(name):
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
