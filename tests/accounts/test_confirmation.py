"""The address given at sign-up is confirmed by a link mailed to it (accounts.confirmation): until then no password
reset is mailed to it, and past the link's validity its owner may take it from the account that never confirmed it."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts import confirmation, folding, views
from accounts.models import FoldedNames, LostAddress, UnconfirmedAddress
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sign_up(client: Client, username: str, email: str, **headers: str) -> Any:
    data = {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", data, headers=headers)


def link_in(message: Any) -> str:
    match = re.search(r"http://testserver(/accounts/email/verify/[^/\s]+/)", message.body)
    assert match is not None, message.body
    return match.group(1)


def reset_asked(email: str) -> Any:
    return Client().post("/accounts/password/reset/", {"email": email})


def unconfirmed_since(username: str, days: float) -> None:
    """Make the sign-up of `username` `days` old, as far as its address is concerned."""
    UnconfirmedAddress.objects.filter(user__username=username).update(since=timezone.now() - timedelta(days=days))


def test_the_address_given_at_sign_up_is_confirmed_by_the_link_mailed_to_it(
    client: Client, mailoutbox: list[Any]
) -> None:
    reply = sign_up(client, "carol", "carol@example.com")
    assert reply.status_code == 302 and reply["Location"] == "/"
    (message,) = mailoutbox
    assert message.to == ["carol@example.com"] and "Confirm your e-mail address" in message.subject
    assert "The link works once, for 3\xa0days." in message.body
    page = client.get("/accounts/")  # the account works at once, and says its address waits, and what it risks
    assert page.status_code == 200 and 'id="address-unconfirmed"' in page.content.decode()
    assert "Until then, whoever owns this address can take it from your account" in page.content.decode()

    link = link_in(message)
    asked = Client().get(link)  # a phone's browser, not logged in; a mail scanner's GET confirms nothing
    assert asked.status_code == 200 and "carol@example.com" in asked.content.decode()
    assert 'id="address-unconfirmed"' in client.get("/accounts/").content.decode()

    phone = Client()
    confirmed = phone.post(link)  # then a page of its own: a reload there posts nothing again
    assert confirmed.status_code == 302 and confirmed["Location"] == "/accounts/"
    done = phone.get("/accounts/", follow=True)  # not logged in: the log-in page says it
    assert done.redirect_chain[-1][0].startswith("/accounts/login/")
    said = "carol@example.com is confirmed as the e-mail address of the account carol"
    assert said in done.content.decode()
    assert 'id="address-unconfirmed"' not in client.get("/accounts/").content.decode()
    again = Client().post(link, follow=True)  # works once: opened again, it asks no more, and says it is done
    assert said in again.content.decode() and not UnconfirmedAddress.objects.exists()


def test_the_browser_logged_in_to_the_account_is_told_on_the_account_page(
    client: Client, mailoutbox: list[Any]
) -> None:
    """Post/redirect/get: a reload of the page that says so neither posts the used link again (which said "this link
    does not work any more", 400) nor asks the browser to send a form again."""
    sign_up(client, "carol", "carol@example.com")
    link = link_in(mailoutbox.pop())
    confirmed = client.post(link)
    assert confirmed.status_code == 302 and confirmed["Location"] == "/accounts/"
    page = client.get(confirmed["Location"])
    assert page.status_code == 200 and "is confirmed as the e-mail address of the account" in page.content.decode()
    assert 'id="address-unconfirmed"' not in page.content.decode()
    reloaded = client.get(confirmed["Location"])
    assert reloaded.status_code == 200 and "is confirmed as" not in reloaded.content.decode()


def test_a_link_opened_again_says_the_address_is_confirmed(client: Client, mailoutbox: list[Any]) -> None:
    """On a second device, or back on its page: "this link does not work any more" (400), with "ask for a new link",
    sent its reader to ask for a link the account page no longer offers."""
    sign_up(client, "carol", "carol@example.com")
    link = link_in(mailoutbox.pop())
    client.post(link)
    client.get("/accounts/")
    for again in (client.get(link), client.post(link), Client().get(link)):
        assert again.status_code == 302 and again["Location"] == "/accounts/"
    page = client.get("/accounts/").content.decode()
    assert "carol@example.com is confirmed as the e-mail address of the account carol" in page
    client.post("/accounts/delete/", {"password": PASSWORD})
    assert Client().get(link).status_code == 400  # the account gone, the link works no more


def test_the_link_is_mailed_once_the_reply_has_gone(rf: RequestFactory, mailoutbox: list[Any]) -> None:
    """As the notices are (accounts.password_views.RedirectThenMail): a slow mail server does not hold the page."""
    data = {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD}
    request = rf.post("/accounts/signup/", data)
    SessionMiddleware(lambda request: HttpResponse()).process_request(request)
    request._messages = default_storage(request)  # type: ignore[attr-defined]
    request.user = AnonymousUser()
    reply = views.signup(request)
    assert reply.status_code == 302 and mailoutbox == []
    reply.close()  # what the server does once the reply's last byte is sent
    assert [mail.to for mail in mailoutbox] == [["carol@example.com"]]


def test_the_link_is_mailed_in_the_language_of_the_sign_up(client: Client, mailoutbox: list[Any]) -> None:
    sign_up(client, "carol", "carol@example.com", **{"Accept-Language": "fr"})
    assert mailoutbox[0].subject == "Confirmez votre adresse e-mail pour bgsite sur testserver"


def test_a_sign_up_whose_link_cannot_be_mailed_makes_the_account_still(
    client: Client, settings: Any, caplog: Any
) -> None:
    """The link is mailed once the reply has gone, as the notices are: a mail server out of reach neither holds the
    page nor refuses the account, whose page offers to send the link again."""
    options = {"host": "127.0.0.1", "port": free_port(), "timeout": 2}  # nothing listens there
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    reply = sign_up(client, "carol", "carol@example.com")
    assert reply.status_code == 302 and User.objects.filter(username="carol").exists()
    (why,) = [record for record in caplog.records if record.name == "accounts.mails"]
    assert why.levelname == "WARNING" and "the address_confirm mail could not be sent" in why.getMessage()
    again = client.post("/accounts/email/verify/", follow=True)  # asked for on the page, which says it failed
    assert "The mail could not be sent just now." in again.content.decode()


def test_no_password_reset_is_mailed_to_an_address_until_it_is_confirmed(client: Client, mailoutbox: list[Any]) -> None:
    """A mistyped address's owner, or the owner of an address someone else gave, cannot take the account over by a
    reset; the reset page says the same as for an address without an account."""
    sign_up(client, "carol", "carol@example.com")
    confirmation_mail = mailoutbox.pop()
    refused, unknown = reset_asked("carol@example.com"), reset_asked("nobody@example.com")
    assert (refused.status_code, refused["Location"]) == (unknown.status_code, unknown["Location"])
    assert mailoutbox == []
    page = Client().get(refused["Location"]).content.decode()  # which says why none may come, as it does to anyone
    assert "No link is mailed to an address given at sign-up until it is confirmed" in page

    Client().post(link_in(confirmation_mail))
    reset_asked("Carol@EXAMPLE.com")
    assert [mail.to for mail in mailoutbox] == [["carol@example.com"]] and "Reset your" in mailoutbox[0].subject


def test_accounts_not_made_by_sign_up_have_their_address_confirmed(user: Any, mailoutbox: list[Any]) -> None:
    """The operator's (createsuperuser, the admin, a script), and those made before the confirmation existed."""
    reset_asked(user.email)
    assert [mail.to for mail in mailoutbox] == [[user.email]]


def test_an_address_change_confirms_the_new_address_and_ends_the_sign_ups_link(
    client: Client, mailoutbox: list[Any]
) -> None:
    sign_up(client, "carol", "carol@exmaple.com")  # mistyped
    first_link = link_in(mailoutbox.pop())
    for address in ("carol@example.com", "carol@exmaple.com"):  # corrected, then back: each confirmed by its link
        client.post("/accounts/email/", {"email": address, "password": PASSWORD})
        changed = Client().post(re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1))
        assert changed.status_code == 302
        mailoutbox.clear()
        assert 'id="address-unconfirmed"' not in client.get("/accounts/").content.decode()
        reset_asked(address)
        assert [mail.to for mail in mailoutbox] == [[address]]
        mailoutbox.clear()
    assert Client().post(first_link).status_code == 302  # confirmed already (by the way back's link): it says so
    assert not UnconfirmedAddress.objects.exists()


def test_the_link_stops_working_once_the_address_changes(client: Client, mailoutbox: list[Any]) -> None:
    sign_up(client, "carol", "carol@example.com")
    link = link_in(mailoutbox.pop())
    User.objects.filter(username="carol").update(email="other@example.com")  # as the admin would, or a taker
    assert Client().get(link).status_code == Client().post(link).status_code == 400


class TestTheAddressOfAnAccountThatNeverConfirmedIt:
    def test_is_taken_by_a_sign_up_once_the_link_has_expired(self, client: Client, mailoutbox: list[Any]) -> None:
        sign_up(Client(), "mallory", "carol@example.com")
        squatters_link = link_in(mailoutbox.pop())
        early = sign_up(client, "carol", "Carol@example.com")
        assert "An account signed up with this e-mail address has not confirmed it yet." in early.content.decode()

        unconfirmed_since("mallory", days=3.01)  # PASSWORD_RESET_TIMEOUT: 3 days
        assert sign_up(client, "carol", "Carol@example.com").status_code == 302
        mallory, carol = User.objects.get(username="mallory"), User.objects.get(username="carol")
        assert (mallory.email, carol.email) == ("", "Carol@example.com")
        assert FoldedNames.objects.get(user=mallory).email_key == ""
        assert 'id="address-unconfirmed"' in client.get("/accounts/").content.decode()  # carol confirms it in turn
        assert Client().post(squatters_link).status_code == 400
        Client().post(link_in(mailoutbox.pop()))
        reset_asked("carol@example.com")
        assert [mail.to for mail in mailoutbox] == [["Carol@example.com"]]

    def test_its_owner_is_told_at_sign_up_how_to_get_it(self, client: Client, mailoutbox: list[Any]) -> None:
        """Not only "exists already", which left the owner of an address someone else had given nothing to do until
        the link expired; and what they are told works: another address, then a change to theirs."""
        sign_up(Client(), "mallory", "carol@example.com")
        refused = sign_up(client, "carol", "Carol@example.com").content.decode()
        told = "If not, sign up with another address, then change to this one on your account page"
        assert "has not confirmed it yet" in refused and told in refused and "exists already" not in refused
        assert sign_up(client, "carol", "carol@elsewhere.example").status_code == 302
        mailoutbox.clear()
        assert client.post("/accounts/email/", {"email": "Carol@example.com", "password": PASSWORD}).status_code == 302
        assert Client().post(re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1)).status_code == 302
        assert User.objects.get(username="carol").email == "Carol@example.com"
        assert User.objects.get(username="mallory").email == ""

    def test_telling_it_is_throttled_as_telling_an_address_has_an_account(self, client: Client, settings: Any) -> None:
        settings.SIGNUP_RATE_LIMIT = "1/h"
        sign_up(Client(REMOTE_ADDR="10.0.0.9"), "mallory", "carol@example.com")
        assert "has not confirmed it yet" in sign_up(client, "carol", "carol@example.com").content.decode()
        refused = sign_up(client, "carol", "carol@example.com")
        assert refused.status_code == 429 and "has not confirmed it yet" not in refused.content.decode()

    def test_is_taken_at_once_by_an_address_change_whose_link_proves_it_theirs(
        self, client: Client, user: Any, mailoutbox: list[Any]
    ) -> None:
        sign_up(Client(), "mallory", "owner@example.com")
        mailoutbox.clear()
        client.force_login(user)
        asked = client.post("/accounts/email/", {"email": "OWNER@example.com", "password": PASSWORD})
        assert asked.status_code == 302
        changed = Client().post(re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1))
        assert changed.status_code == 302
        assert User.objects.get(username="mallory").email == ""
        assert User.objects.get(pk=user.pk).email == "OWNER@example.com"

    def test_is_not_taken_once_confirmed(self, client: Client, mailoutbox: list[Any]) -> None:
        sign_up(Client(), "carol", "carol@example.com")
        Client().post(link_in(mailoutbox.pop()))
        unconfirmed_since("carol", days=30)  # no row left to age: the address is confirmed for good
        late = sign_up(client, "mallory", "carol@example.com")
        assert "An account with this e-mail address exists already." in late.content.decode()
        assert User.objects.get(username="carol").email == "carol@example.com"

    def test_is_not_taken_from_an_account_not_made_by_sign_up(self, client: Client, user: Any) -> None:
        late = sign_up(client, "mallory", user.email)
        assert "An account with this e-mail address exists already." in late.content.decode()

    def test_is_kept_while_the_link_works_whoever_asks(self, client: Client) -> None:
        sign_up(client, "carol", "carol@example.com")
        confirmation.abandoned_address_take(email="carol@example.com", proven=False)  # past the form's check: a race
        assert User.objects.get(username="carol").email == "carol@example.com"
        unconfirmed_since("carol", days=3.01)
        confirmation.abandoned_address_take(email="CAROL@example.com", proven=False)
        assert User.objects.get(username="carol").email == ""

    def test_resending_the_link_does_not_hold_the_address_longer(self, client: Client, mailoutbox: list[Any]) -> None:
        sign_up(client, "mallory", "carol@example.com")
        unconfirmed_since("mallory", days=3.01)
        client.post("/accounts/email/verify/")
        assert len(mailoutbox) == 2
        assert sign_up(Client(), "carol", "carol@example.com").status_code == 302


class TestTheAccountThatLostItsAddress:
    """The account whose unconfirmed address another account took is told, where it can be: no mail goes to an
    address that is no longer its own. Its page says so while it has no address, its next log-in once; and no more
    than the sign-up form says of an address (that an account has it): not which account."""

    LOST = 'id="address-lost"'
    TOLD = "Your account has no e-mail address any more"

    def log_in(self, username: str) -> str:
        reply = Client().post("/accounts/login/", {"username": username, "password": PASSWORD}, follow=True)
        assert reply.redirect_chain[-1][0] == "/"
        return reply.content.decode()

    def test_its_page_and_its_next_log_in_say_it_after_an_address_change_took_it(
        self, client: Client, user: Any, mailoutbox: list[Any]
    ) -> None:
        squatter = Client()
        sign_up(squatter, "mallory", "Owner@example.com")
        assert self.LOST not in squatter.get("/accounts/").content.decode()
        client.force_login(user)
        client.post("/accounts/email/", {"email": "owner@example.com", "password": PASSWORD})
        Client().post(re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1))  # the owner's link

        page = squatter.get("/accounts/").content.decode()  # logged in all along: its page says it
        notice = page[page.index(self.LOST) : page.index("</p>", page.index(self.LOST))]
        assert self.TOLD in notice and "Owner@example.com" in notice  # as it had it
        assert 'href="/accounts/email/"' in notice and "Add another address" in notice
        assert "alice" not in page  # not whose it is now
        assert self.TOLD in self.log_in("mallory")  # its next log-in, on the page it lands on
        assert self.TOLD not in self.log_in("mallory")  # once
        assert self.LOST in squatter.get("/accounts/").content.decode()  # its page, while it has no address

        mailoutbox.clear()
        squatter.post("/accounts/email/", {"email": "mallory@example.org", "password": PASSWORD})
        Client().post(re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1))
        assert self.LOST not in squatter.get("/accounts/").content.decode()
        assert not LostAddress.objects.exists()

    def test_its_next_log_in_says_it_after_a_sign_up_took_it(self, client: Client, caplog: Any) -> None:
        sign_up(Client(), "mallory", "carol@example.com")
        unconfirmed_since("mallory", days=3.01)
        sign_up(client, "carol", "carol@example.com")
        mallory = User.objects.get(username="mallory")
        assert f"account {mallory.pk} lost the address it never confirmed" in caplog.text  # it said "account None"
        assert self.TOLD not in client.get("/accounts/").content.decode()  # the taker is told nothing of it
        told = self.log_in("mallory")
        assert self.TOLD in told and "carol@example.com" in told
        assert "carol" not in told.replace("carol@example.com", "")  # not the account that has it now

    def test_nothing_is_said_once_the_account_has_an_address_again(self, client: Client) -> None:
        sign_up(Client(), "mallory", "carol@example.com")
        unconfirmed_since("mallory", days=3.01)
        sign_up(client, "carol", "carol@example.com")
        mallory = User.objects.get(username="mallory")
        for address in ("mallory@example.org", ""):  # given by the admin, then taken away: no longer news
            mallory.email = address
            mallory.save()
        assert self.TOLD not in self.log_in("mallory") and not LostAddress.objects.exists()
        client.force_login(mallory)
        assert self.LOST not in client.get("/accounts/").content.decode()


class TestSendingTheLinkAgain:
    def test_the_account_page_mails_it_again(self, client: Client, mailoutbox: list[Any]) -> None:
        sign_up(client, "carol", "carol@example.com")
        reply = client.post("/accounts/email/verify/", follow=True)
        assert "We sent a link to carol@example.com." in reply.content.decode()
        assert [mail.to for mail in mailoutbox] == [["carol@example.com"]] * 2
        Client().post(link_in(mailoutbox[-1]))  # the new link confirms it, as the first one would
        assert not UnconfirmedAddress.objects.exists()

    def test_a_confirmed_address_is_not_mailed(self, client: Client, user: Any, mailoutbox: list[Any]) -> None:
        client.force_login(user)
        reply = client.post("/accounts/email/verify/", follow=True)
        assert "Your e-mail address is confirmed already." in reply.content.decode() and mailoutbox == []

    def test_an_account_whose_address_was_taken_meanwhile_is_told_it_has_none(
        self, client: Client, mailoutbox: list[Any]
    ) -> None:
        """Its page, open from before, still offers the link: "confirmed already" was not true."""
        sign_up(client, "mallory", "carol@example.com")
        unconfirmed_since("mallory", days=3.01)
        sign_up(Client(), "carol", "carol@example.com")  # its owner takes it
        mailoutbox.clear()
        page = client.post("/accounts/email/verify/", follow=True).content.decode()
        assert "Your account has no e-mail address." in page and "confirmed already" not in page
        assert mailoutbox == []

    def test_it_is_throttled_per_account_and_per_address(
        self, client: Client, settings: Any, mailoutbox: list[Any]
    ) -> None:
        """On the count of the address changes' mails (PASSWORD_RESET_RATE_LIMIT): each one goes to an address
        whoever signed up chose."""
        settings.PASSWORD_RESET_RATE_LIMIT = "2/h"
        sign_up(client, "mallory", "victim@example.org")
        for _ in range(3):
            client.post("/accounts/email/verify/")
        assert len(mailoutbox) == 1 + 2
        # Another account of the same address (taken once the first one's link expired) shares its count.
        unconfirmed_since("mallory", days=3.01)
        other = Client()
        sign_up(other, "mallory2", "Victim@EXAMPLE.org")
        refused = other.post("/accounts/email/verify/", follow=True)
        assert "Too many links asked for." in refused.content.decode() and len(mailoutbox) == 4
        # And per account: one that has asked for address changes (to addresses of its choosing) shares its count.
        third = Client()
        sign_up(third, "mallory3", "m3@example.org")
        for number in range(2):
            third.post("/accounts/email/", {"email": f"n{number}@example.org", "password": PASSWORD})
        refused = third.post("/accounts/email/verify/", follow=True)
        assert "Too many links asked for." in refused.content.decode() and len(mailoutbox) == 7

    def test_the_page_needs_a_log_in_and_a_post(self, client: Client) -> None:
        assert client.post("/accounts/email/verify/")["Location"].startswith("/accounts/login/")
        client.force_login(User.objects.create_user("carol", "carol@example.com", PASSWORD))
        assert client.get("/accounts/email/verify/").status_code == 405


def test_the_unconfirmed_mark_is_of_the_folded_address(client: Client) -> None:
    sign_up(client, "carol", "Carol@\u00c9xample.com")
    assert UnconfirmedAddress.objects.get().email_key == folding.email_key("carol@xn--xample-9ua.com")


def test_no_notice_goes_to_an_address_until_it_is_confirmed(client: Client, mailoutbox: list[Any]) -> None:
    """The stranger whose address was mistyped at sign-up would learn of the account from its notices, and from an
    address change's, the owner's real address."""
    sign_up(client, "carol", "carol@exmaple.com")
    mailoutbox.clear()
    new_password = {"old_password": PASSWORD, "new_password1": "another fine phrase", "new_password2": ""}
    new_password["new_password2"] = new_password["new_password1"]
    assert client.post("/accounts/password/", new_password).status_code == 302
    client.post("/accounts/email/", {"email": "carol@example.com", "password": new_password["new_password1"]})
    (change_link,) = mailoutbox
    assert Client().post(re.search(r"http://testserver(\S+)", change_link.body).group(1)).status_code == 302
    assert [mail.to for mail in mailoutbox] == [["carol@example.com"]]  # the change's link only

    deleted = client.post("/accounts/delete/", {"password": new_password["new_password1"]})  # confirmed now: told
    assert deleted.status_code == 302 and [mail.to for mail in mailoutbox][-1] == ["carol@example.com"]
    assert len(mailoutbox) == 2


def test_a_deleted_account_tells_no_unconfirmed_address(client: Client, mailoutbox: list[Any]) -> None:
    sign_up(client, "carol", "carol@exmaple.com")
    mailoutbox.clear()
    assert client.post("/accounts/delete/", {"password": PASSWORD}).status_code == 302
    assert mailoutbox == []
