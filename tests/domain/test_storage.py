"""removal/storage.py against moto's S3 server: a file copied inside the bucket, under a free name; many deleted a
request."""

from typing import Any

from django.core.files.base import ContentFile

from removal import storage as storage_module
from removal.storage import LinkingS3Storage
from tests.conftest import S3Server


def s3_storage(s3_server: S3Server) -> LinkingS3Storage:
    return LinkingS3Storage(
        bucket_name=s3_server.bucket,
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        access_key="testing",
        secret_key="testing",
        file_overwrite=False,  # as bgsite/settings.py sets it
    )


def test_a_copy_is_made_inside_the_bucket_under_a_free_name(s3_server: S3Server) -> None:
    storage = s3_storage(s3_server)
    source = storage.save("users/1/a/cutout.png", ContentFile(b"the cutout's bytes"))
    first = storage.copy(source, "users/1/b/cutout-reused.png")
    second = storage.copy(source, "users/1/b/cutout-reused.png")
    assert first == "users/1/b/cutout-reused.png"
    assert second != first and second.startswith("users/1/b/cutout-reused")  # never over an existing file
    for name in (source, first, second):
        with storage.open(name, "rb") as copied:
            assert copied.read() == b"the cutout's bytes"


def test_many_files_are_deleted_many_to_a_request(s3_server: S3Server, monkeypatch: Any) -> None:
    """delete() takes a request a file: an account of 300,000 images, some 600,000 files, took hours to delete."""
    monkeypatch.setattr(storage_module, "DELETE_MANY_KEYS", 2)
    storage = s3_storage(s3_server)
    names = [storage.save(f"users/1/many/{number}.png", ContentFile(b"x")) for number in range(5)]
    requests: list[str] = []
    events = storage.connection.meta.client.meta.events
    events.register("before-call.s3", lambda model, **kwargs: requests.append(model.name), unique_id="counted")
    try:
        storage.delete_many([*names, "users/1/many/gone-already.png"])
    finally:
        events.unregister("before-call.s3", unique_id="counted")

    assert requests == ["DeleteObjects"] * 3
    assert not any(storage.exists(name) for name in names)
