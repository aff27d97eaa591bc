"""accounts.admin: a password or an address an admin sets is told to the account, as the site's own change is."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts import folding
from accounts.models import BrowserSession, UnconfirmedAddress

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a new phrase the admin chose"


@pytest.fixture
def admin_client(user: Any) -> Client:
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.login(username="root", password=PASSWORD)
    return client


def user_form(user: Any, **changes: str) -> dict[str, str]:
    form = {"username": user.username, "email": user.email, "date_joined_0": "2026-01-01", "date_joined_1": "00:00"}
    return {**form, **changes}


@pytest.mark.django_db
def test_a_password_set_in_the_admin_is_told_in_the_sites_language(
    admin_client: Client, user: Any, mailoutbox: list[Any]
) -> None:
    """Not in the admin's own language (German here): no account stores one; and the user's browsers log out."""
    owner = Client()
    owner.login(username="alice", password=PASSWORD)
    changed = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    reply = admin_client.post(f"/admin/auth/user/{user.pk}/password/", changed, HTTP_ACCEPT_LANGUAGE="de")
    assert reply.status_code == 302
    (notice,) = mailoutbox
    assert notice.to == ["alice@example.com"] and notice.subject == "Your bgsite password on testserver was changed"
    assert "http://testserver/accounts/password/reset/" in notice.body
    assert not BrowserSession.objects.filter(user=user).exists()
    assert owner.get("/accounts/").status_code == 302  # logged out
    assert admin_client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_the_admin_changing_its_own_password_stays_logged_in(admin_client: Client, mailoutbox: list[Any]) -> None:
    root = User.objects.get(username="root")
    changed = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    assert admin_client.post(f"/admin/auth/user/{root.pk}/password/", changed).status_code == 302
    assert [mail.to for mail in mailoutbox] == [["root@example.com"]]
    assert admin_client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_refused_or_disabled_password_is_not_told(admin_client: Client, user: Any, mailoutbox: list[Any]) -> None:
    """A password the form refused changed nothing; one disabled cannot be reset from the notice's link (the
    account's browsers log out all the same)."""
    Client().login(username="alice", password=PASSWORD)
    mismatched = {"password1": NEW_PASSWORD, "password2": "another", "usable_password": "true"}
    assert admin_client.post(f"/admin/auth/user/{user.pk}/password/", mismatched).status_code == 200
    assert BrowserSession.objects.filter(user=user).exists()
    disabled = {"usable_password": "false", "unset-password": "1"}
    assert admin_client.post(f"/admin/auth/user/{user.pk}/password/", disabled).status_code == 302
    user.refresh_from_db()
    assert not user.has_usable_password() and mailoutbox == []
    assert not BrowserSession.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_an_address_changed_in_the_admin_is_told_to_the_one_it_replaces(
    admin_client: Client, user: Any, mailoutbox: list[Any]
) -> None:
    page = f"/admin/auth/user/{user.pk}/change/"
    assert admin_client.post(page, user_form(user, first_name="Alice")).status_code == 302
    assert mailoutbox == []  # the address unchanged
    assert (
        admin_client.post(page, user_form(user, email="alice@example.org"), HTTP_ACCEPT_LANGUAGE="fr").status_code
        == 302
    )
    (notice,) = mailoutbox
    assert (
        notice.to == ["alice@example.com"] and notice.subject == "Your bgsite e-mail address on testserver was changed"
    )
    assert "is now alice@example.org" in notice.body


@pytest.mark.django_db
def test_an_unconfirmed_address_changed_in_the_admin_is_not_told(
    admin_client: Client, user: Any, mailoutbox: list[Any]
) -> None:
    """Given at sign-up and never confirmed, the address may be a stranger's: it learns nothing of the account."""
    UnconfirmedAddress.objects.create(user=user, email_key=folding.email_key(user.email), since=timezone.now())
    page = f"/admin/auth/user/{user.pk}/change/"
    assert admin_client.post(page, user_form(user, email="alice@example.org")).status_code == 302
    assert User.objects.get(pk=user.pk).email == "alice@example.org"
    assert mailoutbox == []
