"""Results reused: an upload of the same bytes with the same options as one of its owner's earlier cutouts is
finished from a copy of that cutout, without a model run (a rerun, a folder sent again)."""

import contextlib
from datetime import datetime
from pathlib import PurePosixPath

from removal import selectors
from removal.cutout.options import Options
from removal.models import Item
from removal.services.files import StorageUnavailable, item_prefix, storage_copy, storage_errors, stored_sha256
from removal.services.processing import options_of
from removal.services.thumbnails import thumbnail_copy


def result_reused(*, item: Item, now: datetime) -> bool:
    """Finish `item` from the owner's earlier result for the same bytes and options, if there is one.

    The result is copied, not shared, so deleting either batch never breaks the other.
    """
    wanted = Options.from_json(item.batch.options).result_key()
    earlier = next(
        (
            done
            for done in selectors.results_for_bytes(item.batch.owner_id, item.source_sha256)
            if options_of(done).result_key() == wanted
        ),
        None,
    )
    if earlier is None:
        return False
    # A hand-edited result fits that one photo's edit: the model's own is what is reused.
    model_result = earlier.model_result if earlier.model_result else earlier.result
    suffix = PurePosixPath(str(model_result.name)).suffix
    try:
        item.result.name = storage_copy(str(model_result.name), f"{item_prefix(item)}/cutout-reused{suffix}")
        thumbnail_copy(str(model_result.name), item.result.name)
        thumbnail_copy(str(earlier.source.name), str(item.source.name))  # the same bytes: the card's photo too
        # An edited item's sha256 is its edit's: the model's result is hashed here.
        result_sha256 = earlier.result_sha256 if not earlier.model_result else stored_sha256(item.result.name)
    except storage_errors(StorageUnavailable):
        return False  # the earlier result is unreadable: process this one afresh
    if earlier.mask:  # if it cannot be copied, the cutout stands; only a hand edit would miss its starting mask
        with contextlib.suppress(*storage_errors(StorageUnavailable)):
            item.mask.name = storage_copy(str(earlier.mask.name), f"{item_prefix(item)}/mask-reused.png")
    item.status, item.cached = Item.Status.DONE, True
    if earlier.model_result:
        item.result_bytes, item.foreground = earlier.model_result_bytes, earlier.model_foreground
    else:
        item.result_bytes, item.foreground = earlier.result_bytes, earlier.foreground
    item.result_sha256, item.model = result_sha256, earlier.model
    # The model's confidence comes along (a flagged cutout stays flagged in a rerun); a look does not.
    item.confidence, item.quality = earlier.confidence, earlier.quality
    item.started_at = item.finished_at = now
    item.processing_ms = 0
    return True
