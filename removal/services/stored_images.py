"""Stored images: an upload kept for the /store flow, for later /bgremove calls that name it."""

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from accounts.services import account_locked
from removal.cutout import pipeline
from removal.errors import QuotaExceeded
from removal.models import StoredImage
from removal.ops import limits
from removal.services.files import (
    display_filename,
    extension_of,
    storage_delete_quietly,
    storage_save,
    upload_error,
    user_folder,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def stored_image_create(*, owner: "User", upload: Any) -> StoredImage:
    """Keep an uploaded image for later /bgremove calls that name it; pipeline.ImageRejected for one we do not accept.

    STORE_DAILY_MB is held again as the image is recorded, under accounts.services.account_locked: checked only as
    each request began (limits.check_store_room), uploads side by side were all kept past it. QuotaExceeded then, its
    file deleted."""
    error = upload_error(upload, room=1)
    if error is None:
        info = pipeline.inspect_image(upload, max_pixels=settings.MAX_IMAGE_PIXELS)  # raises ImageRejected
    else:
        raise pipeline.ImageRejected(error)
    image = StoredImage(id=uuid.uuid4(), owner=owner, filename=display_filename(upload.name), size_bytes=upload.size)
    image.file.name = storage_save(f"{user_folder(owner.pk)}store/{image.id}.{extension_of(info)}", upload)
    try:
        with transaction.atomic():
            account_locked(user_id=owner.pk)
            limits.check_store_room(owner, size_bytes=upload.size)
            image.save()
    except QuotaExceeded:
        storage_delete_quietly(image.file.name)
        raise
    return image
