"""bgsite.allowed_methods: a view answers a method it does not take with the 405 and its Allow header, before the
CSRF check, whether the caller is signed in or not; the CSRF check still guards the methods it takes."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services
from accounts.models import ApiKey
from bgsite.allowed_methods import view_methods
from removal.models import Batch

pytestmark = pytest.mark.django_db

FORM_PAGE, READ_ONLY, FORM_TARGET = "GET, HEAD, POST", "GET, HEAD", "POST"


def signed_out_pages(user: Any) -> dict[str, str]:
    """Each page a visitor may open signed out, and the methods it takes."""
    account = urlsafe_base64_encode(force_bytes(user.pk))
    return {
        "/": READ_ONLY,
        "/sample/cutout.png": READ_ONLY,
        "/client/bgsite-client.tar.gz": READ_ONLY,
        "/accounts/signup/": FORM_PAGE,
        "/accounts/login/": FORM_PAGE,
        "/accounts/logout/": FORM_TARGET,
        "/accounts/password/reset/": FORM_PAGE,
        "/accounts/password/reset/sent/": READ_ONLY,
        f"/accounts/password/reset/{account}/{default_token_generator.make_token(user)}/": FORM_PAGE,
        f"/accounts/password/reset/{account}/set-password/": FORM_PAGE,  # where that link leads
        "/accounts/password/reset/done/": READ_ONLY,
        "/accounts/email/confirm/a-token/": FORM_PAGE,
        "/accounts/email/verify/a-token/": FORM_PAGE,
        "/i18n/setlang/": FORM_PAGE,
        "/jsi18n/": READ_ONLY,
    }


def signed_in_pages(user: Any) -> dict[str, str]:
    """Each page and form target of a signed-in account, and the methods it takes."""
    batch = Batch.objects.create(owner=user)
    key, _plain = services.api_key_create(user=user, name="k")
    return {
        "/": READ_ONLY,
        "/batches/": READ_ONLY,
        f"/batches/{batch.id}/": READ_ONLY,
        "/accounts/": READ_ONLY,
        "/accounts/password/": FORM_PAGE,
        "/accounts/password/done/": READ_ONLY,
        "/accounts/email/": FORM_PAGE,
        "/accounts/delete/": FORM_PAGE,
        "/accounts/email/verify/": FORM_TARGET,
        "/accounts/keys/": FORM_TARGET,
        f"/accounts/keys/{key.pk}/revoke/": FORM_TARGET,
        "/accounts/webhook-secret/": FORM_TARGET,
        "/accounts/browsers/log-out/": FORM_TARGET,
        "/accounts/browsers/a-handle/log-out/": FORM_TARGET,
        "/accounts/logout/": FORM_TARGET,
    }


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE"])
def test_a_page_answers_a_method_it_does_not_take_with_the_405_page_not_the_csrf_ones(
    user: Any, method: str, signed_in: bool
) -> None:
    """A form page (sign-up, log-in, the password and address pages, the account's forms) answered a PUT, DELETE or
    PATCH with the CSRF check's 403 page for a form: CsrfViewMiddleware refused it before the view's method check."""
    browser = Client(enforce_csrf_checks=True)
    if signed_in:
        browser.force_login(user)
    pages = signed_in_pages(user) if signed_in else signed_out_pages(user)
    replies = {path: browser.generic(method, path) for path in pages}
    assert {path: (reply.status_code, reply.get("Allow")) for path, reply in replies.items()} == {
        path: (405, allowed) for path, allowed in pages.items()
    }
    for path, reply in replies.items():
        assert "<h1>Request not allowed here</h1>" in reply.content.decode(), path


def test_the_405_page_speaks_the_visitors_language() -> None:
    reply = Client(enforce_csrf_checks=True).put("/accounts/login/", headers={"Accept-Language": "fr"})
    assert (reply.status_code, reply["Allow"]) == (405, FORM_PAGE)
    assert "<h1>Requête non autorisée ici</h1>" in reply.content.decode()


def test_a_form_posted_without_its_csrf_token_is_still_refused(user: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/accounts/login/", {"username": user.username, "password": "pw"}).status_code == 403
    assert browser.post("/accounts/signup/", {}).status_code == 403
    browser.force_login(user)
    for path in ("/accounts/email/", "/accounts/delete/", "/accounts/keys/", "/accounts/logout/"):
        assert browser.post(path, {}).status_code == 403, path
    assert not ApiKey.objects.filter(user=user).exists()


def test_a_form_posted_with_its_csrf_token_is_taken(user: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    token = browser.get("/accounts/login/").cookies["csrftoken"].value
    logged_in = browser.post(
        "/accounts/login/",
        {"username": user.username, "password": "correct horse battery", "csrfmiddlewaretoken": token},
    )
    assert (logged_in.status_code, logged_in["Location"]) == (302, "/")
    browser.get("/accounts/")
    token = browser.cookies["csrftoken"].value  # rotated by the log-in
    made = browser.post("/accounts/keys/", {"name": "laptop", "csrfmiddlewaretoken": token})
    assert made.status_code == 302
    assert [key.name for key in ApiKey.objects.filter(user=user)] == ["laptop"]


def test_the_admin_keeps_its_own_handling(admin_user: Any) -> None:
    """The admin's views declare no methods: a PUT is still the CSRF check's refusal there, as Django ships it. Its
    log-in is the site's throttled one (accounts.password_views.ThrottledAdminLoginView)."""
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/admin/login/").status_code == 200
    refused = browser.put("/admin/login/")
    assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD, POST")
    browser.force_login(admin_user)
    assert browser.put("/admin/").status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/batches", {"status": 405, "error": "PUT is not allowed here; use GET or POST or HEAD"}),
        ("/api/docs", {"status": 405, "error": "PUT is not allowed here; use GET or HEAD"}),
    ],
)
def test_an_api_keeps_its_own_json_405(path: str, body: dict[str, Any]) -> None:
    reply = Client(enforce_csrf_checks=True).put(path)
    assert (reply.status_code, json.loads(reply.content)) == (405, body)


def routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Each route of the URLconf but the admin's, with its view."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace != "admin":
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_view_declares_the_methods_it_takes_or_checks_them_itself_as_the_apis_do() -> None:
    """A view that declares nothing would answer a method it does not take with the CSRF check's 403 again. The
    APIs' views are exempt from the CSRF check and answer another method with their own 405."""
    undeclared = [
        route
        for route, view in routes(get_resolver().url_patterns)
        if not view_methods(view) and not getattr(view, "csrf_exempt", False)
    ]
    assert undeclared == []
