"""`read_only`: the decorator of a view that answers GET and HEAD only (a page, a probe, a public file).

Any other method is require_safe's 405, which removal.web.error_pages gives the site's page (or an API's JSON).
CsrfViewMiddleware refuses an unsafe method without a token before the view runs, so without the exemption a PUT,
DELETE or PATCH got the CSRF check's 403 page for a form that was never there. Exempting such a view weakens
nothing: the CSRF check guards only unsafe methods, which it refuses anyway. A page with a form still sets the
csrftoken cookie ({% csrf_token %}, ensure_csrf_cookie), and the view the form posts to still checks it.
"""

from collections.abc import Callable
from typing import Any

from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe


def read_only[View: Callable[..., Any]](view: View) -> View:
    return csrf_exempt(require_safe(view))
