"""The admin for batches, items, stored images, webhook deliveries, daily usage and job records; deleting there goes
through the services, as the owner's Delete does, so no stored file is left behind."""

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Lookup, Q, QuerySet
from django.db.models.expressions import BaseExpression, Col
from django.db.models.functions import Left
from django.db.models.sql import Query
from django.db.models.sql.where import WhereNode
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from accounts import selectors as account_selectors
from bgsite.admin_history import HistoryInReadersLanguage
from removal import services
from removal.models import Batch, DailyUsage, Item, JobRecord, StoredImage, WebhookDelivery, WorkerProcess

# The characters of a webhook's URL that its search's index holds (migration 0019): 2,000 characters of a URL that are
# not all ASCII may pass the 2,704 bytes a PostgreSQL index takes in a row, and the delivery would not be saved.
URL_START_INDEXED = 200


class EstimatedCountPaginator(Paginator):
    """The admin's pages of a table that grows with use. On PostgreSQL a count past ESTIMATED_FROM is the planner's
    estimate: the whole table's, which every page of the unfiltered list showed, its rows as autovacuum's ANALYZE
    counted them (pg_class.reltuples; counting 1.4 million items read them all, 0.25-0.4 s a page); a list filtered on
    the table's own columns (a status, a day, a name's start), the rows its plan expects, from the same statistics
    (the items done, 0.23-0.54 s counted at a million). A list filtered through another table (an account's items), and
    any smaller count, are counted."""

    ESTIMATED_FROM = 100_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet) and connections[rows.db].vendor == "postgresql":
            estimate = _estimated_rows(rows)
            if estimate >= self.ESTIMATED_FROM:
                return estimate
        return super().count


def _estimated_rows(rows: QuerySet[Any]) -> int:
    """PostgreSQL's estimate of the rows of `rows`: the table's, unfiltered; else its plan's, when it filters only on
    the table's own columns, whose statistics ANALYZE keeps; 0 otherwise."""
    table = rows.model._meta.db_table
    with connections[rows.db].cursor() as cursor:
        if not rows.query.where:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            return int(cursor.fetchone()[0])
        if not _on_own_columns(rows.query.where, table):
            return 0
        sql, params = rows.order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        return int(cursor.fetchone()[0][0]["Plan"]["Plan Rows"])


def _on_own_columns(node: Any, table: str) -> bool:
    """Whether a query's filter compares only columns of `table` with values (no join, no subquery)."""
    if isinstance(node, WhereNode):
        return all(_on_own_columns(child, table) for child in node.children)
    return (
        isinstance(node, Lookup)
        and isinstance(node.lhs, Col)
        and node.lhs.alias == table
        and not isinstance(node.rhs, (Query, BaseExpression))
    )


class MadeByTheService(HistoryInReadersLanguage):
    """The admin of rows that only the services make, from an upload, a call or a finished batch: its Add page would
    save a row without the owner, batch or file it needs (a 500 on Save), so it has none."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class GrowingTable(MadeByTheService):
    """The admin of a table that grows with use (1.4 million items after a year of a busy server): its pages count
    through EstimatedCountPaginator, a filtered list counts only its own rows, not the whole table's besides (0.3-0.6 s
    a count), and its search looks up by index what it is given:

    - an id (a UUID, as the logs and the API name rows) in `id_fields`;
    - an account's username or address, that account's rows (`owner_field`, its folded names' index);
    - anything else, the rows whose `prefix_field` starts with it, case aside (an index on its upper case, on
      PostgreSQL: migrations 0018 and 0019), or on its first `prefix_indexed` characters where it may be longer than
      a PostgreSQL index takes in a row (2,704 bytes: a URL of 2,000 characters that are not all ASCII).

    search_fields' `icontains` on the id's text and on the names read the whole table, 4-9 s at 1.4 million, and
    Django's search of several fields at once ORs them across the joined tables, which no index serves."""

    id_fields: tuple[str, ...] = ("pk",)
    owner_field = ""
    prefix_field = ""
    prefix_indexed = 0  # the whole field
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        try:
            wanted = uuid.UUID(term)
        except ValueError:
            pass
        else:
            found = Q()
            for field in self.id_fields:
                found |= Q(**{field: wanted})
            return queryset.filter(found), False
        if not self.owner_field or not term:
            return super().get_search_results(request, queryset, search_term)
        if owners := list(account_selectors.accounts_named(term).values_list("pk", flat=True)):
            return queryset.filter(**{f"{self.owner_field}__in": owners}), False
        starts = queryset.filter(**{f"{self.prefix_field}__istartswith": term})
        if self.prefix_indexed:  # through the index of the field's start; then the whole term, past it
            starts = starts.alias(indexed_start=Left(self.prefix_field, self.prefix_indexed))
            starts = starts.filter(indexed_start__istartswith=term[: self.prefix_indexed])
        return starts, False


class DeletesThroughTheService(GrowingTable):
    """Deleting here does what the owner's Delete does (files first, waiting jobs, then rows), one by one;
    the admin's own deletion would leave the stored files behind."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_through_the_service(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_through_the_service(obj)

    def delete_through_the_service(self, obj: Any) -> None:
        raise NotImplementedError


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    can_delete = False
    fields = ("filename", "status", "attempts", "error", "processing_ms", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(DeletesThroughTheService):
    list_display = ("id", "name", "owner", "kind", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("=id", "=owner__username", "=owner__email", "^name")  # as get_search_results reads them
    search_help_text = _("A batch's id, an account's username or e-mail address, or the start of a batch's name.")
    owner_field, prefix_field = "owner", "name"
    readonly_fields = ("id", "owner", "kind", "created_at")
    inlines = [ItemInline]

    def delete_through_the_service(self, obj: Batch) -> None:
        services.batch_delete(batch=obj)


@admin.register(Item)
class ItemAdmin(DeletesThroughTheService):
    list_display = ("filename", "status", "batch", "attempts", "processing_ms", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "=batch__id", "=batch__owner__username", "=batch__owner__email", "^filename")
    search_help_text = _(
        "An item's or its batch's id, an account's username or e-mail address, or a file name's start."
    )
    id_fields = ("pk", "batch_id")
    owner_field, prefix_field = "batch__owner", "filename"
    readonly_fields = [field.name for field in Item._meta.fields]

    def delete_through_the_service(self, obj: Item) -> None:
        services.item_delete(item=obj)


@admin.register(StoredImage)
class StoredImageAdmin(DeletesThroughTheService):
    list_display = ("filename", "owner", "size_bytes", "created_at")
    list_filter = ("created_at",)
    search_fields = ("=id", "=owner__username", "=owner__email", "^filename")  # as get_search_results reads them
    search_help_text = _("A stored image's id, an account's username or e-mail address, or a file name's start.")
    owner_field, prefix_field = "owner", "filename"
    readonly_fields = ("id", "owner", "filename", "file", "size_bytes", "created_at")

    def delete_through_the_service(self, obj: StoredImage) -> None:
        services.stored_image_delete(image=obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(GrowingTable):
    list_display = ("batch", "url", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "=batch__id", "=batch__owner__username", "=batch__owner__email", "^url")
    search_help_text = _("A delivery's or its batch's id, an account's username or e-mail address, or a URL's start.")
    id_fields = ("pk", "batch_id")
    owner_field, prefix_field, prefix_indexed = "batch__owner", "url", URL_START_INDEXED
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]


@admin.register(DailyUsage)
class DailyUsageAdmin(MadeByTheService):
    list_display = ("owner", "day", "images", "previews")
    list_filter = ("day",)
    search_fields = ("owner__username",)
    readonly_fields = ("owner", "day", "images", "previews")


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    """The worker processes as they last said what they run the models on, to be read only: each process writes,
    renews and deletes its own record, and one not renewed for ITEM_LEASE_SECONDS is deleted by another's reaper (or
    kept, not live, when none runs)."""

    list_display = (
        "name",
        "host",
        "threads",
        "providers",
        "layout",
        "max_batch",
        "models_installed",
        "weights_sha256",
        "seen_at",
        "live",
    )
    list_filter = ("host", "layout")
    ordering = ("host", "name")

    @admin.display(boolean=True, description=_("live"))
    def live(self, obj: WorkerProcess) -> bool:
        """Renewed within ITEM_LEASE_SECONDS, as the web processes count it (removal.ops.models_run_on)."""
        return obj.seen_at >= timezone.now() - timedelta(seconds=settings.ITEM_LEASE_SECONDS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(DBTaskResult)

# django-tasks-db marks its model's (shown with its permissions), fields' and statuses' names for translation but has
# no catalog of its own: ours holds them, and makemessages, which reads only our source, keeps them there because they
# are named here.
JOB_RECORD_NAMES = (
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
    gettext_noop("status"),
    gettext_noop("enqueued at"),
    gettext_noop("started at"),
    gettext_noop("finished at"),
    gettext_noop("args kwargs"),
    gettext_noop("priority"),
    gettext_noop("task path"),
    gettext_noop("worker id"),
    gettext_noop("queue name"),
    gettext_noop("backend name"),
    gettext_noop("return value"),
    gettext_noop("exception class path"),
    pgettext_lazy("Task", "Ready"),
    pgettext_lazy("Task", "Running"),
    pgettext_lazy("Task", "Failed"),
    pgettext_lazy("Task", "Successful"),
)


@admin.register(JobRecord)
class JobRecordAdmin(DBTaskResultAdmin):
    """django-tasks-db's list of job records (one an image processed, kept RETENTION_DAYS), newest first through an
    index (migration 0015), filtered by status only: its filters by priority and queue listed the values of every
    row (0.35 s each at 1.4 million; bgsite has one queue, and priorities by the hundred from its fair shares).
    2.6 s a look at 1.4 million. The whole list's count is PostgreSQL's estimate (EstimatedCountPaginator).

    Listed as our JobRecord, django-tasks-db's under names of ours, and its columns and fields that are not the
    model's fields' are named here, in the reader's language: the id's and the task's ("id", "Task name") came from
    their Python names, the traceback's and "run after" from unmarked descriptions."""

    list_display = ("job_id", "task", "status", "enqueued_at", "started_at", "finished_at", "priority", "queue_name")
    list_filter = ("status",)  # type: ignore[assignment]  # django-tasks-db typed its three as a 3-tuple
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_readonly_fields(self, request: HttpRequest, obj: DBTaskResult | None = None) -> list[str]:
        return ["job_id" if name == "id" else name for name in super().get_readonly_fields(request, obj)]

    @admin.display(description=_("ID"), ordering="id")
    def job_id(self, job: DBTaskResult) -> uuid.UUID:
        return job.id

    @admin.display(description=_("task"))
    def task(self, job: DBTaskResult) -> str:
        return job.task_name

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, job: DBTaskResult) -> str:
        return super().formatted_traceback(job)

    @admin.display(description=_("run after"))
    def display_run_after(self, job: DBTaskResult) -> Any:
        return super().display_run_after(job)
