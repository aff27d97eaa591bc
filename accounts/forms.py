"""The account forms. Django's own auth forms (log-in, sign-up, password change and reset) are subclassed so that
every word they show is this site's own gettext string, in its catalogs: Django's translations address the reader
as "usted" in Spanish ("introduzca", "Su contraseña…") where this site says "tú", and call the address "Courriel"
in French where the site says "e-mail". The password rules' help texts are ours too (accounts.password_validation).
"""

import logging
import unicodedata
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts import confirmation, folding, selectors
from accounts.models import ApiKey
from bgsite.names import breaks_a_name

logger = logging.getLogger(__name__)


def _email_field(**kwargs: Any) -> forms.EmailField:
    kwargs.setdefault("label", _("E-mail address"))
    return forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"invalid": _("Enter a valid e-mail address.")},
        **kwargs,
    )


class _FocusOnFirstError(forms.BaseForm):
    """A refused form opens with the keyboard on its first refused field, where its error is told, rather than on the
    field Django focuses on a fresh form (the username, which was fine): typing goes where it is needed, and a screen
    reader starts at the error."""

    def full_clean(self) -> None:
        super().full_clean()
        refused = [name for name in self.fields if name in self.errors]
        if refused:
            for field in self.fields.values():
                field.widget.attrs.pop("autofocus", None)
            self.fields[refused[0]].widget.attrs["autofocus"] = True


class _ConfirmationInOurWords(_FocusOnFirstError, auth_forms.SetPasswordMixin, forms.BaseForm):
    """The second password field's help text in this site's words (Django's is "usted" in Spanish), and the password
    rules' refusals ("This password is too short") on the first field, under the rules, where the password was
    chosen: Django puts them on the confirmation, which read as if the two did not match."""

    confirmation_field = "new_password2"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.confirmation_field].help_text = _("The same password again, to check it.")

    def validate_password_for_user(self, user: Any, password_field_name: str = "", **kwargs: Any) -> None:
        super().validate_password_for_user(user, password_field_name=self.confirmation_field[:-1] + "1", **kwargs)


class _UsernameAsTyped(forms.BaseForm):
    """The username stays as typed on a phone: iOS Safari corrects what is typed in a text field to its dictionary's
    words unless told not to, and Django's field turns off only the capital letter (autocapitalize); nor is the name
    underlined as misspelt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocorrect": "off", "spellcheck": "false"})


class LoginForm(_UsernameAsTyped, auth_forms.AuthenticationForm):
    """Django's log-in, its refusal in our words and tied to both fields: a screen reader on either field hears
    why the log-in failed (the refusal is about the pair, so Django shows it above the form, linked to neither)."""

    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "invalid_login": _("That username and password do not match an account. Both are case-sensitive."),
    }
    errors_id = "login-errors"

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field is None:  # a wrong pair, an inactive account, too many attempts (accounts.views)
            for name in ("username", "password"):
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": self.errors_id})


class SignupForm(_UsernameAsTyped, _ConfirmationInOurWords, auth_forms.UserCreationForm):
    """A username, an e-mail address (where a forgotten password's reset link goes, once a link mailed to it has
    confirmed it: accounts.confirmation) and a password. An address that an account holds without having confirmed
    it, past the link's validity, is free to take."""

    confirmation_field = "password2"
    email = _email_field(
        help_text=_("Only for resetting a forgotten password, once you have confirmed it by the link we mail to it.")
    )

    class Meta(auth_forms.UserCreationForm.Meta):
        fields = ("username", "email")
        help_texts = {"username": _("Up to 150 characters: letters, digits and @ . + - _")}
        error_messages = {"username": {"invalid": _("A username may hold only letters, digits and @ . + - _")}}

    def clean_username(self) -> str:
        username = super().clean_username()  # None (whatever its stub says) when the field was refused already
        if username and selectors.username_taken(username):  # Django's check misses "ÖMER" and "ömer" on SQLite
            raise forms.ValidationError(self.instance.unique_error_message(User, ["username"]))
        if username and len(_look_alike_alphabets(username)) > 1:
            raise forms.ValidationError(
                _("A username may not mix alphabets such as Latin and Cyrillic: it could pass for another one.")
            )
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if selectors.email_taken(email) and not confirmation.address_may_be_taken(email, proven=False):
            # Taken, unless the account that has it never confirmed it, and its link has expired. Not confirmed yet,
            # it is said so, and how its owner gets it: the address change's form tells as much to any account.
            if confirmation.address_may_be_taken(email, proven=True):
                raise forms.ValidationError(_UNCONFIRMED_ELSEWHERE, code="taken")
            raise _email_taken()
        return email

    def refuse_taken(self, field: str) -> None:
        """Say that `field` is taken, as its check says: another sign-up took it between the check and the save
        (accounts.services.AccountTaken)."""
        if field == "username":
            self.add_error(field, self.instance.unique_error_message(User, ["username"]))
        else:
            self.add_error(field, _email_taken())


# Alphabets with letters that look like each other's: "admin" with its "a" Cyrillic (U+0430) reads as "admin".
# A name in one of them is fine, and so are Japanese names, which mix kanji and kana.
LOOK_ALIKE_ALPHABETS = {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"}


def _look_alike_alphabets(text: str) -> set[str]:
    """Which of LOOK_ALIKE_ALPHABETS the letters of `text` come from (by their Unicode names' first word)."""
    alphabets = {unicodedata.name(character, "").split(" ")[0] for character in text if character.isalpha()}
    return alphabets & LOOK_ALIKE_ALPHABETS


def _address_of_no_account(email: str, *, but: User | None = None) -> str:
    """`email` if no account (other than `but`) has it: one account per address, or a reset mail would open
    several."""
    if selectors.email_taken(email, but=but):
        raise _email_taken()
    return email


_UNCONFIRMED_ELSEWHERE = _(
    "An account signed up with this e-mail address has not confirmed it yet. If that account is yours, log in and "
    "open the link we mailed to the address (your account page sends it again). If not, sign up with another "
    "address, then change to this one on your account page: the link we mail to it proves the address yours, and "
    "takes it from the other account."
)


def _email_taken() -> forms.ValidationError:
    return forms.ValidationError(_("An account with this e-mail address exists already."), code="taken")


class AdminUserChangeForm(auth_forms.UserChangeForm):
    """The admin's form for an account: its address refused, as sign-up refuses it, when another account has it (the
    database would refuse it too, with an error page)."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        return _address_of_no_account(email, but=self.instance) if email else email


class AdminPasswordChangeForm(auth_forms.AdminPasswordChangeForm):
    """The admin's form for setting a user's password. Django's joins the help of its password-based authentication
    field to an unmarked warning when it is imported, so that it read in English whatever the reader's language."""

    usable_password_help_text = format_lazy(  # type: ignore[assignment]  # lazy: put in words when a form is made
        '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
        auth_forms.SetUnusablePasswordMixin.usable_password_help_text,
        _("If disabled, the current password for this user will be lost."),
    )


class PasswordChangeForm(_ConfirmationInOurWords, auth_forms.PasswordChangeForm):
    error_messages = {
        **auth_forms.PasswordChangeForm.error_messages,
        "password_incorrect": _("That is not your password."),
    }


class SetPasswordForm(_ConfirmationInOurWords, auth_forms.SetPasswordForm):
    """A new password from a reset link."""


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, its mails made as Django makes them (in the request's language) but sent by send_unsent,
    once the reply has gone (accounts.password_views.ThrottledPasswordResetView): sent before it, the reply to an
    address with an account came a mail server's round trip later than to one without (0.25 s to a local server that
    refused it, seconds to a distant one), which told them apart."""

    email = _email_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unsent: list[tuple[EmailMessage, int]] = []  # each mail, with its account's id

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,  # none here: the mail is text
    ) -> None:
        subject = " ".join(render_to_string(subject_template_name, context).split())
        body = render_to_string(email_template_name, context)
        self.unsent.append((EmailMessage(subject, body, from_email, [to_email]), context["user"].pk))

    def send_unsent(self) -> None:
        """Send the mails save() made; one that fails is logged with its account's id (not its address), as Django
        logs it, and the page has said the same as for an address without an account."""
        for message, account in self.unsent:
            try:
                message.send()
            except Exception:  # smtplib's errors, a header the backend refuses: whatever Django's own send catches
                logger.exception("Failed to send password reset email to %s", account)
        self.unsent.clear()

    def get_users(self, email: str) -> Iterator[User]:
        """The active accounts with a password that have the address, as sign-up compares addresses (Django's own
        look-up, `iexact`, misses "x@ÉXAMPLE.com" for "x@éxample.com" on SQLite, which folds ASCII letters only), and
        have confirmed it: a stranger's address, mistyped or given on purpose at sign-up, opens no account."""
        for user in selectors.accounts_with_email(email):
            if user.is_active and user.has_usable_password() and not selectors.address_unconfirmed(user):
                yield user


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text=_("What the key is for, e.g. 'shop import script'."),
    )

    def clean_name(self) -> str:
        """The name, refused with a control character in it (a tab, a line break, a bell), as a batch's name is
        (removal.web.inputs.batch_name): the dashboard showed it as a name that was not the one typed."""
        name = str(self.cleaned_data["name"])
        if breaks_a_name(name):
            raise forms.ValidationError(
                _("A key's name cannot hold a line break, a tab or another control character."),
                code="control_character",
            )
        return name


class _PasswordConfirmed(_FocusOnFirstError, forms.Form):
    """A form that takes the account's password, so an unattended browser cannot use it."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        # A password manager fills it, as on the log-in page.
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user: User, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password


class EmailChangeForm(_PasswordConfirmed):
    """A new e-mail address, which a link sent to it confirms (accounts.email_changes.email_change_token)."""

    email = _email_field(label=_("New e-mail address"))
    field_order = ("email", "password")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if folding.email_folded(email) == folding.email_folded(self.user.email):
            raise forms.ValidationError(_("That is your address already."))
        if selectors.email_taken(email, but=self.user) and not confirmation.address_may_be_taken(email, proven=True):
            raise _email_taken()  # unless the account that has it never confirmed it: the link will prove it theirs
        return email


class AccountDeleteForm(_PasswordConfirmed):
    """Deleting an account takes its password."""
