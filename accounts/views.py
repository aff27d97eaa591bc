"""Sign-up and the confirmation of its address, a change of e-mail address, account deletion and the account page's
forms (API keys, webhook secret, the browsers logged in). Log in/out, password change and password reset by e-mail are
Django's own views with our forms, throttles and notices, in accounts/password_views.py; both wired in
accounts/urls.py. The page itself, which also shows removal's usage, is removal.web.views.dashboard (accounts never
imports removal)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_ratelimit.core import is_ratelimited

from accounts import confirmation, deletion, email_changes, folding, mails, selectors, services
from accounts.auth import AuthenticatedHttpRequest
from accounts.forms import (
    AccountDeleteForm,
    ApiKeyCreateForm,
    EmailChangeForm,
    SignupForm,
)
from accounts.password_views import RedirectThenMail, password_guesses_refused
from bgsite.allowed_methods import FORM_PAGE_METHODS, methods_allowed

ACCOUNT_DELETE, EMAIL_CHANGE = "accounts/account_delete.html", "registration/email_change_form.html"

# The pages that show a form and take it back; another method is a 405 (bgsite.allowed_methods), not the page.
form_page = methods_allowed(*FORM_PAGE_METHODS)


@form_page
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
        messages.info(
            request, _("We sent a link to %(email)s. Open it to confirm your address.") % {"email": user.email}
        )
        link = confirmation.confirmation_notice(
            user=user, absolute_url=request.build_absolute_uri, host=request.get_host()
        )
        return RedirectThenMail(reverse("home"), send=link)
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


def _signup_refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "registration/signup_refused.html", {"reason": reason}, status=403)


@form_page
@login_required
def account_delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    """End the account at once, once its password is given (its data goes in a job: accounts.deletion), and tell its
    address (once the reply has gone): deleted by someone else who had the password (a session left open), its owner
    learns it."""
    if request.method == "POST" and (refused := password_guesses_refused(request, AccountDeleteForm, ACCOUNT_DELETE)):
        return refused
    form = AccountDeleteForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        notice = mails.account_deleted_notice(user=request.user, host=request.get_host())  # made while it exists
        deletion.account_delete(user=request.user)
        logout(request)
        messages.success(
            request,
            _(
                "Your account was deleted: it can no longer log in, and its username and e-mail address are free. "
                "Its images and files are being removed now."
            ),
        )
        return RedirectThenMail(reverse("home"), send=notice)
    return render(request, ACCOUNT_DELETE, {"form": form})


@form_page
@login_required
def email_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new address, once the password is given: a link sent to it makes it the account's (email_change_confirm).
    Each mail counts against PASSWORD_RESET_RATE_LIMIT for the account and for the address it goes to, as each reset
    mail does for its address: per account alone, ten accounts (an hour's sign-ups from one client) sent one
    stranger fifty mails an hour."""
    if request.method == "POST" and (refused := password_guesses_refused(request, EmailChangeForm, EMAIL_CHANGE)):
        return refused
    form = EmailChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _address_links_too_many(request, form.cleaned_data["email"]):
            form.add_error(None, _("Too many address changes asked for. Wait a while, then try again."))
            return render(request, EMAIL_CHANGE, {"form": form}, status=429)
        new_email = form.cleaned_data["email"]
        try:
            email_changes.email_change_request(
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


def _address_links_too_many(request: AuthenticatedHttpRequest, address: str) -> bool:
    """Whether a link mailed to `address` (an address change's, the sign-up's again) is one too many: counted, on one
    count for both, against PASSWORD_RESET_RATE_LIMIT for the account and for the address, folded as accounts compare
    addresses (accounts.folding)."""
    recipient = "to:" + folding.email_folded(address)
    return any(
        is_ratelimited(request, group="email-change", key=key, rate=settings.PASSWORD_RESET_RATE_LIMIT, increment=True)
        for key in ("user", lambda group, request: recipient)
    )


@form_page
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the new address: a page that asks to confirm (mail scanners open links), then the change, and a
    notice to the address it replaces; opened again while the address is the account's, it says so again."""
    try:
        if request.method != "POST":
            user, new_email = email_changes.email_change_pending(token=token)
            return render(request, "registration/email_change_confirm.html", {"account": user, "email": new_email})
        user, notice = email_changes.email_change_confirm(token=token, host=request.get_host())  # checks the link again
    except email_changes.EmailChangedAlready as done:  # opened again: said as the first time, not "does not work"
        user, notice = done.user, mails.no_notice
    except email_changes.EmailChangeRefused:
        return render(request, "registration/email_change_confirm.html", {"refused": True}, status=400)
    except email_changes.EmailTaken:
        messages.error(request, _("An account with this e-mail address exists already."))
        return redirect("dashboard")
    changed = {"email": user.email, "username": user.get_username()}
    if request.user.pk == user.pk:
        messages.success(request, _("Your e-mail address is now %(email)s.") % changed)
    else:  # the log-in page says it (a phone, often), or the page of another account this browser is logged in to
        messages.success(request, _("%(email)s is now the e-mail address of the account %(username)s.") % changed)
    return RedirectThenMail(reverse("dashboard"), send=notice)


@login_required
@methods_allowed("POST")
def address_confirmation_send(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The sign-up's confirmation link again, from the account page: on the count of the address changes' mails,
    for the account and for the address (PASSWORD_RESET_RATE_LIMIT)."""
    if not request.user.email:  # taken by its owner while the page was open (accounts.confirmation), or removed
        messages.error(request, _("Your account has no e-mail address. Add one to be able to reset a lost password."))
        return redirect("dashboard")
    if not selectors.address_unconfirmed(request.user):
        messages.info(request, _("Your e-mail address is confirmed already."))
        return redirect("dashboard")
    if _address_links_too_many(request, request.user.email):
        messages.error(request, _("Too many links asked for. Wait a while, then try again."))
        return redirect("dashboard")
    try:
        confirmation.confirmation_resend(
            user=request.user, absolute_url=request.build_absolute_uri, host=request.get_host()
        )
    except mails.AddressRefused:
        messages.error(request, _("The mail server refused this address. Check it, or give another one."))
    except OSError:
        messages.error(request, _("The mail could not be sent just now. Try again in a while."))
    else:
        email = {"email": request.user.email}
        messages.success(request, _("We sent a link to %(email)s. Open it to confirm your address.") % email)
    return redirect("dashboard")


@form_page
def address_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed after sign-up: a page that asks to confirm (a mail scanner that opens it confirms nothing, so
    an address given by someone else is not confirmed by its owner's scanner), then a redirect to the account page,
    which says it is done (the log-in page says it, to a browser not logged in: a phone, often), as it says again to
    the link opened again. Answered directly, a reload of the page posted the used link again and said it did not
    work."""
    template = "registration/address_confirm.html"
    try:
        if request.method != "POST":
            user, email = confirmation.confirmation_pending(token=token)
            return render(request, template, {"account": user, "email": email})
        user = confirmation.address_confirm(token=token)
    except confirmation.AddressConfirmedAlready as done:  # opened again: said as the first time, not "does not work"
        user = done.user
    except confirmation.ConfirmationRefused:
        return render(request, template, {"refused": True}, status=400)
    confirmed = {"email": user.email, "username": user.get_username()}  # named: the browser may be another account's
    messages.success(
        request,
        _(
            "%(email)s is confirmed as the e-mail address of the account %(username)s: the link to reset a forgotten "
            "password can be sent to it."
        )
        % confirmed,
    )
    return redirect("dashboard")


@login_required
@methods_allowed("POST")
def api_key_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        if form.has_error("name", code="control_character"):
            messages.error(request, str(form.errors["name"][0]))
        else:
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
@methods_allowed("POST")
def api_key_revoke(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    if services.api_key_revoke(user=request.user, key_id=key_id):
        messages.success(request, _("The key was revoked; requests using it are refused from now on."))
    else:
        messages.error(request, _("No such active key."))
    return redirect("dashboard")


@login_required
@methods_allowed("POST")
def webhook_secret_rotate(request: AuthenticatedHttpRequest) -> HttpResponse:
    services.webhook_secret_rotate(user=request.user)
    messages.success(request, _("A new webhook secret is in use; deliveries are signed with it from now on."))
    return redirect("dashboard")


@login_required
@methods_allowed("POST")
def browser_log_out(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    if services.browser_log_out(user=request.user, handle=handle):
        messages.success(request, _("That browser is logged out."))
    else:
        messages.error(request, _("That browser is not logged in any more."))
    return redirect(f"{reverse('dashboard')}#browsers")


@login_required
@methods_allowed("POST")
def browsers_log_out(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every browser but this one: a phone left somewhere, a shared computer."""
    count = services.browsers_log_out(user=request.user, but=request.session.session_key)
    messages.success(
        request,
        ngettext("%(count)s other browser is logged out.", "%(count)s other browsers are logged out.", count)
        % {"count": number_format(count, force_grouping=True)},
    )
    return redirect(f"{reverse('dashboard')}#browsers")
