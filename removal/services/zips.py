"""Zips: a batch's cutouts and manifest.json, streamed from storage, under safe and unique names."""

import json
import logging
import uuid
from pathlib import PurePosixPath
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.utils import timezone
from django.utils.text import get_valid_filename
from zipstream import ZipStream

from removal import selectors, serializers
from removal.models import Batch, Item
from removal.services.files import batch_folder, storage_chunks, stored_files_under

Status = Item.Status

logger = logging.getLogger(__name__)


# Every zip ends with this member, listing each item of the batch (failed ones too).
MANIFEST_NAME = "manifest.json"


WINDOWS_RESERVED_NAMES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{n}" for n in [*range(1, 10), *"\u00b9\u00b2\u00b3"]),  # superscript 1-3 too: Windows refuses "COM¹"
    *(f"LPT{n}" for n in [*range(1, 10), *"\u00b9\u00b2\u00b3"]),
}


# A manifest's error for a cutout that storage no longer holds (lost outside bgsite: a volume restored, a bucket
# emptied by hand), which the zip leaves out instead of breaking off where it would have been.
MISSING_FROM_STORAGE = "its cutout file is missing from storage, so the zip leaves it out; run it again to remake it"


def batch_zip(*, batch: Batch) -> ZipStream:
    """A zip of the batch's finished cutouts and their manifest.json, produced chunk by chunk as it is read.

    Members are read from storage only while the zip is being sent, so memory
    stays flat however many files the batch has. Names are safe and unique.
    """
    archive = ZipStream(sized=True)
    items, member_names, manifest = _zip_contents(batch)
    for item in items:
        if item.id in member_names:
            archive.add(storage_chunks(str(item.result.name)), member_names[item.id], size=item.result_bytes)
    archive.add(json.dumps(manifest, indent=2).encode(), MANIFEST_NAME)
    return archive


def batch_manifest(*, batch: Batch) -> dict[str, Any]:
    """The zip's manifest.json for `batch`, naming each cutout as the zip does."""
    return _zip_contents(batch)[2]


def _zip_contents(batch: Batch) -> tuple[list[Item], dict[uuid.UUID, str], dict[str, Any]]:
    """The batch's items, the member name of each cutout the zip holds, and its manifest. A zip's size is stated
    before its first byte, so a cutout storage has lost is found now and left out (the manifest says why), not
    when its turn comes and the download would break off."""
    items = selectors.batch_items(batch)
    member_names = zip_member_names(items)
    stored = set(stored_files_under(batch_folder(batch)))
    missing = [item for item in items if item.id in member_names and str(item.result.name) not in stored]
    for item in missing:
        logger.error("the cutout %s of item %s is missing from storage; the zip leaves it out", item.result, item.pk)
        del member_names[item.id]
    errors = {item.id: MISSING_FROM_STORAGE for item in missing}
    return items, member_names, serializers.serialize_manifest(batch, items, member_names, errors=errors)


def zip_filename(batch: Batch) -> str:
    """A name that tells one batch's download from another's: <its name, made safe>-cutouts.zip, or without a name
    (or one of which a file name keeps nothing, as emoji) cutouts-<day made>-<start of its id>.zip."""
    words = batch.name.replace("/", " ").replace("\\", " ")  # a name, not a path: all of "Spring/Summer" names it
    if words and (stem := zip_member_stem(words + ".zip", fallback="")):
        return f"{stem}-cutouts.zip"
    return f"cutouts-{timezone.localtime(batch.created_at):%Y-%m-%d}-{str(batch.id)[:8]}.zip"  # the page's day


def zip_member_names(items: list[Item]) -> dict[uuid.UUID, str]:
    """The zip member name of each item with a cutout (done, or being improved: its cutout until then), its uploaded
    name made safe and unique."""
    taken = {MANIFEST_NAME}
    return {
        item.id: _unique_member_name(item.filename, PurePosixPath(str(item.result.name)).suffix, taken)
        for item in items
        if item.has_cutout
    }


def zip_member_stem(filename: str, fallback: str = "image") -> str:
    """A safe file name stem from an uploaded name: 'My photo.v2.JPG' -> 'My_photo_v2'; `fallback` for '???.jpg'."""
    try:
        stem = get_valid_filename(PurePosixPath(filename).stem.replace(".", "_"))
    except SuspiciousFileOperation:  # nothing usable left, e.g. '???.jpg'
        stem = ""
    if stem.upper() in WINDOWS_RESERVED_NAMES:
        stem = f"{stem}_"  # 'con.png' cannot be extracted on Windows
    return (stem or fallback)[:100]


def _unique_member_name(filename: str, suffix: str, taken: set[str]) -> str:
    stem = zip_member_stem(filename)
    candidate, counter = f"{stem}{suffix}", 2
    while candidate.lower() in taken:
        candidate, counter = f"{stem}-{counter}{suffix}", counter + 1
    taken.add(candidate.lower())
    return candidate
