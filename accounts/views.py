"""Sign-up and the account page's forms (API keys, webhook secret). Log in/out and password
change are Django's own views, wired in accounts/urls.py; the page itself, which also shows
removal's usage, is removal.web.views.dashboard (accounts never imports removal)."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

from accounts import services
from accounts.auth import AuthenticatedHttpRequest
from accounts.forms import ApiKeyCreateForm, SignupForm


class ThrottledLoginView(LoginView):
    """Django's log-in, refusing rapid attempts per client address and per username."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limited = any(
            is_ratelimited(request, group="login", key=key, rate=settings.LOGIN_RATE_LIMIT, increment=True)
            for key in ("ip", "post:username")
        )
        if limited:
            form = self.get_form()
            form.add_error(None, "Too many log-in attempts. Wait a minute, then try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}! Drop some photos to get started.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_POST
def api_key_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name (up to 100 characters).")
        return redirect("dashboard")
    key, plain = services.api_key_create(user=request.user, name=form.cleaned_data["name"])
    # Redirect-after-POST, carrying the plain key once; a reload no longer shows it.
    request.session["new_api_key"] = {"name": key.name, "key": plain}
    return redirect("dashboard")


@login_required
@require_POST
def api_key_revoke(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    if services.api_key_revoke(user=request.user, key_id=key_id):
        messages.success(request, "The key was revoked; requests using it are refused from now on.")
    else:
        messages.error(request, "No such active key.")
    return redirect("dashboard")


@login_required
@require_POST
def webhook_secret_rotate(request: AuthenticatedHttpRequest) -> HttpResponse:
    services.webhook_secret_rotate(user=request.user)
    messages.success(request, "A new webhook secret is in use; deliveries are signed with it from now on.")
    return redirect("dashboard")
