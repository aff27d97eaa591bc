"""A change of e-mail address (accounts.views.email_change): the password, then a link sent to the new address,
which makes it the account's once opened and confirmed; a notice to the address it replaces."""

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def asked(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post("/accounts/email/", {"email": email, "password": password})


def link_in(message: Any) -> str:
    match = re.search(r"http://testserver(/accounts/email/confirm/[^/\s]+/)", message.body)
    assert match is not None, message.body
    return match.group(1)


def test_the_new_address_becomes_the_accounts_once_its_link_is_confirmed(
    alice: Client, user: Any, mailoutbox: list[Any]
) -> None:
    reply = asked(alice, "alice@new.example")
    assert reply.status_code == 302 and reply["Location"] == "/accounts/"
    (message,) = mailoutbox
    assert message.to == ["alice@new.example"] and "Confirm your e-mail address" in message.subject
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # nothing changes until the link is used

    link = link_in(message)
    page = Client().get(link)  # from the mail, in a browser that may not be logged in; a scanner's GET changes nothing
    assert page.status_code == 200 and "alice@new.example" in page.content.decode()
    user.refresh_from_db()
    assert user.email == "alice@example.com"

    phone = Client()
    confirmed = phone.post(link)
    assert confirmed.status_code == 302
    user.refresh_from_db()
    assert user.email == "alice@new.example"
    done = phone.get(confirmed["Location"], follow=True)  # the log-in page says whose address it is now
    assert "alice@new.example is now the e-mail address of the account alice." in done.content.decode()
    notice = mailoutbox[-1]
    assert notice.to == ["alice@example.com"] and "alice@new.example" in notice.body  # the old address is told

    mailoutbox.clear()
    for again in (Client().post(link, follow=True), Client().get(link, follow=True)):  # used once; then it says so
        assert "alice@new.example is now the e-mail address of the account alice." in again.content.decode()
    assert mailoutbox == []  # and the old address is not told again
    user.refresh_from_db()
    assert user.email == "alice@new.example"
    asked(alice, "alice@newer.example")
    Client().post(link_in(mailoutbox[-1]))
    refused = Client().get(link)  # once the address has changed since: it does not work
    assert refused.status_code == 400 and 'id="email-link-invalid"' in refused.content.decode()


def test_the_password_is_asked_and_the_address_must_be_new_and_unused(alice: Client, mailoutbox: list[Any]) -> None:
    User.objects.create_user("carol", email="carol@example.com", password=PASSWORD)
    wrong = asked(alice, "alice@new.example", password="not it")
    assert wrong.status_code == 200 and "That is not your password." in wrong.content.decode()
    same = asked(alice, "ALICE@example.com")
    assert same.status_code == 200 and "That is your address already." in same.content.decode()
    taken = asked(alice, "Carol@Example.com")
    assert taken.status_code == 200 and "An account with this e-mail address exists already." in taken.content.decode()
    User.objects.create_user("dave", email="d@\u00e9xample.com", password=PASSWORD)
    for spelling in ("d@\u00c9XAMPLE.com", "d@xn--xample-9ua.com"):  # not told apart by SQLite's iexact
        taken = asked(alice, spelling)
        assert "An account with this e-mail address exists already." in taken.content.decode()
    assert mailoutbox == []


def test_a_link_stops_working_after_another_change_and_when_its_address_was_taken_meanwhile(
    alice: Client, user: Any, mailoutbox: list[Any]
) -> None:
    asked(alice, "first@new.example")
    asked(alice, "second@new.example")
    first, second = (link_in(message) for message in mailoutbox)
    assert Client().post(second).status_code == 302
    assert Client().post(first).status_code == 400  # made from an address the account has left
    user.refresh_from_db()
    assert user.email == "second@new.example"

    asked(alice, "third@new.example")
    User.objects.create_user("carol", email="Third@new.example", password=PASSWORD)
    taken = alice.post(link_in(mailoutbox[-1]), follow=True)
    assert "An account with this e-mail address exists already." in taken.content.decode()
    user.refresh_from_db()
    assert user.email == "second@new.example"

    asked(alice, "fourth@b\u00fccher.example")  # taken meanwhile, its domain spelt in IDNA
    User.objects.create_user("dave", email="fourth@xn--bcher-kva.example", password=PASSWORD)
    taken = alice.post(link_in(mailoutbox[-1]), follow=True)
    assert "An account with this e-mail address exists already." in taken.content.decode()
    user.refresh_from_db()
    assert user.email == "second@new.example"


def test_a_used_link_stays_used_after_a_change_and_its_way_back(
    alice: Client, user: Any, mailoutbox: list[Any]
) -> None:
    """A link names the address it changes from: after A -> B and B -> A, the first link's "from A" held again, and
    whoever reads mailbox B could move the account back there (then reset its password) for PASSWORD_RESET_TIMEOUT."""
    original = user.email
    asked(alice, "work@new.example")
    there = link_in(mailoutbox[-1])
    assert Client().post(there).status_code == 302
    asked(alice, original)
    assert Client().post(link_in(mailoutbox[-1])).status_code == 302
    user.refresh_from_db()
    assert user.email == original
    assert Client().get(there).status_code == 400 and Client().post(there).status_code == 400
    user.refresh_from_db()
    assert user.email == original


def test_a_link_asked_for_before_the_password_was_reset_or_changed_changes_nothing(
    alice: Client, user: Any, mailoutbox: list[Any]
) -> None:
    """Whoever had learnt the password could ask for a link to their own address; once the owner had reset the
    password (by its reset mail) to lock them out, the link still took the address, and with it the next reset."""
    asked(alice, "thief@evil.example")
    thiefs_link = link_in(mailoutbox[-1])
    reset = Client()
    reset.post("/accounts/password/reset/", {"email": "alice@example.com"})
    reset_link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mailoutbox[-1].body)
    assert reset_link is not None
    form = reset.get(reset_link.group(1), follow=True).redirect_chain[-1][0]
    assert reset.post(form, {"new_password1": "a new horse 1", "new_password2": "a new horse 1"}).status_code == 302
    assert Client().post(thiefs_link).status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"

    alice.force_login(user)
    asked(alice, "alice@new.example", password="a new horse 1")
    owners_link = link_in(mailoutbox[-1])
    changed = {"old_password": "a new horse 1", "new_password1": "a newer horse 2", "new_password2": "a newer horse 2"}
    assert alice.post("/accounts/password/", changed).status_code == 302
    assert Client().get(owners_link).status_code == 400 and Client().post(owners_link).status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_a_forged_or_expired_link_changes_nothing(
    alice: Client, user: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    asked(alice, "alice@new.example")
    link = link_in(mailoutbox[0])
    payload = link.split("/")[-2].split(":")[0]
    eve = {"user": user.pk, "email": "eve@evil.example", "from": user.email}
    forgeries = [
        link[:-6] + "AAAAA/",  # its signature changed
        link.replace(payload, signing.b64_encode(json.dumps(eve).encode()).decode()),  # its address changed
        f"/accounts/email/confirm/{signing.dumps(eve, salt='another.purpose')}/",  # signed for something else
    ]
    for forged in forgeries:
        assert Client().post(forged).status_code == 400, forged
    settings.PASSWORD_RESET_TIMEOUT = -1
    assert Client().post(link).status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_an_account_without_an_address_adds_one_and_no_notice_goes_anywhere(
    client: Client, mailoutbox: list[Any]
) -> None:
    bob = User.objects.create_user("bob", password=PASSWORD)
    client.force_login(bob)
    assert "Add an e-mail address" in client.get("/accounts/").content.decode()
    asked(client, "bob@example.com")
    assert client.post(link_in(mailoutbox[0])).status_code == 302
    bob.refresh_from_db()
    assert bob.email == "bob@example.com" and len(mailoutbox) == 1
    assert "Change e-mail address" in client.get("/accounts/").content.decode()


def test_change_mails_are_throttled_per_account(alice: Client, settings: Any, mailoutbox: list[Any]) -> None:
    """Each request mails an address the caller chose: unthrottled, an account could fill anyone's inbox."""
    settings.PASSWORD_RESET_RATE_LIMIT = "2/h"
    assert [asked(alice, f"n{number}@new.example").status_code for number in range(3)] == [302, 302, 429]
    assert len(mailoutbox) == 2


def test_change_mails_are_throttled_per_address_whichever_accounts_ask(
    alice: Client, settings: Any, mailoutbox: list[Any]
) -> None:
    """Throttled per account alone, each account made (SIGNUP_RATE_LIMIT allows ten an hour from one client) brought
    its own count of mails to the same stranger."""
    settings.PASSWORD_RESET_RATE_LIMIT = "2/h"
    assert [asked(alice, "victim@example.org").status_code for _ in range(2)] == [302, 302]
    mallory = Client()
    mallory.force_login(User.objects.create_user("mallory", email="m@example.com", password=PASSWORD))
    assert asked(mallory, "Victim@EXAMPLE.org").status_code == 429
    assert asked(mallory, "mallory@new.example").status_code == 302
    assert [mail.to for mail in mailoutbox] == [["victim@example.org"]] * 2 + [["mallory@new.example"]]


def test_the_page_needs_a_log_in(client: Client) -> None:
    reply = client.get("/accounts/email/")
    assert reply.status_code == 302 and reply["Location"].startswith("/accounts/login/")


def test_the_mails_and_pages_are_in_the_visitors_language(alice: Client, user: Any, mailoutbox: list[Any]) -> None:
    french = {"Accept-Language": "fr"}
    assert "Changer d\u2019adresse e-mail" in alice.get("/accounts/email/", headers=french).content.decode()
    alice.post("/accounts/email/", {"email": "alice@new.example", "password": PASSWORD}, headers=french)
    assert mailoutbox[0].subject == "Confirmez votre adresse e-mail pour bgsite sur testserver"
    assert mailoutbox[0].body.startswith("Bonjour alice,")
    # The link opened in a browser that speaks Spanish (a phone's): the notice to the old address is in French still,
    # the language the change was asked in, as the mail with the link was.
    Client().post(link_in(mailoutbox[0]), headers={"Accept-Language": "es"})
    assert mailoutbox[1].to == ["alice@example.com"]
    assert mailoutbox[1].subject == "Votre adresse e-mail bgsite sur testserver a été changée"
    assert mailoutbox[1].body.startswith("Bonjour alice,")


def test_the_mail_says_how_long_its_link_works(alice: Client, settings: Any, mailoutbox: list[Any]) -> None:
    """PASSWORD_RESET_TIMEOUT, which the link obeys (it said "a few days" whatever the setting)."""
    settings.PASSWORD_RESET_TIMEOUT = 2 * 3600
    asked(alice, "alice@new.example")
    assert "The link works once, for 2\xa0hours." in mailoutbox[0].body


def test_a_mail_server_out_of_reach_is_said_and_the_change_still_confirmable(
    alice: Client, user: Any, settings: Any, mailoutbox: list[Any], caplog: Any
) -> None:
    """Unreachable, it raised in the view: a 500 page, or, for the notice, a change made but answered with a 500. The
    operator is told why: the log said only "Service Unavailable: /accounts/email/"."""
    from tests.conftest import free_port

    working = settings.MAILERS
    options = {"host": "127.0.0.1", "port": free_port(), "timeout": 2}  # nothing listens there
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    refused = asked(alice, "alice@new.example")
    assert refused.status_code == 503 and "The mail could not be sent just now" in refused.content.decode()
    (why,) = [record for record in caplog.records if record.name == "accounts.mails"]
    assert why.levelname == "WARNING" and "the email_change mail could not be sent: [Errno 111]" in why.getMessage()

    settings.MAILERS = working
    asked(alice, "alice@new.example")
    link = link_in(mailoutbox[-1])
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    assert Client().post(link).status_code == 302  # the notice to the old address is only logged as not sent
    user.refresh_from_db()
    assert user.email == "alice@new.example"


class RefusingMailServer:
    """aiosmtpd's handler for a mail server that has no such mailbox: 550 to every recipient."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def test_an_address_the_mail_server_refuses_is_said_on_its_field(alice: Client, user: Any, settings: Any) -> None:
    """A 550 (no such mailbox, a typo most often) read "could not be sent just now. Try again in a while": it never
    would be."""
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    server = Controller(RefusingMailServer(), hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        options = {"host": "127.0.0.1", "port": server.port, "timeout": 5}
        settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
        refused = asked(alice, "alice@new.exmaple")
    finally:
        server.stop()
    assert refused.status_code == 200
    assert refused.context["form"].errors["email"] == [
        "The mail server refused this address. Check it, or give another one."
    ]
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_a_change_asked_for_mails_the_new_address_a_link_that_names_it(user: Any, mailoutbox: list[Any]) -> None:
    """accounts.email_changes.email_change_request, which the view calls once the password is right."""
    from accounts import email_changes

    email_changes.email_change_request(
        user=user,
        new_email="alice@new.example",
        absolute_url=lambda path: f"https://bg.example{path}",
        host="bg.example",
    )
    (message,) = mailoutbox
    assert message.to == ["alice@new.example"]
    match = re.search(r"https://bg\.example/accounts/email/confirm/([^/\s]+)/", message.body)
    assert match is not None, message.body
    assert email_changes.email_change_pending(token=match.group(1)) == (user, "alice@new.example")


def test_a_browser_logged_in_to_another_account_is_told_whose_address_changed(
    alice: Client, user: Any, mailoutbox: list[Any]
) -> None:
    """Its page says "Your e-mail address is now …" only to the account itself: another account's page (a shared
    computer) would read as if its own address had changed."""
    asked(alice, "alice@new.example")
    link = link_in(mailoutbox[-1])
    other = Client()
    other.force_login(User.objects.create_user("bob", "bob@example.com", PASSWORD))
    page = other.post(link, follow=True).content.decode()
    assert "alice@new.example is now the e-mail address of the account alice." in page
    assert "Your e-mail address is now" not in page


def test_the_account_itself_is_told_its_address_changed(alice: Client, mailoutbox: list[Any]) -> None:
    asked(alice, "alice@new.example")
    page = alice.post(link_in(mailoutbox[-1]), follow=True).content.decode()
    assert "Your e-mail address is now alice@new.example." in page
