"""Processing one item: the life of an item after `batches` queued it.

A worker's `item_process` claims it with a conditional update (processing, under a
lease it keeps renewing) -> the outcome is recorded only by the holder of the current
claim (done / failed). A job that raised is retried with backoff; an item whose worker
died is re-queued by `queueing.items_requeue_stale` once its lease runs out. So no accepted
image is lost and none is recorded twice.
"""

import copy
import dataclasses
import functools
import hashlib
import io
import logging
import time
import uuid
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from bgsite.log_context import name_batch
from removal import events, selectors
from removal.cutout import pipeline
from removal.cutout.options import Options
from removal.models import Batch, Item
from removal.ops import metrics
from removal.services.files import bucket_errors, item_prefix, storage_delete_quietly, storage_failure
from removal.services.purge import files_delete_later
from removal.services.queueing import announce_after_commit, enqueue_processing, lease_renewed
from removal.services.thumbnails import thumbnail_name, thumbnail_save
from removal.services.usage import usage_given_back
from removal.services.webhooks import notify_if_batch_finished
from removal.translated import in_english, message

logger = logging.getLogger(__name__)
Status = Item.Status


def item_process(*, item_id: str) -> None:
    """Process one item if it is still waiting (or its previous worker is gone)."""
    claimed = _item_claimed(item_id)
    if claimed is None:
        return  # finished already, another worker holds a live claim, or its owner deleted it just now
    item, token = claimed
    name_batch(item.batch_id)
    if _attempts(item) > settings.ITEM_MAX_ATTEMPTS:
        # An improvement's workers kept dying: it keeps the cutout it had, as when its runs failed.
        _item_failed(item, token, template=WORKERS_LOST, values={"times": _attempts(item) - 1})
        return

    started = time.monotonic()
    try:
        with lease_renewed(item.pk, token):
            cutout = _cut_out(item)
        saved = _cutout_saved(item, cutout, token)
        original_thumbnail_name = _original_thumbnail_saved(item, cutout)
    except pipeline.ImageRejected as exc:
        _item_failed(item, token, input_rejected=True, template=exc.template, values=exc.values)
        return
    except Exception as exc:
        _item_retry_or_fail(item, token, error=exc)
        return
    processing_ms = int((time.monotonic() - started) * 1000)
    _cutout_recorded(item, token, cutout, saved, original_thumbnail_name, processing_ms=processing_ms)


def _failure_reason(exc: Exception) -> str:
    """What an item's error says of an unexpected exception (the log has the whole): an OSError's reason without the
    file it names, a path on this server ("No such file or directory", not where); S3's, its kind (storage_failure:
    its text named the S3 endpoint's address, the bucket and the file, to the user and to a /bgremove caller); any
    other's with the server's folders named by their settings ("Load model from U2NET_HOME/u2net.onnx failed")."""
    if isinstance(exc, bucket_errors()):
        return storage_failure(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    reason = str(exc)
    for setting in ("U2NET_HOME", "DATA_DIR"):
        reason = reason.replace(str(getattr(settings, setting)), setting)
    return reason


def _item_claimed(item_id: str) -> tuple[Item, str] | None:
    """The item and this run's claim token, once this worker holds its claim (a lease, renewed while it runs);
    None when it is finished already, another worker holds a live claim, or its owner's account has ended (deleted:
    its job deletes the item soon; deactivated in the admin: the reaper queues it again once the account is active)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimable = Q(status=Status.QUEUED) | Q(status=Status.PROCESSING, lease_until__lt=now)
    claimed = Item.objects.filter(claimable, pk=item_id, batch__owner__is_active=True).update(
        status=Status.PROCESSING,
        claim_token=token,
        lease_until=now + timedelta(seconds=settings.ITEM_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        started_at=now,
    )
    item = Item.objects.select_related("batch").filter(pk=item_id).first() if claimed == 1 else None
    if item is None:
        return None
    events.item_changed(item_id=item.id, state=item)
    return item, token


class SavedCutout(NamedTuple):
    result_name: str
    result_bytes: int
    result_sha256: str
    mask_name: str  # "" without one


def _cutout_recorded(
    item: Item,
    token: str,
    cutout: pipeline.Cutout,
    saved: SavedCutout,
    original_thumbnail_name: str,
    *,
    processing_ms: int,
) -> None:
    """The item done with its stored cutout, if `token` still holds its claim (else what was stored goes); an
    improvement keeps the result it replaces as `previous_result`, and the one before that and the old mask go."""
    recorded = _item_finish(
        item,
        token,
        status=Status.DONE,
        result=saved.result_name,
        result_bytes=saved.result_bytes,
        result_sha256=saved.result_sha256,
        model=_model_of(item.batch),
        foreground=list(cutout.foreground) if cutout.foreground else None,
        mask=saved.mask_name,
        processing_ms=processing_ms,
        confidence=cutout.confidence,
        cached=False,
        quality=options_of(item).quality,
        previous_result=str(item.result.name),
    )
    if not recorded:
        names = (saved.result_name, thumbnail_name(saved.result_name), saved.mask_name, original_thumbnail_name)
        for name in filter(None, names):
            storage_delete_quietly(name)
    elif item.result:
        previous = str(item.previous_result.name)
        files_delete_later([previous, previous and thumbnail_name(previous), str(item.mask.name)])


def _attempts(item: Item) -> int:
    """Claims of the item's current run (an improvement starts counting again)."""
    return item.attempts - item.attempts_before


def _cutout_saved(item: Item, cutout: pipeline.Cutout, token: str) -> SavedCutout:
    """The cutout, its thumbnail and its mask stored (a video's zip straight from its temporary file).

    A fresh name per claim: a stale worker can never overwrite the result that the
    current claim holder recorded.
    """
    with cutout.body() as body:
        result_sha256 = hashlib.file_digest(body, "sha256").hexdigest()  # type: ignore[arg-type]  # IO has no readinto
        result_bytes = body.seek(0, io.SEEK_END)  # file_digest leaves a BytesIO where it was
        result_name = default_storage.save(f"{item_prefix(item)}/cutout-{token[:8]}.{cutout.extension}", File(body))
    if cutout.thumbnail:
        thumbnail_save(result_name, cutout.thumbnail)
    mask_name = ""
    if cutout.mask_png:
        mask_name = default_storage.save(f"{item_prefix(item)}/mask-{token[:8]}.png", ContentFile(cutout.mask_png))
    return SavedCutout(result_name, result_bytes, result_sha256, mask_name)


def _original_thumbnail_saved(item: Item, cutout: pipeline.Cutout) -> str:
    """The stored name of the thumbnail of the item's photo, kept now from the one its worker made ("" when
    none was made, or on an improvement: the photo has had one since its first run)."""
    if not cutout.original_thumbnail or item.result:
        return ""
    return thumbnail_save(str(item.source.name), cutout.original_thumbnail)


def options_of(item: Item) -> Options:
    """The batch's options, with the item's own quality preset when an improvement set one."""
    options = Options.from_json(item.batch.options)
    return dataclasses.replace(options, quality=item.quality) if item.quality else options


def _cut_out(item: Item) -> pipeline.Cutout:
    """The item's source through the pipeline, with its options, model and background."""
    with item.source.open("rb") as source:
        return cut_out_as_configured(
            source.read(),
            model=_model_of(item.batch),
            options=options_of(item),
            on_frame=functools.partial(events.item_progress, item),
            background=background_of(item.batch),
            # The page shows a batch's cutouts as thumbnails; a /bgremove caller waits for its one image only.
            thumbnail=item.batch.kind == Batch.Kind.UPLOAD,
        )


def cut_out_as_configured(data: bytes, *, model: str, options: Options, **item_inputs: Any) -> pipeline.Cutout:
    """`data` through the pipeline with `model` (on the calling worker thread's sessions) and `options`, under this
    server's settings: limits, PNG compression, the partner `quality=best` averages in. `item_inputs`: what only an
    item has (its progress events, its batch's background, its thumbnail)."""
    return pipeline.cut_out(
        data,
        session=pipeline.model_session(model, settings.U2NET_HOME, solo_threads=settings.ORT_SOLO_THREADS),
        partner=pipeline.best_partner(options.quality, model, settings.QUALITY_BEST_PARTNER, settings.U2NET_HOME),
        max_pixels=settings.MAX_IMAGE_PIXELS,
        compress_level=settings.PNG_COMPRESS_LEVEL,
        options=options,
        max_frames=settings.MAX_ANIMATION_FRAMES,
        **item_inputs,
    )


def _model_of(batch: Batch) -> str:
    return Options.from_json(batch.options).model or settings.REMBG_MODEL


def background_of(batch: Batch) -> Any:
    if not batch.bg_image:
        return None
    with batch.bg_image.open("rb") as stored:
        return pipeline.decode_image(stored.read(), max_pixels=settings.MAX_IMAGE_PIXELS)


def _item_finish(item: Item, token: str, *, status: str, **fields: Any) -> bool:
    """Record the outcome if `token` still holds the claim; True when recorded."""
    fields |= {"status": status, "finished_at": timezone.now(), "lease_until": None}
    recorded = Item.objects.filter(pk=item.pk, status=Status.PROCESSING, claim_token=token).update(**fields)
    if recorded:
        announce_after_commit(_as_recorded(item, fields))  # not before: a refund that fails undoes the record
        processing_ms = fields.get("processing_ms")
        metrics.item_finished(
            status=status,
            model=_model_of(item.batch),
            seconds=processing_ms / 1000 if processing_ms else None,
            confidence=fields.get("confidence"),
        )
        notify_if_batch_finished(item.batch)
    return recorded == 1


def _as_recorded(item: Item, fields: dict[str, Any]) -> Item:
    """The item as `fields` left its row: what reading it again would give, without the query."""
    recorded = copy.copy(item)
    for name, value in fields.items():
        setattr(recorded, name, value)
    return recorded


# Why an item failed for good, as templates and their values (Item.error_text shows them in the reader's language;
# an exception's own text, the reason of a failed run, stays as Python wrote it). A count is worded so that no
# language needs a plural form for it: a template has one form, and "after 1 attempts" read wrong.
WORKERS_LOST = gettext_noop(
    "processing stopped unexpectedly on every attempt (%(times)d in all); giving up on this image"
)
GAVE_UP = gettext_noop("processing failed: %(reason)s (gave up at attempt %(attempts)d)")
# An improvement whose every run failed: the item keeps the cutout it had, and says so (its reason a message in it).
IMPROVEMENT_FAILED = gettext_noop(
    "improving this cutout failed (%(reason)s); it keeps the one it had, and nothing was counted for it"
)


def _item_failed(
    item: Item,
    token: str,
    *,
    template: str,
    values: dict[str, Any],
    input_rejected: bool = False,
    error: Exception | None = None,
) -> None:
    """Record that the run failed for good, for the reason `template` % `values` says: the item fails, unless it was
    being improved (it has a cutout already), which then keeps the cutout it had, made with its batch's own quality,
    stays flagged, says why its improvement failed, and has the image the improvement counted given back.

    A failure that is the server's (storage down, workers lost; not `input_rejected`) gives its image back too: the
    caller sends it again, a /bgremove caller at once, and was counted twice for one cutout.

    Logged once, the job's item and batch named (bgsite.log_context): a refused image at INFO (its sender's
    mistake), the server's failure at ERROR, with the traceback of `error`, the exception that ended the last run."""
    if not item.result:
        level = logging.INFO if input_rejected else logging.ERROR
        logger.log(level, "the item failed: %s", in_english(template, values), exc_info=error)
        with transaction.atomic():  # recorded and refunded together, or neither (the reaper then runs it again)
            recorded = _item_finish(
                item,
                token,
                status=Status.FAILED,
                error=in_english(template, values),
                input_rejected=input_rejected,
                error_template=template,
                error_values=values,
            )
            if recorded and not input_rejected:
                usage_given_back(item=item)
        return
    logger.warning(
        "improving the item failed; it keeps the cutout it had: %s", in_english(template, values), exc_info=error
    )
    reason = {"reason": message(template, values)}
    failed = {
        "error": in_english(IMPROVEMENT_FAILED, reason),
        "error_template": IMPROVEMENT_FAILED,
        "error_values": reason,
    }
    with transaction.atomic():  # recorded and refunded together, or neither (the reaper then runs it again)
        if _item_finish(item, token, status=Status.DONE, quality="", **failed):
            usage_given_back(item=item)


def _item_retry_or_fail(item: Item, token: str, *, error: Exception) -> None:
    """After a run that raised `error`: the item queued again, with backoff (a WARNING line, no traceback), or failed
    at its last attempt (_item_failed's ERROR line, with it)."""
    reason, delay_seconds = _failure_reason(error), 2 ** _attempts(item)
    if _attempts(item) >= settings.ITEM_MAX_ATTEMPTS:
        _item_failed(item, token, template=GAVE_UP, values={"reason": reason, "attempts": _attempts(item)}, error=error)
        return
    logger.warning(
        "attempt %d of %d failed, trying again in %d s: %s",
        *(_attempts(item), settings.ITEM_MAX_ATTEMPTS, delay_seconds, reason),
    )
    with transaction.atomic():
        requeued = Item.objects.filter(pk=item.pk, status=Status.PROCESSING, claim_token=token).update(
            status=Status.QUEUED, claim_token="", lease_until=None, queued_at=timezone.now()
        )
        if requeued:
            task_id = enqueue_processing(
                item.pk,
                kind=item.batch.kind,
                waiting_ahead=selectors.queued_count(item.batch.owner_id) - 1,  # queued again just above
                delay_seconds=delay_seconds,
            )
            Item.objects.filter(pk=item.pk).update(task_id=task_id)
            item.status, item.task_id = Status.QUEUED, task_id
            announce_after_commit(item)
