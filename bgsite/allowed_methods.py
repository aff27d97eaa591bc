"""The methods a view takes, declared once on the view, and answered before the CSRF check.

`methods_allowed(...)` is require_http_methods that also records the methods on the view (`read_only` is GET and
HEAD); a class-based view (Django's auth views, ours) declares them as Django reads them, by its handlers and
`http_method_names`. AllowedMethodsMiddleware, placed before CsrfViewMiddleware, answers any other method with the
405 and its Allow header, which removal.web.error_pages gives the site's page (or an API's JSON): CsrfViewMiddleware
refuses an unsafe method without a token before the view runs, so a PUT, DELETE or PATCH of a page got the CSRF
check's 403 page for a form that was never sent. The CSRF check still guards every method a view takes (a POST
without the token stays a 403). A view that declares nothing (the admin's; the APIs', which are CSRF-exempt and
answer another method with their own 405) is left to its own handling.
"""

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponseNotAllowed
from django.utils.deprecation import MiddlewareMixin
from django.utils.log import log_response
from django.views.decorators.http import require_http_methods

# The methods of a page that only shows, and of one that shows a form and takes it back. Django's class-based views
# would also take a PUT as a POST (reading no form from its body: the form shown again, every field missing) and
# answer OPTIONS with a blank 200; a class-based page lists them as its http_method_names (the *_HANDLERS below).
PAGE_METHODS = ("GET", "HEAD")
FORM_PAGE_METHODS = ("GET", "HEAD", "POST")


def _lower_cased(methods: Iterable[str]) -> list[str]:
    """`methods` as a class-based view's http_method_names lists them."""
    return [method.lower() for method in methods]


PAGE_HANDLERS, FORM_PAGE_HANDLERS = _lower_cased(PAGE_METHODS), _lower_cased(FORM_PAGE_METHODS)


def methods_allowed[View: Callable[..., Any]](*methods: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        checked = require_http_methods(methods)(view)
        checked.allowed_methods = methods  # type: ignore[attr-defined]  # copied outwards by functools.wraps
        return checked

    return decorate


def read_only[View: Callable[..., Any]](view: View) -> View:
    """A view that answers GET and HEAD only (a page, a probe, a public file)."""
    return methods_allowed(*PAGE_METHODS)(view)


@functools.cache  # a view's methods are the same at every request
def view_methods(view: Callable[..., Any]) -> list[str]:
    """The methods `view` declares it takes, as its 405's Allow header lists them; [] if it declares none."""
    if (view_class := getattr(view, "view_class", None)) is not None:
        instance = view_class(**view.view_initkwargs)  # type: ignore[attr-defined]
        if hasattr(instance, "get") and not hasattr(instance, "head"):
            instance.head = instance.get  # as View.setup does for each request
        return list(instance._allowed_methods())
    return list(getattr(view, "allowed_methods", []))


class AllowedMethodsMiddleware(MiddlewareMixin):
    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseNotAllowed | None:
        allowed = view_methods(view)
        if not allowed or request.method in allowed:
            return None
        refusal = HttpResponseNotAllowed(allowed)
        log_response("Method Not Allowed (%s): %s", request.method, request.path, response=refusal, request=request)
        return refusal
