"""Sign-up, a change of e-mail address, account deletion and the account page's forms (API keys, webhook secret, the
browsers logged in). Log in/out, password change and password reset by e-mail are Django's own views with our forms
(a changed password told to the account's address), wired in accounts/urls.py; the page itself, which also shows
removal's usage, is removal.web.views.dashboard (accounts never imports removal)."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
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
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django.views.generic.edit import FormView
from django_ratelimit.core import is_ratelimited

from accounts import folding, mails, services
from accounts.auth import AuthenticatedHttpRequest
from accounts.forms import (
    AccountDeleteForm,
    ApiKeyCreateForm,
    EmailChangeForm,
    LoginForm,
    PasswordChangeForm,
    SetPasswordForm,
    SignupForm,
)

# The throttle group of the forms that check the account's password once logged in.
RECONFIRMATION_GROUP = "password-guesses"
ACCOUNT_DELETE, EMAIL_CHANGE = "accounts/account_delete.html", "registration/email_change_form.html"


class _ThrottledFormView(FormView):
    """A form view whose POST is refused past `throttle_rate` (a setting's name) per what the form names
    (`attempt_key`) and, with `throttled_per_address`, per client address: the form is shown again unbound, saying
    `refusal`, with a 429, and nothing of it is done (no password checked, no mail sent)."""

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

    authentication_form = LoginForm
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


class ThrottledPasswordResetView(_ThrottledFormView, PasswordResetView):
    """Django's password reset, refusing rapid requests per client address and per address asked for: each one sends
    a mail (a stream of them filled a user's inbox). A refusal says the same whether the address has an account or
    not, and the mail goes once the reply has (_RedirectThenMail), so that its time says nothing of it either."""

    throttle_group, throttle_rate, throttle_field = "password-reset", "PASSWORD_RESET_RATE_LIMIT", "email"
    refusal = gettext_lazy("Too many password reset requests. Wait a while, then try again.")

    def attempt_key(self, group: str, request: HttpRequest) -> str:
        """The e-mail address asked for, folded as the reset finds its account (accounts.folding)."""
        return folding.email_folded(request.POST.get("email", "").strip())

    def form_valid(self, form: Any) -> HttpResponse:
        self.extra_email_context = {"validity": mails.link_validity()}  # how long the mailed link works
        super().form_valid(form)  # the mails made, not sent (forms.PasswordResetForm)
        return _RedirectThenMail(self.get_success_url(), send=form.send_unsent)


class _RedirectThenMail(HttpResponseRedirect):
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

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(validity=mails.link_validity(), **kwargs)


class ThrottledPasswordChangeView(_ThrottledFormView, PasswordChangeView):
    """Django's password change, its old password tried at most LOGIN_RATE_LIMIT times a minute per account, on the
    same count as the other forms that take it (_password_guesses_refused): not per client address, which an office
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
        notice = _password_changed(self.request, form.user, keeping=self.request.session.session_key)
        return _RedirectThenMail(response["Location"], send=notice)


class PasswordResetConfirmWithNotice(PasswordResetConfirmView):
    """Django's new password from a reset link, then a notice to the account's address, as after a change."""

    form_class = SetPasswordForm

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        notice = _password_changed(self.request, form.user, keeping=None)  # whoever knew the old one is logged out
        return _RedirectThenMail(response["Location"], send=notice)


def _password_changed(request: HttpRequest, user: User, *, keeping: str | None) -> mails.Notice:
    """After a new password: every browser of the account logged out but the session `keeping`; the notice to the
    account's address, to send once the reply has gone."""
    services.browsers_log_out(user=user, but=keeping)
    reset_link = request.build_absolute_uri(reverse("password_reset"))
    return mails.password_changed_notice(user=user, host=request.get_host(), reset_link=reset_link)


def _password_guesses_refused(
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


def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up as settings.SIGNUP allows: open, closed, or with an invitation link (?invitation=)."""
    if request.user.is_authenticated:
        return redirect("home")
    invitation = request.POST.get("invitation") or request.GET.get("invitation", "")
    if refusal := _signup_refusal(invitation):
        return _signup_refused(request, refusal)
    form = SignupForm(request.POST or None)
    valid = request.method == "POST" and form.is_valid()
    # Counted once a form would make an account (each brings its own quota and rate limits), or says that an address
    # has one: asked at full speed, that would tell which addresses have accounts here.
    counted = valid or form.has_error("email", code="taken")
    rate = settings.SIGNUP_RATE_LIMIT
    if counted and is_ratelimited(request, group="signup", key="ip", rate=rate, increment=True):
        form.errors.pop("email", None)  # no word on whether the address has an account
        form.add_error(None, _("Too many accounts made from your address. Wait a while, then try again."))
        return render(request, "registration/signup.html", {"form": form, "invitation": invitation}, status=429)
    if valid:
        try:
            user = services.account_create(form=form, invitation_token=invitation)
        except services.SignupRefused:  # the invitation was used meanwhile
            return _signup_refused(request, _signup_refusal(invitation))
        except services.AccountTaken as taken:  # by another sign-up meanwhile
            form.refuse_taken(taken.field)
            return render(request, "registration/signup.html", {"form": form, "invitation": invitation})
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome, %(name)s! Drop some photos to get started.") % {"name": user.username})
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form, "invitation": invitation})


def _signup_refusal(invitation: str) -> str:
    """Why this visitor may not sign up now, or ''."""
    if settings.SIGNUP == "closed":
        return _("Sign-up is closed on this server. Ask its operator for an account.")
    if settings.SIGNUP == "invite" and not services.invitation_usable(invitation):
        if invitation:
            return _("This invitation link was used already or has expired. Ask for a new one.")
        return _("Sign-up on this server is by invitation. Ask its operator for an invitation link.")
    return ""


class LogoutWithNotice(LogoutView):
    """Django's log-out, then the log-in page saying so: without a word, the form a visitor lands on looked like the
    log-out had not happened, or had thrown them out."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, _("You are logged out."))
        return response


def _signup_refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "registration/signup_refused.html", {"reason": reason}, status=403)


@login_required
def account_delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Delete the account and all its data, once its password is given, and tell its address (once the reply has gone):
    deleted by someone else who had the password (a session left open), its owner learns it."""
    if request.method == "POST" and (refused := _password_guesses_refused(request, AccountDeleteForm, ACCOUNT_DELETE)):
        return refused
    form = AccountDeleteForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        notice = mails.account_deleted_notice(user=request.user, host=request.get_host())  # made while it exists
        try:
            services.account_delete(user=request.user)
        except services.AccountDataNotDeleted:
            messages.error(request, _("Your stored files could not be deleted just now, so nothing was. Try again."))
            return redirect("account-delete")
        logout(request)
        messages.success(request, _("Your account and all its data were deleted."))
        return _RedirectThenMail(reverse("home"), send=notice)
    return render(request, ACCOUNT_DELETE, {"form": form})


@login_required
def email_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new address, once the password is given: a link sent to it makes it the account's (email_change_confirm).
    Each mail counts against PASSWORD_RESET_RATE_LIMIT for the account and for the address it goes to, as each reset
    mail does for its address: per account alone, ten accounts (an hour's sign-ups from one client) sent one
    stranger fifty mails an hour."""
    if request.method == "POST" and (refused := _password_guesses_refused(request, EmailChangeForm, EMAIL_CHANGE)):
        return refused
    form = EmailChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        rate = settings.PASSWORD_RESET_RATE_LIMIT
        if any(
            is_ratelimited(request, group="email-change", key=key, rate=rate, increment=True)
            for key in ("user", _email_change_recipient)
        ):
            form.add_error(None, _("Too many address changes asked for. Wait a while, then try again."))
            return render(request, EMAIL_CHANGE, {"form": form}, status=429)
        new_email = form.cleaned_data["email"]
        try:
            services.email_change_request(
                user=request.user,
                new_email=new_email,
                absolute_url=request.build_absolute_uri,
                host=request.get_host(),
            )
        except mails.AddressRefused:  # no such mailbox: a typo, most often
            form.add_error("email", _("The mail server refused this address. Check it, or give another one."))
            return render(request, EMAIL_CHANGE, {"form": form})
        except OSError:
            form.add_error(None, _("The mail could not be sent just now. Try again in a while."))
            return render(request, EMAIL_CHANGE, {"form": form}, status=503)
        messages.success(
            request, _("We sent a link to %(email)s. Open it to make it your address.") % {"email": new_email}
        )
        return redirect("dashboard")
    return render(request, EMAIL_CHANGE, {"form": form})


def _email_change_recipient(group: str, request: HttpRequest) -> str:
    """The address a change's link is mailed to, folded as accounts compare addresses (accounts.folding)."""
    return "to:" + folding.email_folded(request.POST.get("email", "").strip())


def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the new address: a page that asks to confirm (mail scanners open links), then the change, and a
    notice to the address it replaces."""
    try:
        if request.method != "POST":
            user, new_email = services.email_change_pending(token=token)
            return render(request, "registration/email_change_confirm.html", {"account": user, "email": new_email})
        user, notice = services.email_change_confirm(token=token, host=request.get_host())  # checks the link again
    except services.EmailChangeRefused:
        return render(request, "registration/email_change_confirm.html", {"refused": True}, status=400)
    except services.EmailTaken:
        messages.error(request, _("An account with this e-mail address exists already."))
        return redirect("dashboard")
    messages.success(request, _("Your e-mail address is now %(email)s.") % {"email": user.email})
    return _RedirectThenMail(reverse("dashboard"), send=notice)


@login_required
@require_POST
def api_key_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the key a name (up to 100 characters)."))
        return redirect("dashboard")
    try:
        key, plain = services.api_key_create(user=request.user, name=form.cleaned_data["name"])
    except services.TooManyApiKeys:
        limit = {"count": services.MAX_API_KEYS}
        messages.error(request, _("An account holds at most %(count)d keys in use: revoke one first.") % limit)
        return redirect("dashboard")
    # Redirect-after-POST, carrying the plain key once; a reload no longer shows it.
    request.session["new_api_key"] = {"name": key.name, "key": plain}
    return redirect("dashboard")


@login_required
@require_POST
def api_key_revoke(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    if services.api_key_revoke(user=request.user, key_id=key_id):
        messages.success(request, _("The key was revoked; requests using it are refused from now on."))
    else:
        messages.error(request, _("No such active key."))
    return redirect("dashboard")


@login_required
@require_POST
def webhook_secret_rotate(request: AuthenticatedHttpRequest) -> HttpResponse:
    services.webhook_secret_rotate(user=request.user)
    messages.success(request, _("A new webhook secret is in use; deliveries are signed with it from now on."))
    return redirect("dashboard")


@login_required
@require_POST
def browser_log_out(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    if services.browser_log_out(user=request.user, handle=handle):
        messages.success(request, _("That browser is logged out."))
    else:
        messages.error(request, _("That browser is not logged in any more."))
    return redirect(f"{reverse('dashboard')}#browsers")


@login_required
@require_POST
def browsers_log_out(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every browser but this one: a phone left somewhere, a shared computer."""
    count = services.browsers_log_out(user=request.user, but=request.session.session_key)
    messages.success(
        request,
        ngettext("%(count)s other browser is logged out.", "%(count)s other browsers are logged out.", count)
        % {"count": number_format(count, force_grouping=True)},
    )
    return redirect(f"{reverse('dashboard')}#browsers")
