"""Pages. They render the initial state; static/js/upload.js does the rest over the API.

The account page lives here too: it shows this app's usage and webhook deliveries beside
the API keys of accounts (which, below removal, never imports it), and how to install the
command-line client, which this module also serves."""

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.formats import number_format
from django.utils.http import quote_etag
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from accounts import selectors as account_selectors
from accounts.auth import AuthenticatedHttpRequest
from accounts.forms import ApiKeyCreateForm
from bgsite.allowed_methods import read_only
from removal import selectors, serializers, services
from removal.cutout import pipeline
from removal.cutout.option_lists import page_choices
from removal.errors import ApiError, NotFound
from removal.models import BATCH_NAME_LENGTH, Item
from removal.ops import client_package, limits
from removal.web import inputs

# A worker takes the sample's job at once and makes it in a second or two.
SAMPLE_RETRY_SECONDS = 5


def _upload_context() -> dict[str, object]:
    limits = {
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "max_items_per_batch": settings.MAX_ITEMS_PER_BATCH,
        "max_image_pixels": settings.MAX_IMAGE_PIXELS,
        # A file the batch holds already is known by its name as the server keeps it (services.display_filename).
        "max_filename_chars": Item._meta.get_field("filename").max_length,
        "max_batch_name_chars": BATCH_NAME_LENGTH,
        "mask_working_side": pipeline.MASK_WORKING_SIDE,  # the hand editor's working copy (static/js/editor-view.js)
    }
    # Decimal megabytes, as the API's error messages state the same limit, with the language's decimal mark ("0,18").
    return {
        "limits": limits,
        "max_upload_mb": number_format(f"{settings.MAX_UPLOAD_BYTES / 1e6:g}", force_grouping=True),
        "default_format": settings.DEFAULT_FORMAT,
        # The controls' values, labels, defaults and patterns come from the option declaration.
        "option_choices": page_choices(),
        # The triage bar says where flagging starts (the batch JSON's review_below, as a percent).
        "review_below_percent": _("%(number)s%%")
        % {"number": number_format(round(settings.REVIEW_CONFIDENCE_BELOW * 100))},
    }


@read_only
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """The upload page: drop images, follow each one, download the zip.

    A signed-out visitor gets the first screen instead: what bgsite does, a before/after
    this server makes, the way in, and the one-line API call."""
    if not request.user.is_authenticated:
        removebg_url = request.build_absolute_uri(reverse("removebg"))
        return render(request, "removal/landing.html", {"removebg_url": removebg_url, "sample": _sample_made()})
    return render(request, "removal/home.html", {**_upload_context(), "batch_id": None})


def _sample_made() -> str | None:
    """The sample cutout's version (its address names it) once a worker has made it; None until then (a worker
    process queues it as it starts, the page's script by asking for it)."""
    try:
        made = services.sample_cutout(model=settings.REMBG_MODEL)
    except services.StorageUnavailable:
        return None
    return made.version if made else None


@read_only  # open to all, as /healthz
def sample_cutout(request: HttpRequest) -> HttpResponse:
    """The first screen's "after": the bundled sample photo, cut out by this server's own pipeline (a worker's).

    At the address the landing page gives (?v=, the model, its weights and all else that made it) it never changes,
    and browsers keep it; at another, they ask again each time (ETag). While it is being made: 503, Retry-After."""
    try:
        cutout = services.sample_cutout_or_request(model=settings.REMBG_MODEL)
    except services.StorageUnavailable as exc:
        cutout, not_yet = None, str(exc)
    else:
        not_yet = _("The sample is still being cut out; try again in a few seconds.")
    if cutout is None:
        headers = {"Retry-After": str(SAMPLE_RETRY_SECONDS), "Cache-Control": "no-store"}
        return HttpResponse(not_yet, content_type="text/plain; charset=utf-8", status=503, headers=headers)
    kept = "public, max-age=31536000, immutable" if request.GET.get("v") == cutout.version else "no-cache"
    etag = quote_etag(cutout.version)
    response = HttpResponse(cutout.png, content_type="image/png", headers={"Cache-Control": kept, "ETag": etag})
    return get_conditional_response(request, etag=etag, response=response) or response


@read_only
@login_required
@ensure_csrf_cookie  # Delete on a row sends the token
def batch_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        named = inputs.batch_search(request)
    except ApiError as refused:  # the site's 400 page
        raise exceptions.BadRequest(str(refused)) from None
    batches = selectors.batches_named(request.user, named)
    page = Paginator(batches, settings.BATCHES_PER_PAGE).get_page(inputs.page_asked(request))
    return render(
        request,
        "removal/batch_list.html",
        # ?deleted=1: the batch page deleted a batch and came here.
        {
            "page": page,
            "batches": selectors.batches_with_counts(list(page)),
            "named": named,
            "any_batch": bool(named) or page.paginator.count > 0,
            "batch_name_length": BATCH_NAME_LENGTH,
            "deleted": request.GET.get("deleted") == "1",
        },
    )


@read_only
@login_required
@ensure_csrf_cookie
def batch_detail(request: AuthenticatedHttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    """A past (or running) batch on the same live page as uploads, ready for more files."""
    try:
        batch = selectors.batch_for(request.user, batch_id)
    except NotFound:
        raise Http404("no such batch") from None
    context = {
        **_upload_context(),
        "batch_id": str(batch.id),
        "batch_name": batch.name,
        "batch_links": serializers.batch_links(batch),
    }
    return render(request, "removal/home.html", context)


@read_only
@login_required
@never_cache  # it shows a new key once and the webhook secret: not for the Back button to show again
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    """API keys and usage. A key created just now is shown once, from the session."""
    new_key = request.session.pop("new_api_key", None)
    usage = selectors.usage_by_day(request.user)
    return render(
        request,
        "accounts/dashboard.html",
        {
            "keys": account_selectors.api_keys_for(request.user),
            "form": ApiKeyCreateForm(),
            "new_key": new_key,
            "usage": usage,
            "usage_totals": selectors.usage_totals(usage),
            "usage_chart": selectors.usage_chart(usage),
            # None without a daily quota; else the credits left today (UTC), deleted images counted.
            "quota_left": limits.credits_left_today(request.user),
            "quota": settings.DAILY_IMAGE_QUOTA,
            "webhook_secret": account_selectors.webhook_secret_of(request.user),
            "address_unconfirmed": account_selectors.address_unconfirmed(request.user),
            "address_lost": account_selectors.address_lost(request.user),  # to another account, which took it
            "browsers": account_selectors.logged_in_browsers(
                request.user, current_session_key=request.session.session_key
            ),
            "deliveries": selectors.webhook_deliveries_for(request.user),
            # The command-line card: install the client from this very server, then point it here.
            "client_sdist_url": request.build_absolute_uri(reverse("client-sdist")),
            "server_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )


@read_only
def client_sdist(request: HttpRequest) -> HttpResponse:
    """The `bgsite` client for `pip install <this URL>` (ops.client_package); open to all, as pip cannot log in."""
    return HttpResponse(
        client_package.client_sdist(),
        content_type="application/gzip",
        headers={"Content-Disposition": 'attachment; filename="bgsite-client.tar.gz"'},
    )
