"""accounts.admin: a password or an address an admin sets is told to the account, as the site's own change is; an
account's address is shown confirmed or not, and support may confirm it."""

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import confirmation, folding
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


def signed_up(username: str, email: str = "") -> Any:
    """An account as sign-up leaves it: its address unconfirmed until its link is followed."""
    account = User.objects.create(username=username, email=email or f"{username}@example.com")
    confirmation.unconfirmed_mark(user=account)
    return account


def listed(admin_client: Client, query: str = "") -> dict[str, str]:
    """The account list's usernames, each with its "address confirmed" column (Django's icon's alt text)."""
    page = admin_client.get(f"/admin/auth/user/{query}")
    assert page.status_code == 200
    rows = re.findall(r"<tr>.*?</tr>", page.content.decode(), re.S)
    found = {}
    for row in rows:
        name = re.search(r'class="field-username"><a [^>]*>([^<]+)</a>', row)
        state = re.search(r'class="field-address_confirmed"><img [^>]*alt="(\w+)"', row)
        if name and state:
            found[name.group(1)] = state.group(1)
    return found


@pytest.mark.django_db
class TestWhetherTheAddressIsConfirmed:
    def test_is_a_column_of_the_list_and_a_filter(self, admin_client: Client, user: Any) -> None:
        signed_up("carol")
        User.objects.create(username="noaddress", email="")
        assert listed(admin_client) == {"alice": "True", "carol": "False", "noaddress": "None", "root": "True"}
        assert listed(admin_client, "?address_confirmed=no") == {"carol": "False"}
        assert listed(admin_client, "?address_confirmed=yes") == {"alice": "True", "root": "True"}

    def test_an_address_set_in_the_admin_after_sign_up_is_confirmed(self, admin_client: Client) -> None:
        """The mark names the address given at sign-up: another one, set otherwise, is confirmed (as the reset form
        reads it, accounts.selectors.address_unconfirmed)."""
        carol = signed_up("carol")
        User.objects.filter(pk=carol.pk).update(email="carol@example.org")
        carol.refresh_from_db()
        carol.save()  # writes its folded names, as the admin's form does
        assert listed(admin_client)["carol"] == "True"

    def test_the_list_reads_it_in_the_same_query_whatever_the_number_of_accounts(self, admin_client: Client) -> None:
        signed_up("carol")
        with CaptureQueriesContext(connection) as one:
            assert len(listed(admin_client)) == 3  # and alice, and root
        for number in range(49):
            signed_up(f"user{number}")
        with CaptureQueriesContext(connection) as fifty:
            assert len(listed(admin_client)) == 52
        assert len(fifty.captured_queries) == len(one.captured_queries)

    def test_is_shown_on_the_change_page(self, admin_client: Client) -> None:
        carol = signed_up("carol")
        page = admin_client.get(f"/admin/auth/user/{carol.pk}/change/").content.decode()
        shown = re.search(r"Address confirmed.*?<img [^>]*alt=\"(\w+)\"", page, re.S)
        assert shown is not None and shown.group(1) == "False"

    def test_support_may_confirm_it_and_the_account_history_says_so(
        self, admin_client: Client, user: Any, mailoutbox: list[Any]
    ) -> None:
        carol, dave = signed_up("carol"), signed_up("dave")
        action = {"action": "address_confirm", "_selected_action": [carol.pk, user.pk]}
        reply = admin_client.post("/admin/auth/user/", action, follow=True)
        assert "1 address marked as confirmed." in reply.content.decode()
        assert listed(admin_client) == {"alice": "True", "carol": "True", "dave": "False", "root": "True"}
        (entry,) = LogEntry.objects.all()
        assert (entry.object_id, entry.get_change_message()) == (str(carol.pk), "Changed address confirmed.")
        Client().post("/accounts/password/reset/", {"email": "carol@example.com"})  # mailed now
        assert [mail.to for mail in mailoutbox] == [["carol@example.com"]]
        assert dave.email and UnconfirmedAddress.objects.filter(user=dave).exists()


@pytest.mark.django_db
def test_an_accounts_deletion_page_names_its_sessions_without_their_keys(admin_client: Client, user: Any) -> None:
    """The page listing what deleting an account deletes named its sessions by their keys (AbstractBaseSession's
    __str__): the cookies that log in as the account, shown to every staff member who opened it."""
    owner = Client()
    owner.login(username=user.username, password=PASSWORD)
    key = owner.session.session_key
    assert BrowserSession.objects.filter(session_key=key, user=user).exists()

    page = admin_client.get(f"/admin/auth/user/{user.pk}/delete/").content.decode()

    assert key not in page and BrowserSession.objects.get(session_key=key).handle in page


@pytest.mark.django_db
def test_a_group_added_in_the_admin_has_the_permissions_picked(admin_client: Client) -> None:
    """The picker names each permission in the reader's language (accounts.auth_names); what it posts is unchanged."""
    picked = Permission.objects.filter(codename__in=("view_batch", "change_item"))

    page = admin_client.get("/admin/auth/group/add/").content.decode()
    admin_client.post("/admin/auth/group/add/", {"name": "retouchers", "permissions": [p.pk for p in picked]})

    assert "Background removal | item | Can change item</option>" in page
    assert set(Group.objects.get(name="retouchers").permissions.all()) == set(picked)


@pytest.mark.django_db
def test_deleting_a_user_lists_its_memberships_and_permissions_by_what_they_link(
    admin_client: Client, user: Any
) -> None:
    """Django listed them by its link tables' names: "User-group relationship: User_groups object (1)"."""
    user.groups.add(Group.objects.create(name="retouchers"))
    user.user_permissions.add(Permission.objects.get(codename="add_storedimage"))

    page = admin_client.get(f"/admin/auth/user/{user.pk}/delete/").content.decode()
    admin_client.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})

    assert f"<li>Group membership: {user.username} in retouchers</li>" in page
    assert "<li>Permission of a user: Background removal | stored image | Can add stored image</li>" in page
    assert "<li>Group memberships: 1</li>" in page and "relationship" not in page
    assert not User.objects.filter(pk=user.pk).exists() and Group.objects.filter(name="retouchers").exists()


@pytest.mark.django_db
def test_the_admins_log_in_is_throttled_as_the_sites_is(client: Client, settings: Any) -> None:
    """/admin/login/ is Django's own log-in: it took any number of password guesses, for a staff account or any
    other, where /accounts/login/ refuses past LOGIN_RATE_LIMIT per client address and per username."""
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    settings.LOGIN_RATE_LIMIT = "3/h"
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    for _ in range(3):
        assert client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"}).status_code == 200
    refused = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert refused.status_code == 429 and "Too many log-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    settings.LOGIN_RATE_LIMIT = "100/h"  # a new count: the right password lets the staff member in
    welcome = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert (welcome.status_code, welcome["Location"]) == (302, "/admin/")
    assert client.get("/admin/login/").status_code == 302  # signed in: on to the index, as Django's admin does
