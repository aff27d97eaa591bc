"""The admin read in German: every word a page of ours shows went through gettext, and each has a translation (in
Django's catalogs, or in ours, where tests/test_translations.py holds every message our source marks)."""

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import django
import polib
import pytest
from django.contrib import admin
from django.contrib.auth.hashers import get_hasher
from django.contrib.auth.models import Group, Permission, User
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from django.utils.translation import trans_real
from django_tasks_db.models import get_date_max

from accounts.models import (
    BrowserSession,
    FoldedNames,
    Invitation,
    LostAddress,
    UnconfirmedAddress,
    UsedEmailChangeLink,
    WebhookSecret,
)
from accounts.services import api_key_create, invitation_token_set
from removal import services
from removal.models import DailyUsage, JobRecord, StoredImage, WebhookDelivery, WorkerProcess
from tests.conftest import make_item
from tests.test_translations import LANGUAGES, marked_page_messages, marked_script_messages

pytestmark = pytest.mark.django_db

OPEN, CLOSE = "\u27e6", "\u27e7"
MARKED = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
WORDS = re.compile(r"[^\W\d_]{2,}")
SHOWN_APART = "\x00"  # between the texts of two elements
# What the rows below hold, as the admin shows it (a batch's options, a job's arguments and task).
DATA = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|https?://\S+|\{[^\x00]*\}|bgs_\w+|\w+\*{3,}|"
    r"\b(alice|example\.com|root|Ramona|retouchers|shop|photo\.jpg|stored\.png|s\.png|default|removal\.tasks\.|item_process|"
    r"worker-1a2b3c4d|per-thread)\b|\[\"\w+\"\]",
    re.I,
)
# Django's own words that it does not mark for translation: the search's icon's alt text and a boolean column's icons'.
DJANGOS_OWN_UNMARKED = {"Search", "True", "False", "None"}
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


class EveryMessageMarked:
    """German, where each message asked of gettext comes back between OPEN and CLOSE, and is noted by its key in a
    catalog (its context before it; a plural's first form's)."""

    def __init__(self, german: trans_real.DjangoTranslation) -> None:
        self.german = german
        self.asked: dict[object, str] = {}

    def gettext(self, message: str) -> str:
        text = message.rpartition(trans_real.CONTEXT_SEPARATOR)[2]
        self.asked[message] = text
        return f"{OPEN}{text}{CLOSE}"

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        self.asked[(singular, 0)] = singular.rpartition(trans_real.CONTEXT_SEPARATOR)[2]
        return f"{OPEN}{(singular if count == 1 else plural).rpartition(trans_real.CONTEXT_SEPARATOR)[2]}{CLOSE}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.german, name)

    def untranslatable(self) -> dict[str, set[str]]:
        """For each language, the messages asked that its catalogs (ours, Django's) do not translate, less those our
        source marks (tests/test_translations.py holds each of those to be translated in ours); none when all are.
        Django's own catalogs leave a few of Django's messages untranslated (its user admin's "Password-based
        authentication" in German, the list's "Run" in German and Spanish): bgsite.django_catalog_gaps marks those."""
        ours = marked_page_messages()
        missing = {
            language: {text for key, text in self.asked.items() if key not in trans_real.translation(language)._catalog}
            for language in LANGUAGES
        }
        return {language: texts - ours for language, texts in missing.items() if texts - ours}


class ShownText(HTMLParser):
    """The text a reader sees (and the attributes read aloud or shown on hover), outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("script", "style")
        values = dict(attrs)
        self.found += [values[name] or "" for name in READ_ATTRIBUTES if name in values]
        if tag == "input" and values.get("type") in ("submit", "button"):
            self.found.append(values.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.found.append(data)


def unmarked_words(page: str) -> list[str]:
    """The texts of a page with words in them that were not between OPEN and CLOSE, once the rows' data is left out. A
    message that holds a value (a row's name) leaves that out too: each row's name is shown on its own elsewhere."""
    parser = ShownText()
    parser.feed(page)
    text = SHOWN_APART.join(parser.found)
    while (unwrapped := MARKED.sub(" ", text)) != text:  # the inner first: a name inside a sentence
        text = unwrapped
    text = DATA.sub(" ", text).replace(get_hasher().algorithm, " ")  # a password's
    texts = (" ".join(part.split()) for part in text.split(SHOWN_APART))
    return [part for part in texts if WORDS.search(part) and part not in DJANGOS_OWN_UNMARKED]


def rows_of_every_model() -> dict[str, Any]:
    """A row of each model the admin shows, or lists among those deleting an account deletes (its group and its
    permission among them)."""
    alice = User.objects.create_user("alice", email="alice@example.com", password="x" * 12, first_name="Ramona")
    group = Group.objects.create(name="retouchers")
    group.permissions.set(Permission.objects.filter(codename__in=("view_batch", "change_item")))
    alice.groups.add(group)
    alice.user_permissions.add(Permission.objects.get(codename="add_storedimage"))
    batch = services.batch_create(owner=alice)
    now = timezone.now()
    invitation = Invitation(note="", expires_at=now + timedelta(days=1))
    invitation_token_set(invitation=invitation)
    invitation.save()
    WebhookSecret.objects.create(user=alice, secret="s")
    UsedEmailChangeLink.objects.create(user=alice, token_hash="h")
    UnconfirmedAddress.objects.create(user=alice, email_key=FoldedNames.objects.get(user=alice).email_key, since=now)
    LostAddress.objects.create(user=alice, email="alice@example.com", lost_at=now)
    BrowserSession.objects.create(session_key="k" * 32, session_data="", expire_date=now, user=alice)
    return {
        "user": alice,
        "group": group,
        "batch": batch,
        "item": make_item(batch),
        "storedimage": StoredImage.objects.create(owner=alice, filename="stored.png", file="s.png", size_bytes=1),
        "webhookdelivery": WebhookDelivery.objects.create(batch=batch, url="https://example.com/h", items_total=1),
        "dailyusage": DailyUsage.objects.create(owner=alice, day=now.date(), images=2),
        "apikey": api_key_create(user=alice, name="shop")[0],
        "invitation": invitation,
        "workerprocess": WorkerProcess.objects.create(
            name="worker-1a2b3c4d",
            host="h",
            threads=2,
            providers=["CPUExecutionProvider"],
            layout="per-thread",
            max_batch=1,
            models_installed=["u2netp"],
            seen_at=now,
        ),
        "jobrecord": JobRecord.objects.create(
            task_path="removal.tasks.item_process",
            args_kwargs={"args": [], "kwargs": {}},
            backend_name="default",
            run_after=get_date_max(),
            status="FAILED",
            traceback="1",
            exception_class_path="1",
        ),
    }


def admin_pages(client: Client, rows: dict[str, Any]) -> Iterator[str]:
    """Every page of the admin: the index, each app's, each list, a row's page, its history and its deletion's
    confirmation (an account's lists what goes with it), the add pages (a user's and a group's hold the permission
    pickers), a user's password page, an action's and an addition's messages, and a change's in a row's history."""
    yield "/admin/"
    ours = admin.site._registry
    for app in sorted({model._meta.app_label for model in ours}):
        yield f"/admin/{app}/"
    superuser = HttpRequest()
    superuser.user = User(is_superuser=True, is_staff=True)
    for model, model_admin in ours.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        row = rows[model._meta.model_name]
        yield from (base, f"{base}{row.pk}/change/", f"{base}{row.pk}/history/")
        if model_admin.has_delete_permission(superuser):  # not a job record
            yield f"{base}{row.pk}/delete/"
    yield from ("/admin/auth/user/add/", "/admin/auth/group/add/", "/admin/accounts/invitation/add/")
    yield f"/admin/auth/user/{rows['user'].pk}/password/"
    alice = rows["user"]
    changed = {"username": "alice", "email": alice.email, "last_name": "Ramona", "date_joined_0": "2026-01-01"}
    permissions = list(Permission.objects.order_by("pk").values_list("pk", flat=True)[:2])  # not 1 and 2 in every run
    changed |= {"date_joined_1": "00:00", "groups": [rows["group"].pk], "user_permissions": permissions}
    assert client.post(f"/admin/auth/user/{alice.pk}/change/", changed).status_code == 302
    yield f"/admin/auth/user/{alice.pk}/history/"  # the fields changed, named
    client.post("/admin/auth/user/", {"action": "address_confirm", "_selected_action": [rows["user"].pk]})
    yield "/admin/auth/user/"
    client.post("/admin/accounts/invitation/add/", {"note": ""})
    yield "/admin/accounts/invitation/"


@pytest.fixture
def marked_german(client: Client, monkeypatch: pytest.MonkeyPatch) -> EveryMessageMarked:
    """German, each message marked (EveryMessageMarked), the language `client` asks for."""
    marked = EveryMessageMarked(trans_real.translation("de"))
    monkeypatch.setitem(trans_real._translations, "de", marked)
    client.cookies["django_language"] = "de"
    return marked


def test_every_word_of_the_admin_is_in_the_readers_language(client: Client, marked_german: EveryMessageMarked) -> None:
    """Read in German, the admin showed our rows' names in English ("batch <id>", "webhook for <id> (pending)",
    "folded names of alice" among what deleting an account deletes), and django-tasks-db's app name, columns and
    fields: its own names were not marked, or had no catalog to be translated by. The user and group pages' permission
    pickers named each permission as Django wrote it into the database, in English ("Can add batch"), and deleting a
    user or a group listed its memberships and permissions as "User-group relationship: User_groups object (1)"."""
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    rows = rows_of_every_model()

    unmarked = {}
    for path in admin_pages(client, rows):
        page = client.get(path)
        assert page.status_code == 200, path
        if found := unmarked_words(page.content.decode()):
            unmarked[path] = found

    assert unmarked == {}, "\n".join(f"{path}: {found}" for path, found in unmarked.items())
    assert marked_german.untranslatable() == {}


def test_a_reader_who_may_only_view_users_and_groups_reads_their_permissions_in_german(
    client: Client, marked_german: EveryMessageMarked
) -> None:
    """Where the picker would be, the admin lists the permissions of a user or a group to one who may only view it:
    Django's list named each as the database holds it, in English."""
    rows = rows_of_every_model()
    viewer = User.objects.create_user("root", password="x" * 12, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=("view_user", "view_group")))
    client.force_login(viewer)

    user_page = client.get(f"/admin/auth/user/{rows['user'].pk}/change/").content.decode()
    group_page = client.get(f"/admin/auth/group/{rows['group'].pk}/change/").content.decode()

    assert unmarked_words(user_page) == unmarked_words(group_page) == []
    assert f"{OPEN}Can add {OPEN}stored image{CLOSE}{CLOSE}" in user_page  # alice's, read only: no picker
    assert f"{OPEN}Can change {OPEN}item{CLOSE}{CLOSE}" in group_page and "<select" not in group_page
    assert marked_german.untranslatable() == {}


def test_the_walk_finds_an_unmarked_word() -> None:
    page = f"<h1>{OPEN}Change {OPEN}batch{CLOSE}{CLOSE}</h1><p>batch {uuid.uuid4()}</p><script>var x</script>"
    assert unmarked_words(page + '<a title="Webhook">alice</a><img alt="Search">') == ["batch", "Webhook"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_admins_scripts_is_in_the_readers_language(client: Client, language: str) -> None:
    """The admin's script catalog (/admin/jsi18n/) had no German for the permission picker's buttons and help
    ("Choose all %s") nor the calendar's, and no German or Spanish for the note beside a time when the browser's time
    zone is not the server's: Django's catalogs have not translated them yet. Ours do, which tests/test_translations.py
    holds for each message our scripts mark (bgsite/django_catalog_gaps.js)."""
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    client.cookies["django_language"] = language

    script = client.get("/admin/jsi18n/").content.decode()

    served = json.loads(re.search(r"const newcatalog = (\{.*?\});\n", script, re.S).group(1))  # type: ignore[union-attr]
    english = Path(django.__file__).parent / "contrib/admin/locale/en/LC_MESSAGES/djangojs.po"
    admins = {
        f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid for entry in polib.pofile(str(english))
    }
    assert "Choose all %s" in admins and "Today" in served
    assert admins - served.keys() - marked_script_messages() == set()
