"""removal/storage.py against moto's S3 server: a file copied inside the bucket, under a free name."""

from django.core.files.base import ContentFile

from removal.storage import LinkingS3Storage
from tests.conftest import S3Server


def test_a_copy_is_made_inside_the_bucket_under_a_free_name(s3_server: S3Server) -> None:
    storage = LinkingS3Storage(
        bucket_name=s3_server.bucket,
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        access_key="testing",
        secret_key="testing",
        file_overwrite=False,  # as bgsite/settings.py sets it
    )
    source = storage.save("users/1/a/cutout.png", ContentFile(b"the cutout's bytes"))
    first = storage.copy(source, "users/1/b/cutout-reused.png")
    second = storage.copy(source, "users/1/b/cutout-reused.png")
    assert first == "users/1/b/cutout-reused.png"
    assert second != first and second.startswith("users/1/b/cutout-reused")  # never over an existing file
    for name in (source, first, second):
        with storage.open(name, "rb") as copied:
            assert copied.read() == b"the cutout's bytes"
