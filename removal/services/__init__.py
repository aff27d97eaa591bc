"""Writes: the only code that changes batches and items, one module per entity.

batches     a batch of uploads (or one image whose caller waits, or a stored image), stored and queued
processing  one item through the image core, claimed under a lease, recorded exactly once
edits       a hand-edited mask as the item's newest result, or back to the model's
zips        the batch's zip and its manifest.json, streamed
webhooks    the signed batch summary POSTed when a batch finishes
purge       expired batches, stored images and finished jobs, files first
files       storage writes, names and the upload-size rule the others share

Front doors call `services.<function>`; the names they use are re-exported here.
"""

from removal.services.batches import (
    NothingAccepted,
    RejectedFile,
    batch_add_files,
    batch_create,
    batch_rerun,
    batch_submit,
    image_submit,
    rejected_json,
    stored_image_create,
)
from removal.services.edits import ItemNotEditable, item_mask_revert, item_mask_save
from removal.services.files import StorageUnavailable, display_filename, storage_chunks, upload_size_error
from removal.services.processing import WorkerLost, item_process, items_requeue_stale
from removal.services.purge import PurgeCounts, expired_purge
from removal.services.webhooks import webhook_deliver, webhook_signature
from removal.services.zips import MANIFEST_NAME, batch_manifest, batch_zip, zip_member_names, zip_member_stem

__all__ = [
    "MANIFEST_NAME",
    "ItemNotEditable",
    "NothingAccepted",
    "PurgeCounts",
    "RejectedFile",
    "StorageUnavailable",
    "WorkerLost",
    "batch_add_files",
    "batch_create",
    "batch_manifest",
    "batch_rerun",
    "batch_submit",
    "batch_zip",
    "display_filename",
    "expired_purge",
    "image_submit",
    "item_mask_revert",
    "item_mask_save",
    "item_process",
    "items_requeue_stale",
    "rejected_json",
    "storage_chunks",
    "stored_image_create",
    "upload_size_error",
    "webhook_deliver",
    "webhook_signature",
    "zip_member_names",
    "zip_member_stem",
]
