"""Writes: the only code that changes batches and items, one module per entity.

batches     a batch of uploads (or one image whose caller waits), stored and queued
refusals    why an upload is refused before it is stored, by name (an option's refusal names the option)
stored_images  an upload kept for /store, within STORE_DAILY_MB
processing  one item through the image core, claimed under a lease, recorded exactly once
queueing    each image's job and its place, the lease its worker renews, the requeue of what a dead worker left
edits       a hand-edited mask as the item's newest result, or back to the model's
review      a person's look at a flagged cutout, and flagged items made again with quality=best
zips        the batch's zip and its manifest.json, streamed
webhooks    the signed batch summary POSTed when a batch finishes
purge       expired batches, stored images and finished jobs, a batch its owner deletes, and a deleted
            user's everything, files first
jobs        webhook deliveries, file and account deletions: leased while they run, queued again when a lease runs out
sample      the first screen's before/after, cut out by a worker and kept in storage
thumbnails  the small WebPs of an item's original and result that the page's cards show, kept beside them
usage       the daily quota's count: images counted when accepted, given back where nothing charged was made
worker_processes  what each process's worker threads run the models on, renewed while they live
files       storage writes, names and the upload-size rule the others share

Front doors call `services.<function>`; the names they use are re-exported here.
"""

from removal.services.batches import (
    BatchDeleted,
    NothingAccepted,
    batch_add_files,
    batch_create,
    batch_rename,
    batch_rerun,
    batch_submit,
    image_submit,
)
from removal.services.edits import ItemDeleted, ItemNotEditable, item_mask_revert, item_mask_save
from removal.services.files import (
    StorageUnavailable,
    display_filename,
    opened_storage_file,
    storage_chunks,
    stored_file_chunks,
    upload_size_error,
)
from removal.services.job_records import JOB_RECORDS_KEPT_WITHOUT_RETENTION, finished_jobs_purge
from removal.services.jobs import job_lease_renewed, job_lease_taken, jobs_requeue_lost
from removal.services.processing import item_process
from removal.services.purge import (
    BatchDeleteCounts,
    PurgeCounts,
    UserPurgeCounts,
    batch_delete,
    daily_sweep,
    expired_purge,
    files_delete,
    item_delete,
    orphaned_files_sweep,
    stored_image_delete,
    user_batches_purge,
    user_data_purge,
)
from removal.services.queueing import WorkerLost, items_requeue_stale
from removal.services.refusals import RejectedFile, rejected_json
from removal.services.review import IMPROVED_QUALITY, NothingToImprove, batch_improve, item_review
from removal.services.sample import sample_cutout, sample_cutout_make, sample_cutout_or_request
from removal.services.stored_images import stored_image_create
from removal.services.thumbnails import item_thumbnail
from removal.services.usage import usage_given_back
from removal.services.webhooks import check_callback_url, webhook_deliver, webhook_signature, webhooks_resume_held
from removal.services.worker_processes import worker_process_gone, worker_process_seen
from removal.services.zips import (
    MANIFEST_NAME,
    batch_manifest,
    batch_zip,
    zip_filename,
    zip_member_names,
    zip_member_stem,
)

__all__ = [
    "IMPROVED_QUALITY",
    "JOB_RECORDS_KEPT_WITHOUT_RETENTION",
    "MANIFEST_NAME",
    "BatchDeleteCounts",
    "BatchDeleted",
    "ItemDeleted",
    "ItemNotEditable",
    "NothingAccepted",
    "NothingToImprove",
    "PurgeCounts",
    "RejectedFile",
    "StorageUnavailable",
    "UserPurgeCounts",
    "WorkerLost",
    "batch_add_files",
    "batch_create",
    "batch_delete",
    "batch_improve",
    "batch_manifest",
    "batch_rename",
    "batch_rerun",
    "batch_submit",
    "batch_zip",
    "check_callback_url",
    "daily_sweep",
    "display_filename",
    "expired_purge",
    "files_delete",
    "finished_jobs_purge",
    "image_submit",
    "item_delete",
    "item_mask_revert",
    "item_mask_save",
    "item_process",
    "item_review",
    "item_thumbnail",
    "items_requeue_stale",
    "job_lease_renewed",
    "job_lease_taken",
    "jobs_requeue_lost",
    "opened_storage_file",
    "orphaned_files_sweep",
    "rejected_json",
    "sample_cutout",
    "sample_cutout_make",
    "sample_cutout_or_request",
    "storage_chunks",
    "stored_file_chunks",
    "stored_image_create",
    "stored_image_delete",
    "upload_size_error",
    "usage_given_back",
    "user_batches_purge",
    "user_data_purge",
    "webhook_deliver",
    "webhook_signature",
    "webhooks_resume_held",
    "worker_process_gone",
    "worker_process_seen",
    "zip_filename",
    "zip_member_names",
    "zip_member_stem",
]
