"""The account forms (accounts/forms.py, accounts/password_validation.py): every word the log-in, sign-up and password
pages show is the site's own, so the Spanish pages say "tú" throughout (Django's own translations say "usted"), and a
refused log-in is tied to its fields for screen readers."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail

from accounts import forms

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
# Django's Spanish addresses the reader as "usted"; the site says "tú".
USTED = re.compile(r"introduzca|introduza|\bsu contraseña|\bobserve\b|vuelva a|por favor", re.I)


def shown_text(reply: Any) -> str:
    main = re.search(r"<main.*?</main>", reply.content.decode(), re.S)
    assert main is not None
    return re.sub(r"<[^>]+>", " ", main.group(0))


def account_pages_with_errors(client: Any) -> dict[str, str]:
    """Each account form's page, as refused input shows it: its labels, help texts and errors."""
    pages = {
        "login": client.post("/accounts/login/", {"username": "alice", "password": "wrong"}),
        "signup": client.post(
            "/accounts/signup/", {"username": "a b", "email": "x", "password1": "1234", "password2": "123"}
        ),
        "reset": client.post("/accounts/password/reset/", {"email": "not an address"}),
    }
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = re.search(r"http://\S+/reset/\S+/", mail.outbox[-1].body)
    assert link is not None
    set_password = client.get(link.group(0), follow=True).redirect_chain[-1][0]
    pages["reset-confirm"] = client.post(set_password, {"new_password1": "123", "new_password2": "1234"})
    client.login(username="alice", password=PASSWORD)
    pages["change"] = client.post(
        "/accounts/password/", {"old_password": "wrong", "new_password1": "123", "new_password2": "1234"}
    )
    return {name: shown_text(reply) for name, reply in pages.items()}


def test_the_spanish_account_pages_say_tu_as_the_rest_of_the_site(client: Any, user: Any) -> None:
    client.cookies["django_language"] = "es"
    pages = account_pages_with_errors(client)
    for name, text in pages.items():
        assert not USTED.search(text), (name, USTED.search(text))
    assert "Ese nombre de usuario y esa contraseña no corresponden a ninguna cuenta." in pages["login"]
    assert "Un nombre de usuario solo puede tener letras" in pages["signup"]
    assert "Escribe una dirección de correo electrónico válida." in pages["signup"]
    assert "Escribe una dirección de correo electrónico válida." in pages["reset"]
    assert "Esa no es tu contraseña." in pages["change"]
    for name in ("signup", "reset-confirm", "change"):
        assert "Al menos 8 caracteres." in pages[name]
        assert "La misma contraseña otra vez, para comprobarla." in pages[name]


def test_the_french_account_pages_say_e_mail_as_the_rest_of_the_site(client: Any, user: Any) -> None:
    client.cookies["django_language"] = "fr"
    pages = account_pages_with_errors(client)
    for name, text in pages.items():
        assert "ourriel" not in text, name  # Django's "Courriel"; the site says "e-mail"
    assert "Adresse e-mail\u00a0:" in pages["reset"]
    assert "Saisissez une adresse e-mail valide." in pages["signup"]
    assert "Au moins 8 caractères." in pages["change"]


def test_the_password_rules_follow_the_validators_settings(client: Any, settings: Any) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "accounts.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 1}},
    ]
    page = client.get("/accounts/signup/").content.decode()
    assert "At least 1 character." in page
    assert "Not digits only." not in page


def test_a_refused_log_in_is_tied_to_both_fields(client: Any, user: Any, settings: Any) -> None:
    """The refusal is about the pair, so it stands above the form; each field names it as its description."""
    settings.LOGIN_RATE_LIMIT = "1/h"
    wrong = client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).content.decode()
    throttled = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert throttled.status_code == 429
    for page in (wrong, throttled.content.decode()):
        assert re.search(r'<div id="login-errors" role="alert"><ul class="errorlist nonfield"><li>', page)
        for name in ("username", "password"):
            field = re.search(rf'<input [^>]*name="{name}"[^>]*>', page)
            assert field is not None
            assert 'aria-invalid="true"' in field.group(0)
            assert 'aria-describedby="login-errors"' in field.group(0)
    fresh = client.get("/accounts/login/").content.decode()
    assert "aria-invalid" not in fresh and "login-errors" not in fresh


def test_a_refused_new_password_is_told_under_the_field_it_was_typed_in(user: Any) -> None:
    """The rules' refusals stand on the first password field, under the rules; the confirmation keeps only a
    mismatch (Django puts both on the confirmation, where "too short" read as if the two did not match)."""
    from accounts.forms import PasswordChangeForm, SetPasswordForm, SignupForm

    short = {"password1": "abc", "password2": "abc", "new_password1": "abc", "new_password2": "abc"}
    forms = {
        "password1": SignupForm(data={"username": "bob", "email": "bob@example.com", **short}),
        "new_password1": PasswordChangeForm(user, data={"old_password": PASSWORD, **short}),
    }
    forms["new_password1 (reset)"] = SetPasswordForm(user, data=short)
    for field, form in forms.items():
        field = field.split(" ")[0]
        assert not form.is_valid()
        assert "too short" in " ".join(form.errors.get(field, [])), (field, form.errors)
        assert field.replace("1", "2") not in form.errors, form.errors
    mismatch = SignupForm(
        data={"username": "bob", "email": "bob@example.com", "password1": "long enough 1", "password2": "other 2"}
    )
    assert list(mismatch.errors) == ["password2"]


@pytest.mark.parametrize("path", ["/accounts/email/", "/accounts/delete/"])
def test_the_pages_asking_for_the_password_let_a_password_manager_fill_it(client: Any, user: Any, path: str) -> None:
    client.force_login(user)
    field = re.search(r'<input [^>]*name="password"[^>]*>', client.get(path).content.decode())
    assert field is not None and 'autocomplete="current-password"' in field.group(0)


def test_a_refused_form_opens_with_the_keyboard_on_its_first_refused_field(client: Any, user: Any) -> None:
    def focused(page: str) -> list[str]:
        return re.findall(r'<input [^>]*name="(\w+)"[^>]*autofocus|<input [^>]*autofocus[^>]*name="(\w+)"', page)

    fresh = client.get("/accounts/signup/").content.decode()
    assert [name for pair in focused(fresh) for name in pair if name] == ["username"]
    refused = client.post(
        "/accounts/signup/", {"username": "bob", "email": "bob@example.com", "password1": "abc", "password2": "abc"}
    ).content.decode()
    assert [name for pair in focused(refused) for name in pair if name] == ["password1"]
    client.force_login(user)
    wrong = client.post("/accounts/email/", {"email": "new@example.com", "password": "wrong"}).content.decode()
    assert [name for pair in focused(wrong) for name in pair if name] == ["password"]


def test_a_password_reset_finds_the_account_whatever_the_case_of_its_address() -> None:
    """Django's look-up (iexact) folds ASCII letters only on SQLite: "X@ÉXAMPLE.COM" missed "x@éxample.com", whose
    owner then got no mail; an account without a usable password or inactive gets none, as with Django's."""
    user = User.objects.create_user("accented", "x@\u00e9xample.com", "correct horse battery")
    User.objects.create_user("idle", "x@\u00e9xample.org", "correct horse battery", is_active=False)
    assert list(forms.PasswordResetForm().get_users("X@\u00c9XAMPLE.COM")) == [user]
    assert list(forms.PasswordResetForm().get_users("X@xn--xample-9ua.com")) == [user]
    assert not list(forms.PasswordResetForm().get_users("x@\u00e9xample.org"))
