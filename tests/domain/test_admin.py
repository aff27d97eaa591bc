"""The operators' admin: every model listed with search and filters, secrets never shown."""

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import CASCADE, Model
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from django.utils.functional import Promise

from accounts.services import api_key_create
from removal import services
from removal.models import Item, WorkerProcess
from removal.ops.worker import run_ready_jobs
from tests.conftest import item_files, make_item, photo_bytes, run_deferred_file_deletions

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/auth/user/?q=alice",
        "/admin/accounts/apikey/?q=bgs_&revoked_at__isnull=True",
        "/admin/removal/batch/?q=alice&kind__exact=upload",
        "/admin/removal/item/?q=photo&status__exact=done",
        "/admin/removal/storedimage/?q=x",
        "/admin/removal/webhookdelivery/?q=https://x&status__exact=pending",
        "/admin/removal/dailyusage/?q=alice",
        "/admin/removal/workerprocess/?layout__exact=shared",
        "/admin/removal/jobrecord/?status__exact=READY",
    ],
)
def test_changelists_with_search_and_filters(admin_client: Client, user: Any, path: str) -> None:
    make_item(services.batch_create(owner=user))
    api_key_create(user=user, name="shop")
    assert admin_client.get(path).status_code == 200


def test_an_item_is_found_by_its_id_or_its_batchs(admin_client: Client, user: Any) -> None:
    """An id, as the logs name an item or a batch, is looked up by its index (removal.admin.GrowingTable)."""
    batch = services.batch_create(owner=user)
    item, beside, elsewhere = make_item(batch), make_item(batch), make_item(services.batch_create(owner=user))

    by_item = admin_client.get(f"/admin/removal/item/?q={str(item.pk).upper()}").content.decode()
    by_batch = admin_client.get(f"/admin/removal/item/?q={batch.pk}").content.decode()

    assert f"/admin/removal/item/{item.pk}/change/" in by_item and str(beside.pk) not in by_item
    assert str(item.pk) in by_batch and str(beside.pk) in by_batch and str(elsewhere.pk) not in by_batch


def test_items_are_found_by_their_accounts_name_or_their_file_names_start(admin_client: Client, user: Any) -> None:
    """Any other text than an id names an account (its username or address, compared as the sign-up compares them:
    that account's items), or else the start of a file name, case aside: lookups an index serves, where the text was
    searched for inside every item's file name and every owner's username (4 s at 1.4 million items on PostgreSQL)."""
    other = User.objects.create_user("bob", email="bob@example.com", password="x" * 12)
    alices = make_item(services.batch_create(owner=user))
    bobs = make_item(services.batch_create(owner=other))
    Item.objects.filter(pk=alices.pk).update(filename="IMG_4711.jpg")
    Item.objects.filter(pk=bobs.pk).update(filename="holiday-IMG_4711.jpg")

    def found(term: str) -> set[str]:
        page = admin_client.get("/admin/removal/item/", {"q": term}).content.decode()
        return {name for name, item in (("alice", alices), ("bob", bobs)) if f"/admin/removal/item/{item.pk}/" in page}

    assert found("ALICE") == found("alice@EXAMPLE.com") == {"alice"}
    assert found("Bob") == {"bob"}
    assert found("img_47") == {"alice"}  # its start, not inside another's name
    assert found("holiday") == {"bob"}
    assert found("4711") == set()
    batches = admin_client.get("/admin/removal/batch/", {"q": "bob"}).content.decode()
    assert str(bobs.batch_id) in batches and str(alices.batch_id) not in batches


def test_stored_images_and_webhooks_are_found_by_id_account_or_the_start_of_a_name_or_url(
    admin_client: Client, user: Any
) -> None:
    """As items are (removal.admin.GrowingTable): the text was searched for inside every file name or URL and every
    owner's username, which no index serves."""
    from removal.models import StoredImage, WebhookDelivery

    other = User.objects.create_user("bob", email="bob@example.com", password="x" * 12)
    alices_batch, bobs_batch = services.batch_create(owner=user), services.batch_create(owner=other)
    images = {
        "alice": StoredImage.objects.create(owner=user, filename="IMG_4711.jpg", file="a.jpg", size_bytes=1),
        "bob": StoredImage.objects.create(owner=other, filename="holiday-IMG_4711.jpg", file="b.jpg", size_bytes=1),
    }
    long = "https://example.com/" + "a" * 300  # past the 200 characters the URL's index holds (URL_START_INDEXED)
    hook = WebhookDelivery.objects.create
    hooks = {
        "alice": hook(batch=alices_batch, url="https://hooks.example.com/a", items_total=1),
        "bob": hook(batch=bobs_batch, url="https://bob.example/hooks.example.com", items_total=1),
        "long": hook(batch=alices_batch, url=f"{long}/one", items_total=2),
        "longer": hook(batch=alices_batch, url=f"{long}b/two", items_total=3),
    }

    def found(rows: dict[str, Any], term: str) -> set[str]:
        path = f"/admin/removal/{type(next(iter(rows.values()))).__name__.lower()}/"
        page = admin_client.get(path, {"q": term}).content.decode()
        return {name for name, row in rows.items() if f"{path}{row.pk}/change/" in page}

    assert found(images, str(images["bob"].pk).upper()) == {"bob"}
    assert found(images, "ALICE") == found(images, "alice@EXAMPLE.com") == {"alice"}
    assert found(images, "img_47") == {"alice"} and found(images, "4711") == set()
    assert found(hooks, str(hooks["bob"].pk)) == found(hooks, "Bob") == {"bob"}
    assert found(hooks, str(alices_batch.pk)) == found(hooks, "alice") == {"alice", "long", "longer"}
    assert found(hooks, "HTTPS://HOOKS.") == {"alice"} and found(hooks, "hooks.example.com") == set()
    assert found(hooks, long) == {"long", "longer"}
    assert found(hooks, f"{long}/ONE") == {"long"} and found(hooks, f"{long}/two") == set()


def test_api_key_hash_is_never_shown(admin_client: Client, user: Any) -> None:
    key, plain = api_key_create(user=user, name="shop")
    page = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page
    assert key.secret_hash not in page and plain not in page
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 403


@pytest.mark.parametrize("model", ["batch", "item", "storedimage", "webhookdelivery", "dailyusage"])
def test_rows_only_the_services_make_have_no_add_page(admin_client: Client, model: str) -> None:
    """Their Add page saved a row without its owner, batch or file: a 500 on Save (IntegrityError)."""
    assert admin_client.get(f"/admin/removal/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/removal/{model}/add/", {"_save": "Save"}).status_code == 403
    assert f"/admin/removal/{model}/add/" not in admin_client.get(f"/admin/removal/{model}/").content.decode()


def test_the_admin_index_names_each_table_in_english(admin_client: Client) -> None:
    """Django's plural of "webhook delivery" is "webhook deliverys"."""
    index = admin_client.get("/admin/").content.decode()
    assert "Webhook deliveries" in index and "deliverys" not in index


OUR_APPS = ("removal", "accounts")


def cascading_from_accounts() -> set[type[Model]]:
    """Our models whose rows deleting an account deletes too: the admin's confirmation lists them by name."""
    found: set[type[Model]] = set()
    reached: list[type[Model]] = [User]
    while reached:
        for relation in reached.pop()._meta.related_objects:
            model = relation.related_model
            if relation.on_delete is CASCADE and model._meta.app_label in OUR_APPS and model not in found:
                found.add(model)
                reached.append(model)
    return found


def names_shown(model_admin: admin.ModelAdmin, request: HttpRequest) -> Iterator[tuple[str, object]]:
    """Each text of ours an admin's page shows, by where it is shown: the model's names, its fields' names, help
    texts and choices (in the list, its filters and the form), the list's other columns and filters, the search's
    hint and the actions."""
    model = model_admin.model
    if model._meta.app_label in OUR_APPS:
        yield f"{model.__name__} verbose_name", model._meta.verbose_name
        yield f"{model.__name__} verbose_name_plural", model._meta.verbose_name_plural
    inline_fields = [(inline.model, inline.fields or ()) for inline in model_admin.get_inline_instances(request)]
    shown = [
        (model, [*model_admin.get_fields(request), *model_admin.list_display, *model_admin.get_list_filter(request)]),
        *inline_fields,
    ]
    for shown_model, names in shown:
        for name in names:
            if isinstance(name, type):  # a SimpleListFilter
                yield f"{name.__name__} title", name.title
                continue
            if not isinstance(name, str) or name == "__str__":
                continue
            try:
                field = shown_model._meta.get_field(name)
            except FieldDoesNotExist:
                column = getattr(model_admin, name, None)  # else a form's field: Django's
                if getattr(column, "__module__", "").split(".")[0] in OUR_APPS:  # not django-tasks-db's
                    yield f"{name} column", getattr(column, "short_description", None)
                continue
            if shown_model._meta.app_label not in OUR_APPS and field.model._meta.app_label not in OUR_APPS:
                continue  # Django's own (a user's fields)
            yield f"{shown_model.__name__}.{name}", field.verbose_name
            if field.help_text:
                yield f"{shown_model.__name__}.{name} help_text", field.help_text
            for value, label in field.flatchoices or ():
                yield f"{shown_model.__name__}.{name} {value}", label
    if model_admin.search_help_text:
        yield "search_help_text", model_admin.search_help_text
    for action in model_admin.get_actions(request).values():
        yield f"action {action.name}", action.description


def test_the_admin_has_each_name_of_ours_in_the_readers_language(rf: Any) -> None:
    """The admin in German, Spanish or French showed our apps', models' and fields' names, help texts, choices,
    filters, search hints and actions in English: each is marked for translation (lazily, read in the reader's
    language when the page is made)."""
    request = rf.get("/admin/")
    request.user = User(is_superuser=True, is_staff=True)
    unmarked = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in OUR_APPS or type(model_admin).__module__.split(".")[0] in OUR_APPS:
            unmarked += [where for where, text in names_shown(model_admin, request) if not isinstance(text, Promise)]
    for model in cascading_from_accounts():
        for name in ("verbose_name", "verbose_name_plural"):
            if not isinstance(getattr(model._meta, name), Promise):
                unmarked.append(f"{model.__name__} {name}")
    unmarked += [f"app {app}" for app in OUR_APPS if not isinstance(apps.get_app_config(app).verbose_name, Promise)]
    assert unmarked == []


def test_the_worker_processes_are_listed_to_be_read_only_and_those_not_renewed_are_not_live(
    admin_client: Client, settings: Any
) -> None:
    """Which worker processes run the models, on what and where, as /readyz counts them but with their hosts (the
    operator's, not anyone's to read): each process writes, renews and deletes its own record."""
    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    services.worker_process_seen(
        name="worker-gpu", threads=4, providers=gpu, layout="shared", max_batch=8, models=["u2netp"]
    )
    services.worker_process_seen(
        name="worker-gone", threads=2, providers=gpu, layout="shared", max_batch=1, models=["u2netp"]
    )
    lease_ago = timezone.now() - timedelta(seconds=settings.ITEM_LEASE_SECONDS + 1)
    WorkerProcess.objects.filter(name="worker-gone").update(seen_at=lease_ago)  # its machine went away since

    page = admin_client.get("/admin/removal/workerprocess/").content.decode()
    rows = {name: row for row in page.split("<tr") for name in ("worker-gpu", "worker-gone") if name in row}
    assert "CUDAExecutionProvider" in rows["worker-gpu"] and socket.gethostname() in rows["worker-gpu"]
    assert '<td class="field-max_batch">8<' in rows["worker-gpu"] and 'alt="True"' in rows["worker-gpu"]
    assert 'alt="False"' in rows["worker-gone"]
    one = admin_client.get("/admin/removal/workerprocess/worker-gpu/change/")
    assert one.status_code == 200 and "CUDAExecutionProvider" in one.content.decode()
    assert 'name="_save"' not in one.content.decode()
    assert admin_client.post("/admin/removal/workerprocess/worker-gpu/change/", {"threads": 1}).status_code == 403
    assert admin_client.get("/admin/removal/workerprocess/worker-gpu/delete/").status_code == 403
    assert admin_client.get("/admin/removal/workerprocess/add/").status_code == 403
    assert WorkerProcess.objects.get(name="worker-gpu").threads == 4


def test_admin_is_for_staff_only(client: Client, user: Any) -> None:
    client.force_login(user)
    assert client.get("/admin/removal/item/").status_code == 302


def test_deleting_in_the_admin_takes_the_stored_files_too(admin_client: Client, user: Any) -> None:
    """The admin's own deletion would drop the rows and leave uploads and cutouts in storage."""
    photo = SimpleUploadedFile("p.jpg", photo_bytes(size=(160, 120)))
    batches = [services.batch_create(owner=user) for _ in range(3)]
    items = [services.batch_add_files(batch=batch, files=[photo])[0][0] for batch in batches]
    run_ready_jobs()
    stored = services.stored_image_create(owner=user, upload=SimpleUploadedFile("s.jpg", photo_bytes()))
    files = {item.pk: item_files(Item.objects.get(pk=item.pk)) for item in items}
    assert all(default_storage.exists(name) for names in files.values() for name in names)

    one = admin_client.post(f"/admin/removal/batch/{batches[0].pk}/delete/", {"post": "yes"})
    several = admin_client.post(
        "/admin/removal/item/",
        {"action": "delete_selected", "_selected_action": [str(items[1].pk)], "post": "yes"},
    )
    image = admin_client.post(f"/admin/removal/storedimage/{stored.pk}/delete/", {"post": "yes"})

    assert {one.status_code, several.status_code, image.status_code} == {302}
    assert run_deferred_file_deletions() == 2  # the batch's and the item's, kept a while as the owner's keep them
    for item in items[:2]:
        assert not Item.objects.filter(pk=item.pk).exists()
        assert not any(default_storage.exists(name) for name in files[item.pk])
    assert not default_storage.exists(str(stored.file.name))
    assert all(default_storage.exists(name) for name in files[items[2].pk])


def rows_of_every_kind(count: int) -> None:
    """`count` more rows of each model the admin lists, each of another account."""
    from removal.models import DailyUsage, StoredImage, WebhookDelivery

    start = User.objects.count()
    for index in range(start, start + count):
        owner = User.objects.create_user(f"owner{index}")
        batch = services.batch_create(owner=owner)
        make_item(batch)
        api_key_create(user=owner, name="shop")
        StoredImage.objects.create(owner=owner, filename="x.png", file="x.png", size_bytes=1)
        WebhookDelivery.objects.create(batch=batch, url="https://example.com/hook", items_total=1)
        DailyUsage.objects.create(owner=owner, day="2026-12-01", images=1)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/auth/user/",
        "/admin/accounts/apikey/",
        "/admin/removal/batch/",
        "/admin/removal/item/",
        "/admin/removal/storedimage/",
        "/admin/removal/webhookdelivery/",
        "/admin/removal/dailyusage/",
    ],
)
def test_a_changelist_asks_the_database_as_often_for_many_rows_as_for_few(
    admin_client: Client, path: str, django_assert_max_num_queries: Any
) -> None:
    """A page of 100 rows made a query per row for each owner or batch it named (an operator's list of a busy site's
    items: hundreds of queries a page)."""
    rows_of_every_kind(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(path).status_code == 200
    rows_of_every_kind(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(path).status_code == 200
