"""Who is calling: an API key (header or parameter) or the browser session.

API clients send their key as `Authorization: Bearer <key>`, `X-Api-Key: <key>`
or a `key` parameter. Browsers use their session, and then CSRF protection
applies to writes, as for any form. An endpoint that spends credits on a GET
(/bgremove) takes no session on a GET: another site can send a signed-in
browser to any URL by a link or a redirect (the session cookie is SameSite=Lax),
and a GET carries no CSRF token; a session may POST there with the token.

The site's pages send `X-Page-User`, the id of the user the page was shown to: a page left open in one tab while the
browser logged out, or in as someone else, in another is told so (401), in its own language, rather than act as
whoever the cookie now names or be answered as a program without a key.
"""

import io
from importlib import import_module
from typing import Any

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import User
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import translation
from django.utils.translation import gettext

from accounts import services
from accounts.models import ApiKey


class AuthenticatedHttpRequest(HttpRequest):
    """The request a @login_required view gets: its user is signed in (django-stubs' recommended type)."""

    user: User


class NotAuthenticated(Exception):
    """No usable credentials: no key and no session, or an unknown or revoked key (HTTP 401)."""


class CsrfFailed(Exception):
    """A session caller's write without the CSRF token (HTTP 403)."""


def the_one_api_key(headers: Any, *elsewhere: tuple[str, str]) -> str:
    """The API key a request sends, in `Authorization: Bearer`, `X-Api-Key`, `WWW-Authenticate` (PixLab clients send
    the bare key, or `Bearer <key>`, there) or `elsewhere` ((where, key) pairs: ?key=, a `key` in the body); '' when
    none. The same key may come in several places; two different keys are NotAuthenticated: one of them was taken
    without a word (a header over ?key=, Authorization over X-Api-Key), and the call made as whoever it named. A header
    sent twice is one value, its values joined by commas (as Django joins them): a key holds no comma."""
    places: dict[str, str] = {}  # each key sent, and where it came first
    for name in ("Authorization", "WWW-Authenticate", "X-Api-Key"):
        value = headers.get(name, "").strip()
        if name != "X-Api-Key" and value[:7].lower() == "bearer ":
            value = value[7:]
        elif name == "Authorization":
            continue  # another scheme (Basic, say): not a key of ours
        for key in value.split(","):
            places.setdefault(key.strip(), name)
    for where, key in elsewhere:
        places.setdefault(key.strip(), where)
    places.pop("", None)
    if len(places) > 1:
        raise NotAuthenticated(
            f"{len(places)} different API keys were sent ({', '.join(dict.fromkeys(places.values()))}); send one"
        )
    return next(iter(places), "")


def api_key_from_request(request: HttpRequest, key_in_body: str = "") -> str:
    """The request's one API key (the_one_api_key): in its headers or ?key=, or its body (a form field, read only when
    the head names none, or `key_in_body`, a key the view found in a JSON or form body)."""
    query_keys = (("?key=", key) for key in request.GET.getlist("key"))
    in_head = the_one_api_key(request.headers, *query_keys, ("body", key_in_body))
    return in_head or the_one_api_key({}, ("body", _key_field(request)))


def _key_field(request: HttpRequest) -> str:
    """The `key` form field, in a body Django reads as form fields: one larger than its DATA_UPLOAD_MAX_MEMORY_SIZE (at
    /v1.0/removebg, a url-encoded image_file_b64) is not read for it, as it is read only from a caller known before."""
    try:
        return request.POST.get("key", "")
    except RequestDataTooBig:
        return ""


def api_key_for(raw_key: str) -> ApiKey:
    try:
        return services.api_key_authenticate(raw_key=raw_key)
    except (services.InvalidApiKey, services.RevokedApiKey) as exc:
        raise NotAuthenticated(str(exc)) from None


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def user_for_api_request(request: HttpRequest, *, key_in_body: str = "", spends_credits: bool = False) -> User:
    """The calling user, or NotAuthenticated/CsrfFailed explaining why not.

    `key_in_body` is a key the view found in a JSON body. `spends_credits`: the request
    makes images (see the module docstring).
    """
    if raw_key := api_key_from_request(request, key_in_body):
        key = api_key_for(raw_key)
        request.api_key = key  # type: ignore[attr-defined]  # for per-key rate limits
        # A program's call: its texts in English, whatever Accept-Language says, as programs may read them. A
        # browser session (the page) keeps its language for the texts that are translated (refused uploads).
        translation.activate(settings.LANGUAGE_CODE)
        return key.user
    page_user = request.headers.get("X-Page-User", "")
    if request.user.is_authenticated:
        if page_user and page_user != str(request.user.pk):
            raise NotAuthenticated(
                gettext(
                    "another user has logged in in this browser since this page was opened; log in again as its "
                    "user, or reload the page"
                )
            )
        if request.method in SAFE_METHODS and spends_credits:
            raise CsrfFailed(
                f"{request.method} {request.path} with a browser session is refused, as it spends credits and "
                "another site could send you here: use an API key, or POST with the X-CSRFToken header"
            )
        if request.method not in SAFE_METHODS and (reason := csrf_refusal(request)):
            hint = " (send the X-CSRFToken header with the csrftoken cookie's value)" if "Origin" not in reason else ""
            raise CsrfFailed(f"CSRF check failed: {reason}{hint}")
        return request.user
    if page_user:
        raise NotAuthenticated(gettext("you are logged out; log in again to go on"))
    raise NotAuthenticated(
        "authentication required: send your API key as 'Authorization: Bearer <key>', 'X-Api-Key', "
        "or the 'key' parameter"
    )


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check, giving the reason of a refusal instead of a 403 page."""

    def _reject(self, request: HttpRequest, reason: str) -> Any:
        return reason


def csrf_refusal(request: HttpRequest) -> str | None:
    """Why Django's CSRF protection refuses this write (its Origin, its token), or None if it passes."""
    reason = _CsrfCheck(lambda r: None).process_view(request, None, (), {})  # type: ignore[arg-type]
    return str(reason) if reason is not None else None


def api_key_in_scope(scope: dict[str, Any]) -> str:
    """The API key an ASGI scope (a websocket's handshake, a request before its body) carries in its headers or
    ?key=, or "": read as Django's request reads them (a header sent twice is its values joined by commas, a header
    spelled with underscores none), so that the caller known here is the one the view judges; NotAuthenticated where
    it carries two different keys (the_one_api_key)."""
    head = _request_head(scope)
    return "" if head is None else _api_key_of_head(head)


def _api_key_of_head(head: HttpRequest) -> str:
    """The head's one API key (the_one_api_key), from its headers and ?key=: NotAuthenticated for two different ones."""
    return the_one_api_key(head.headers, *(("?key=", key) for key in head.GET.getlist("key")))


def _request_head(scope: dict[str, Any]) -> HttpRequest | None:
    """Django's request for `scope`, without its body; None where Django would refuse to make one (a query string
    that is not UTF-8: 400). Its Content-Type is left out: one Django cannot parse is refused by BodySizeLimit."""
    headers = [(name, value) for name, value in scope.get("headers", []) if name != b"content-type"]
    try:
        return ASGIRequest({**scope, "method": scope.get("method", "GET"), "headers": headers}, io.BytesIO())
    except UnicodeDecodeError:
        return None


def caller_of_websocket(scope: dict[str, Any]) -> tuple[Any, ApiKey | None]:
    """The websocket's user and the API key it came with: a key in the handshake headers or ?key=, else the
    session's user and None; (None, None) when neither signs anyone in, or two different keys are sent."""
    try:
        raw_key = api_key_in_scope(scope)
    except NotAuthenticated:
        return None, None
    if raw_key:
        api_key = _working_key(raw_key)
        return (api_key.user, api_key) if api_key else (None, None)
    return user_of_head_now(scope), None


def caller_known_before_body(scope: dict[str, Any]) -> bool:
    """Whether an HTTP request names a caller before its body: a working API key in its headers or ?key=, or the
    cookie of a session Django takes as signed in (its user still active, its password unchanged since). A key sent
    as a form field is known only once the whole body has been read."""
    return user_of_head_now(scope) is not None


def user_of_head_now(scope: dict[str, Any]) -> Any:
    """The user a request's or a websocket's head names as Django would judge it now, or None: a working key in its
    headers or ?key=, else its session cookie's (None once the key is revoked, or the session has ended: logged
    out, its password changed, its user deactivated)."""
    if (head := _request_head(scope)) is None:
        return None
    try:
        raw_key = _api_key_of_head(head)
    except NotAuthenticated:  # two different keys: no one
        return None
    if raw_key:
        api_key = _working_key(raw_key)
        return api_key.user if api_key else None
    return _session_user(head)


def _working_key(raw_key: str) -> ApiKey | None:
    try:
        return services.api_key_authenticate(raw_key=raw_key)
    except (services.InvalidApiKey, services.RevokedApiKey):
        return None


def _session_user(head: HttpRequest) -> Any:
    """The user the session cookie of `head` signs in now, as Django's request would take it; None if none."""
    head.session = import_module(settings.SESSION_ENGINE).SessionStore(head.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = get_user(head)
    return user if user.is_authenticated else None


class BrowserOriginValidator(OriginValidator):
    """Refuse cross-site websocket handshakes from browsers, by the same rule as CSRF.

    Browsers always send Origin, and it must be this site's own (scheme, host and
    port, as the request reached us) or one of CSRF_TRUSTED_ORIGINS: Django's
    CSRF origin check decides, so pages and websockets trust the same origins.
    Clients that send none are programs, which must authenticate with an API key
    (a page on another site cannot attach that), so they are let through.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, ["*"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        if b"origin" in headers and not same_origin_as_csrf(scope, headers):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin_as_csrf(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    """Whether the handshake's Origin passes Django's CSRF origin check for an equivalent HTTPS/HTTP request."""
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    request = ASGIRequest({**scope, "type": "http", "method": "POST", "scheme": scheme}, io.BytesIO())
    try:
        return CsrfViewMiddleware(lambda r: None)._origin_verified(request)  # type: ignore[arg-type,attr-defined]
    except DisallowedHost:
        return False
