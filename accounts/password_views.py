"""Log in, log out, a password's change and its reset by e-mail: Django's own views with our forms, each throttled
(per client address, per account or per username) and each new password told to the account's address once the reply
has gone (RedirectThenMail); and the throttle of the other forms that take the account's password
(password_guesses_refused), on the same count as the password change's."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import (
    LoginView,
    LogoutView,
    PasswordChangeView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic.edit import FormView
from django_ratelimit.core import is_ratelimited

from accounts import folding, mails, services
from accounts.auth import AuthenticatedHttpRequest
from accounts.forms import AccountDeleteForm, EmailChangeForm, LoginForm, PasswordChangeForm, SetPasswordForm
from bgsite.allowed_methods import FORM_PAGE_HANDLERS, PAGE_HANDLERS

# The throttle group of the forms that check the account's password once logged in.
RECONFIRMATION_GROUP = "password-guesses"


class _ThrottledFormView(FormView):
    """A form view whose POST is refused past `throttle_rate` (a setting's name) per what the form names
    (`attempt_key`) and, with `throttled_per_address`, per client address: the form is shown again unbound, saying
    `refusal`, with a 429, and nothing of it is done (no password checked, no mail sent)."""

    http_method_names = FORM_PAGE_HANDLERS
    throttle_group = ""
    throttle_rate = ""
    throttle_field = ""
    throttled_per_address = True
    refusal: Any = ""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rate = getattr(settings, self.throttle_rate)
        keys = ("ip", self.attempt_key) if self.throttled_per_address else (self.attempt_key,)
        limited = any(
            is_ratelimited(request, group=self.throttle_group, key=key, rate=rate, increment=True) for key in keys
        )
        if limited:
            form = self.get_form_class()(**self.refused_form_kwargs(request))
            form.cleaned_data = {}  # unbound: nothing was cleaned, so nothing was done with it
            form.add_error(None, self.refusal)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def refused_form_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        return {"initial": {self.throttle_field: request.POST.get(self.throttle_field, "")}}

    def attempt_key(self, group: str, request: HttpRequest) -> str:
        raise NotImplementedError


# A browser that has logged in to an account keeps a signed mark of it (its username's key, accounts.folding, not the
# name) for KNOWN_BROWSER_DAYS; its log-ins to that account are counted apart from everyone else's.
KNOWN_BROWSER_COOKIE, KNOWN_BROWSER_SALT, KNOWN_BROWSER_DAYS = "known_login", "accounts.known-login", 180


class ThrottledLoginView(_ThrottledFormView, LoginView):
    """Django's log-in, refusing rapid attempts per client address and per username. While refused, the password is
    not checked: a reply that told a right one from a wrong one would be an oracle.

    The count per username leaves out the browsers the account has logged in from before: anyone could otherwise
    keep an account's owner out for good with ten wrong passwords a minute for its name (OWASP's "device cookie").
    Those browsers have a count of their own per username, and the count per address holds for everyone."""

    authentication_form: type[AuthenticationForm] = LoginForm  # the admin's subclass below takes its own
    redirect_authenticated_user = True
    throttle_group, throttle_rate, throttle_field = "login", "LOGIN_RATE_LIMIT", "username"
    refusal = gettext_lazy("Too many log-in attempts. Wait a minute, then try again.")

    def refused_form_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        return {"request": request, **super().refused_form_kwargs(request)}

    def attempt_key(self, group: str, request: HttpRequest) -> str:
        """The username tried, as the form reads it (stripped, NFKC: " p2" and its full-width form are p2) and
        without case: each spelling of one account counts against the same limit. One longer than a username can
        be is taken as it is, as Django's UsernameField takes it: NFKC makes some characters 18, and 2.5 MB of them
        held a thread for 4 s before any limit applied. Prefixed for a browser that has logged in to it before."""
        username = request.POST.get("username", "").strip()
        if len(username) > User._meta.get_field("username").max_length:  # type: ignore[operator]
            return username
        username = folding.folded(username)
        mark = request.get_signed_cookie(
            KNOWN_BROWSER_COOKIE, default="", salt=KNOWN_BROWSER_SALT, max_age=timedelta(days=KNOWN_BROWSER_DAYS)
        )
        return f"known-browser:{username}" if mark and mark == folding.folded_key(username) else username

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        response.set_signed_cookie(
            KNOWN_BROWSER_COOKIE,
            folding.username_key(form.get_user().get_username()),
            salt=KNOWN_BROWSER_SALT,
            max_age=timedelta(days=KNOWN_BROWSER_DAYS),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


class ThrottledAdminLoginView(ThrottledLoginView):
    """The admin's log-in (/admin/login/, routed before admin.site's own), its attempts counted with the site's log-in
    form's, per client address and per username: Django's took any number of password guesses. Its form, page and
    context are the admin's (AdminSite.login's)."""

    authentication_form = AdminAuthenticationForm
    template_name = "admin/login.html"
    redirect_authenticated_user = False  # the admin shows its form to a signed-in account that is not staff

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if admin.site.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        return super().get(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        return reverse("admin:index")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        admin_context = {"title": _("Log in"), "subtitle": None, "app_path": self.request.get_full_path()}
        return {**admin.site.each_context(self.request), **admin_context, **context}


class ThrottledPasswordResetView(_ThrottledFormView, PasswordResetView):
    """Django's password reset, refusing rapid requests per client address and per address asked for: each one sends
    a mail (a stream of them filled a user's inbox). A refusal says the same whether the address has an account or
    not, and the mail goes once the reply has (RedirectThenMail), so that its time says nothing of it either."""

    throttle_group, throttle_rate, throttle_field = "password-reset", "PASSWORD_RESET_RATE_LIMIT", "email"
    refusal = gettext_lazy("Too many password reset requests. Wait a while, then try again.")

    def attempt_key(self, group: str, request: HttpRequest) -> str:
        """The e-mail address asked for, folded as the reset finds its account (accounts.folding)."""
        return folding.email_folded(request.POST.get("email", "").strip())

    def form_valid(self, form: Any) -> HttpResponse:
        self.extra_email_context = {"validity": mails.link_validity()}  # how long the mailed link works
        super().form_valid(form)  # the mails made, not sent (forms.PasswordResetForm)
        return RedirectThenMail(self.get_success_url(), send=form.send_unsent)


class RedirectThenMail(HttpResponseRedirect):
    """A redirect that calls `send` once it has been sent (the server closes a response after its last byte): a reset
    request for an address with an account is answered as soon as one without, and a new password or address does
    not wait on the mail server for its notice."""

    def __init__(self, url: str, *, send: Callable[[], None]) -> None:
        super().__init__(url)
        self.send = send

    def close(self) -> None:
        try:
            self.send()
        finally:
            super().close()


class PasswordResetSent(PasswordResetDoneView):
    """Django's "check your e-mail" page, saying how long the link works (PASSWORD_RESET_TIMEOUT)."""

    http_method_names = PAGE_HANDLERS

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(validity=mails.link_validity(), **kwargs)


class ThrottledPasswordChangeView(_ThrottledFormView, PasswordChangeView):
    """Django's password change, its old password tried at most LOGIN_RATE_LIMIT times a minute per account, on the
    same count as the other forms that take it (password_guesses_refused): not per client address, which an office
    behind one shares (its users' changes took ten tries a minute from all of them)."""

    form_class = PasswordChangeForm
    throttle_group, throttle_rate, throttle_field = RECONFIRMATION_GROUP, "LOGIN_RATE_LIMIT", ""
    throttled_per_address = False
    refusal = gettext_lazy("Too many tries of your password. Wait a minute, then try again.")

    def refused_form_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        return {"user": request.user}

    def attempt_key(self, group: str, request: HttpRequest) -> str:
        return str(request.user.pk)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # this browser stays logged in, under a new session key
        notice = password_changed(self.request, form.user, keeping=self.request.session.session_key)
        return RedirectThenMail(response["Location"], send=notice)


class PasswordResetConfirmWithNotice(PasswordResetConfirmView):
    """Django's new password from a reset link, then a notice to the account's address, as after a change."""

    http_method_names = FORM_PAGE_HANDLERS
    form_class = SetPasswordForm

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        """A link that does not work is answered 400, as the site's other links are (Django's page says it with a
        200)."""
        return super().render_to_response(context, **response_kwargs, status=200 if context["validlink"] else 400)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        notice = password_changed(self.request, form.user, keeping=None)  # whoever knew the old one is logged out
        return RedirectThenMail(response["Location"], send=notice)


def password_changed(request: HttpRequest, user: User, *, keeping: str | None) -> mails.Notice:
    """After a new password (here, or in the admin: accounts.admin): every browser of the account logged out but the
    session `keeping`; the notice to the account's address, in the current language, to send once the reply has
    gone."""
    services.browsers_log_out(user=user, but=keeping)
    reset_link = request.build_absolute_uri(reverse("password_reset"))
    return mails.password_changed_notice(user=user, host=request.get_host(), reset_link=reset_link)


def password_guesses_refused(
    request: AuthenticatedHttpRequest, form_class: type[AccountDeleteForm | EmailChangeForm], template: str
) -> HttpResponse | None:
    """A 429 with the form again, its password unchecked, past LOGIN_RATE_LIMIT posts a minute of a form that takes
    the account's password: unthrottled, a session left open (a shared computer) could guess it at full speed, past
    the log-in's throttle, to use wherever else it works."""
    rate = settings.LOGIN_RATE_LIMIT
    if not is_ratelimited(request, group=RECONFIRMATION_GROUP, key="user", rate=rate, increment=True):
        return None
    form = form_class(request.user, initial={"email": request.POST.get("email", "")})
    form.cleaned_data = {}  # unbound: nothing was cleaned, so nothing was done with it
    form.add_error(None, ThrottledPasswordChangeView.refusal)
    return render(request, template, {"form": form}, status=429)


class LogoutWithNotice(LogoutView):
    """Django's log-out, then the log-in page saying so: without a word, the form a visitor lands on looked like the
    log-out had not happened, or had thrown them out."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, _("You are logged out."))
        return response
