"""Batches of uploaded images and the per-image items that workers process.

Only removal.services writes these rows; reads that take an id from a request go
through removal.selectors, which always scope by owner.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_tasks_db.models import DBTaskResult

from removal.cutout import results
from removal.translated import in_language

# The longest Idempotency-Key header taken (a UUID is 36 characters).
IDEMPOTENCY_KEY_LENGTH = 64
# The longest name a batch may be given (its owner's: "Shoes, spring catalogue").
BATCH_NAME_LENGTH = 100
# The longest file name kept of an upload's (services.display_filename cuts it, keeping its extension).
FILENAME_LENGTH = 255


class Batch(models.Model):
    class Kind(models.TextChoices):
        UPLOAD = "upload", pgettext_lazy("batch kind", "upload")  # made on the page or with the batch API
        BGREMOVE = "bgremove", pgettext_lazy("batch kind", "/bgremove call")  # the single image of one call

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches", verbose_name=_("owner")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.UPLOAD)
    # What its owner calls it (the page names a batch after the folder it was made from); "" for none.
    name = models.CharField(_("name"), max_length=BATCH_NAME_LENGTH, blank=True, default="")
    # Output options for every item of the batch (removal.cutout.options.Options as JSON).
    options = models.JSONField(_("options"), default=dict, blank=True)
    # POSTed a signed summary when the batch finishes (see removal.services.webhook_deliver).
    callback_url = models.URLField(_("callback URL"), max_length=2000, blank=True)
    # An image to composite every cutout onto (the `bg_image` option).
    bg_image = models.FileField(_("background image"), max_length=300, blank=True)
    # How many times its flagged items were queued again with best (removal.services.batch_improve):
    # each improvement that finishes notifies the callback once more.
    improvements = models.PositiveIntegerField(_("improvements"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    # The creating request's Idempotency-Key: the same request sent again (its reply lost) gets this batch.
    idempotency_key = models.CharField(_("idempotency key"), max_length=IDEMPOTENCY_KEY_LENGTH, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        # An owner's batches of a kind, newest first (selectors.batches_for: the batch list, its API): an API
        # client's /bgremove calls, one batch each, were all read for a page of its other batches (0.1 s at 200,000).
        indexes = [models.Index(fields=["owner", "kind", "created_at"], name="batch_owner_kind_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="batch_idempotency_key_once_per_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name or gettext("batch %(id)s") % {"id": self.id}

    def stored_names(self) -> list[str]:
        """The names of the files in storage this row holds itself (its background; its items hold their own)."""
        return [str(self.bg_image.name)] if self.bg_image else []


def needing_review() -> models.Q:
    """Done items whose cutout is less sure than REVIEW_CONFIDENCE_BELOW and nobody has looked at.

    Read at query time, so an operator's new threshold applies to existing items.
    """
    return models.Q(status=Item.Status.DONE, confidence__lt=settings.REVIEW_CONFIDENCE_BELOW, reviewed=False)


class ItemQuerySet(models.QuerySet["Item"]):
    def needing_review(self) -> "ItemQuerySet":
        return self.filter(needing_review())

    def in_sent_order(self) -> "ItemQuerySet":
        """In the order their sender gave them (`position`), then as they arrived: how a batch lists, zips and
        reruns its items."""
        return self.order_by(models.F("position").asc(nulls_last=True), "created_at", "id")


class Item(models.Model):
    class Status(models.TextChoices):  # labelled as the page's cards name them (the API's own word in English)
        QUEUED = "queued", pgettext_lazy("item status", "queued")
        PROCESSING = "processing", pgettext_lazy("item status", "processing")
        DONE = "done", pgettext_lazy("item status", "done")
        FAILED = "failed", pgettext_lazy("item status", "failed")

    FINISHED = (Status.DONE, Status.FAILED)
    # Every field naming a file in storage: the purges delete what these hold.
    FILE_FIELDS = ("source", "result", "model_result", "previous_result", "mask", "edited_mask")

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items", verbose_name=_("batch"))
    # The name the user uploaded, for display only; storage paths never use it.
    filename = models.CharField(_("file name"), max_length=FILENAME_LENGTH)
    # Where the sender put the file among the batch's (the page: the order the photos were dropped in, which its
    # uploads, two at a time, do not keep); null when it did not say. See ItemQuerySet.in_sent_order.
    position = models.PositiveIntegerField(_("position"), null=True, blank=True)
    source = models.FileField(_("upload"), max_length=300)
    source_bytes = models.PositiveBigIntegerField(_("upload size (bytes)"))
    # SHA-256 of the upload: the same bytes with the same options are processed once per account.
    source_sha256 = models.CharField(_("upload SHA-256"), max_length=64, blank=True, db_index=True)
    # True when the result was reused from an earlier identical request instead of processed.
    cached = models.BooleanField(_("reused"), default=False)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    result = models.FileField(_("result"), max_length=300, blank=True)
    result_bytes = models.PositiveBigIntegerField(_("result size (bytes)"), null=True, blank=True)
    # SHA-256 of the result, listed in the zip's manifest.json so a download can be checked.
    result_sha256 = models.CharField(_("result SHA-256"), max_length=64, blank=True)
    # The model that made the result (the batch's option, or the server's default then).
    model = models.CharField(_("model"), max_length=40, blank=True)
    # The subject's box in the result, [left, top, width, height] (remove.bg's X-Foreground-*).
    foreground = models.JSONField(_("subject box"), null=True, blank=True)
    # A hand-edited mask (POST /api/v1/items/<id>/mask) makes a new revision: `result`,
    # `result_bytes` and `foreground` then hold the edited cutout, and these keep the
    # model's own, to revert to and to reuse for identical uploads. `edits` counts
    # saved edits and reverts, so the item's revision keeps growing.
    model_result = models.FileField(_("model's result"), max_length=300, blank=True)
    model_result_bytes = models.PositiveBigIntegerField(_("model's result size (bytes)"), null=True, blank=True)
    model_foreground = models.JSONField(_("model's subject box"), null=True, blank=True)
    edits = models.PositiveIntegerField(_("hand edits"), default=0)
    # How sure the model is of its cutout, 0-1 (removal.cutout.confidence); null for items
    # made before it was measured. A hand edit leaves it (it is the model's) and sets
    # `reviewed`, as does POST .../review: a person looked, so the item no longer needs review.
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    reviewed = models.BooleanField(_("reviewed"), default=False)
    # The quality preset for this item, over its batch's: set when a flagged item is
    # improved with quality=best, and by the worker to the one that made the result.
    quality = models.CharField(_("quality"), max_length=10, blank=True)
    # The day (UTC) its image was last counted against its owner's daily quota: its upload's, or its latest
    # improvement's. A refund (services.usage_given_back) gives back to that day; null for items from before.
    counted_on = models.DateField(_("counted on"), null=True, blank=True)
    # The result an improvement replaced (kept, not lost; purged with the batch).
    previous_result = models.FileField(_("previous result"), max_length=300, blank=True)
    # The alpha before layout, as an L PNG in the photo's frame: the model's (`mask`,
    # from processing a still) and the last saved edit's (`edited_mask`, at the size it
    # was sent). The editor starts from the newest.
    mask = models.FileField(_("model's mask"), max_length=300, blank=True)
    edited_mask = models.FileField(_("edited mask"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The error as a message template and its values, when it has them (a refused input, ImageRejected): what pages
    # show in their reader's language (Item.error_text); `error` is it in English, for the API.
    error_template = models.TextField(_("error template"), blank=True)
    error_values = models.JSONField(_("error values"), default=dict, blank=True)
    # True when it failed because of the input (not an image we can read), as
    # opposed to our side (storage, model); callers get a 4xx or a 5xx.
    input_rejected = models.BooleanField(_("input refused"), default=False)

    # Bookkeeping for exactly-once processing: the worker that claims an item
    # writes a fresh claim_token and keeps lease_until in the future while it
    # works; only the holder of the current token may record the outcome.
    task_id = models.UUIDField(_("job ID"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Claims spent on earlier results (before an improvement queued the item again):
    # ITEM_MAX_ATTEMPTS counts from here, while `attempts` keeps the revision growing.
    attempts_before = models.PositiveSmallIntegerField(_("earlier attempts"), default=0)
    claim_token = models.CharField(_("claim token"), max_length=32, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    queued_at = models.DateTimeField(_("queued at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    processing_ms = models.PositiveIntegerField(_("processing time (ms)"), null=True, blank=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("item")
        verbose_name_plural = _("items")
        indexes = [
            models.Index(fields=["status", "lease_until"]),
            # The account page's usage by day (selectors.usage_by_day) reads the last 30 days' finished items: of
            # an account with few batches through these, of one with very many (/bgremove's, one image each) by
            # the days' items of all accounts. PostgreSQL's planner picks.
            models.Index(fields=["batch", "finished_at"], name="item_batch_finished_idx"),
            models.Index(fields=["finished_at"], name="item_finished_idx"),
            # The admin's list of items, in this order (Meta.ordering): 2.5 s for 1.4 million without.
            models.Index(fields=["created_at", "id"], name="item_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    def stored_names(self) -> list[str]:
        """The names of the files in storage this row holds (FILE_FIELDS that are set)."""
        return [str(getattr(self, field).name) for field in self.FILE_FIELDS if getattr(self, field)]

    def error_cleared(self) -> list[str]:
        """Forget what its error said (an earlier improvement's failure, once it is improved or edited again); the
        fields to save."""
        self.error, self.error_template, self.error_values = "", "", {}
        return ["error", "error_template", "error_values"]

    def error_text(self) -> str:
        """Why it failed, in the active language where the message was marked for translation (see
        accounts.auth: a program's call is English)."""
        if not self.error_template:
            return self.error
        return in_language(self.error_template, self.error_values)

    @property
    def has_cutout(self) -> bool:
        """The row-wise form of selectors.items_with_a_cutout: done, or being improved with the cutout it had."""
        return bool(self.result) and self.status != Item.Status.FAILED

    @property
    def needs_review(self) -> bool:
        """The row-wise form of ItemQuerySet.needing_review."""
        return (
            self.status == Item.Status.DONE
            and self.confidence is not None
            and not self.reviewed
            and results.needs_review(self.confidence, settings.REVIEW_CONFIDENCE_BELOW)
        )


class StoredImage(models.Model):
    """An image uploaded with /store, to be named later in /bgremove by its link or id."""

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stored_images", verbose_name=_("owner")
    )
    filename = models.CharField(_("file name"), max_length=FILENAME_LENGTH)
    file = models.FileField(_("file"), max_length=300)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("stored image")
        verbose_name_plural = _("stored images")

    def __str__(self) -> str:
        return f"{self.filename} ({self.id})"


class WebhookDelivery(models.Model):
    """One "batch finished" notification to a batch's callback_url, retried until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("webhook delivery", "pending")
        DELIVERED = "delivered", pgettext_lazy("webhook delivery", "delivered")
        FAILED = "failed", pgettext_lazy("webhook delivery", "failed")
        # Due while its owner's account was inactive: sent once it is active again (services.webhooks_resume_held).
        HELD = "held", pgettext_lazy("webhook delivery", "held")

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, related_name="webhook_deliveries", verbose_name=_("batch")
    )
    # The batch's size and improvements when it finished: adding files, or improving flagged items,
    # and finishing again notifies again, once.
    items_total = models.PositiveIntegerField(_("batch size"))
    improvement = models.PositiveIntegerField(_("improvement"), default=0)
    url = models.URLField(_("URL"), max_length=2000)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # The error as a message template and its values, when it has them (no answer, an HTTP error): what the account
    # page shows in its reader's language (last_error_text); `last_error` is it in English.
    last_error_template = models.TextField(_("last error template"), blank=True)
    last_error_values = models.JSONField(_("last error values"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "items_total", "improvement"], name="one_delivery_per_completion")
        ]
        indexes = [
            # The reaper's look for held deliveries, every ITEM_LEASE_SECONDS / 4: the few held, not every delivery.
            models.Index(fields=["status"], name="webhook_held_idx", condition=models.Q(status="held")),
            # The admin's list, newest first (ordering, then the admin's -pk): a page read backward, not a sort.
            models.Index(fields=["created_at", "id"], name="webhook_created_idx"),
        ]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return gettext("webhook for %(batch)s (%(status)s)") % {
            "batch": self.batch_id,
            "status": self.get_status_display(),
        }

    def last_error_text(self) -> str:
        """What went wrong at the last attempt, in the active language where the message was marked for translation
        (a refused URL's reason, fetch's, stays English)."""
        if not self.last_error_template:
            return self.last_error
        return in_language(self.last_error_template, self.last_error_values)


class DailyUsage(models.Model):
    """Images one account sent on one UTC day, counted as they are accepted, whatever becomes of them.

    The daily quota (DAILY_IMAGE_QUOTA) reads this rather than the items, so deleting
    images does not give their credits back.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("owner")
    )
    day = models.DateField(_("day"))
    images = models.PositiveIntegerField(_("images"), default=0)
    # Of which size=preview (a quarter of a credit each).
    previews = models.PositiveIntegerField(_("previews"), default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "day"], name="one_usage_row_per_owner_and_day")]
        verbose_name = verbose_name_plural = _("daily usage")

    def __str__(self) -> str:
        images = ngettext(
            "%(owner)s on %(day)s: %(count)d image", "%(owner)s on %(day)s: %(count)d images", self.images
        )
        return images % {"owner": self.owner_id, "day": self.day, "count": self.images}


class JobLease(models.Model):
    """The lease of a running job that the reaper would run again (services.jobs.RERUN_TASKS: webhook deliveries,
    file deletions, account deletions): taken with the job, renewed by its worker while the job runs, as an item's
    lease is, and deleted when it ends. Running past it, the job's worker is taken for dead. No foreign key: the job
    records are django-tasks-db's, deleted by the hundred thousand (services.job_records), which a cascade would
    slow."""

    job_id = models.UUIDField(primary_key=True)
    lease_until = models.DateTimeField()

    class Meta:
        verbose_name = _("job lease")
        verbose_name_plural = _("job leases")

    def __str__(self) -> str:
        return f"job {self.job_id} leased until {self.lease_until}"


class JobRecord(DBTaskResult):
    """django-tasks-db's record of a job, as the admin lists it (removal.admin.JobRecordAdmin): under names of ours, in
    the reader's language. Its own model has no name for a row ("DBTaskResult object (<id>)"), and its app's name is
    not marked for translation ("Tasks Database Backend")."""

    class Meta:
        proxy = True
        verbose_name = _("job record")
        verbose_name_plural = _("job records")

    def __str__(self) -> str:
        return gettext("job %(id)s") % {"id": self.id}


class WorkerProcess(models.Model):
    """A process's worker threads as they last said: what they run the models on, which a web process without worker
    threads (EMBEDDED_WORKERS=0) reports (removal.ops.models_run_on) instead of loading onnxruntime to give its own
    view. Written once a thread has its model and at each pass of the process's reaper, deleted as it stops; one not
    renewed for ITEM_LEASE_SECONDS is taken for dead, as its items are, and deleted by another's reaper."""

    name = models.CharField(_("name"), max_length=64, primary_key=True)  # its WorkerPool's, e.g. worker-1a2b3c4d
    host = models.CharField(_("host"), max_length=255)
    threads = models.PositiveSmallIntegerField(_("worker threads"))
    # onnxruntime's names, in order, as its sessions run on them
    providers = models.JSONField(_("execution providers"))
    layout = models.CharField(_("model session layout"), max_length=16)
    max_batch = models.PositiveSmallIntegerField(_("images per model run"))
    # Those whose weights are in its U2NET_HOME: the models a request to a web process without worker threads may name
    models_installed = models.JSONField(_("installed models"), default=list)
    # {model: SHA-256 hex} of the default model's weights as its sessions loaded them: the first screen's sample, which
    # a web process names by it (removal.services.sample), follows new weights installed under the same name
    weights_sha256 = models.JSONField(_("weights' SHA-256"), default=dict)
    seen_at = models.DateTimeField(_("last seen"), db_index=True)

    class Meta:
        verbose_name = _("worker process")
        verbose_name_plural = _("worker processes")

    def __str__(self) -> str:
        return gettext("%(name)s on %(host)s") % {"name": self.name, "host": self.host}
