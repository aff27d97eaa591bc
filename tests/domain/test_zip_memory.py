"""Live: the batch zip streams from S3 with the server's memory flat in the number and size of files.

Three batches are put in the bucket directly (40 cutouts / 10 MB, 100 cutouts / 100 MB
and 5 cutouts of 20 MB); the server's RSS is sampled while each zip is read by a slowish
client, the small one three times. The figures are printed (run with -s). Measured on a
2-core Xeon: +17 MB for every download: a fixed cost (the S3 client, made by the first),
nothing per download, file, byte or member size. Before, each download made a boto3
session of its own (+13 MB that stayed: the third small zip +43 MB) and the 20 MB members
were read whole (+109 MB).
"""

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, PeakRss, S3Server, require_or_skip, rss_bytes

pytestmark = pytest.mark.live

SMALL = (40, 256 * 1024)  # a 10 MB zip
LARGE = (100, 1024 * 1024)  # a 100 MB zip
BIG_MEMBERS = (5, 20 * 1024 * 1024)  # a 100 MB zip of 50 MP cutouts

SEED = """
import os, uuid
from concurrent.futures import ThreadPoolExecutor
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.utils import timezone
from removal.models import Batch, Item

owner = User.objects.get(username="zipper")
now = timezone.now()
bucket = default_storage.connection.meta.client  # a client, unlike the storage, may be shared by threads
noise = os.urandom(max(size for _, size in {batches}))  # incompressible, made once: 230 MB of it took 0.85 s


def put(name, size):
    bucket.put_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=name, Body=noise[:size])


with ThreadPoolExecutor(4) as pool:  # a put waits on moto more than on this process
    for count, size in {batches}:
        batch = Batch.objects.create(owner=owner)
        items = []
        for index in range(count):
            item_id = uuid.uuid4()
            items.append(Item(id=item_id, batch=batch, filename=f"photo-{{index}}.jpg", source="unused",
                              source_bytes=1, width=1, height=1, status="done",
                              result=f"users/{{owner.pk}}/batches/{{batch.pk}}/{{item_id}}/cutout.png",
                              result_bytes=size, queued_at=now, finished_at=now))
        list(pool.map(lambda item: put(item.result.name, item.result_bytes), items))  # raises what a put raised
        Item.objects.bulk_create(items)
        print(batch.pk)
"""


def download_sampling_rss(server: LiveServer, key: str, batch_id: str, pid: int) -> tuple[int, int, float]:
    """(zip size, peak server RSS, seconds to first byte), reading the zip like a slowish client."""
    started = time.monotonic()
    first_byte = 0.0
    body = io.BytesIO()
    with (
        PeakRss(pid, interval=0.02) as memory,
        requests.get(
            f"{server.url}/api/v1/batches/{batch_id}/zip", headers={"X-Api-Key": key}, stream=True, timeout=300
        ) as reply,
    ):
        assert reply.status_code == 200
        for chunk in reply.iter_content(256 * 1024):
            first_byte = first_byte or time.monotonic() - started
            body.write(chunk)
            time.sleep(0.001)  # the server must not run ahead of its client and buffer
    peak = memory.peak
    with zipfile.ZipFile(body) as archive:
        assert archive.testzip() is None
    return body.tell(), peak, first_byte


def test_zip_streams_from_s3_with_memory_flat_in_downloads_and_size(server_factory: Any, s3_server: S3Server) -> None:
    if not Path("/proc/self/status").exists():
        require_or_skip("needs /proc to read the server's memory")
    server: LiveServer = server_factory(**s3_server.env, EMBEDDED_WORKERS="0")
    server.start()
    key = server.create_user("zipper")
    assert server.process is not None
    pid = server.process.pid
    shapes = {"small": SMALL, "large": LARGE, "big members": BIG_MEMBERS}
    seeded = server.manage("shell", "-c", SEED.format(batches=list(shapes.values()))).strip().splitlines()
    batches = dict(zip(shapes, seeded[-len(shapes) :], strict=True))
    baseline = rss_bytes(pid)
    peaks = []
    for label, (count, member_size) in [("small", SMALL)] * 3 + [("large", LARGE), ("big members", BIG_MEMBERS)]:
        size, peak, first_byte = download_sampling_rss(server, key, batches[label], pid)
        print(
            f"\n{label}: {size / 1e6:.0f} MB zip from S3, first byte after {first_byte:.2f} s, "
            f"server RSS {baseline / 1e6:.0f} MB + {(peak - baseline) / 1e6:.1f} MB"
        )
        assert size > count * member_size
        peaks.append(peak)
    # A fixed cost (the S3 client, made by the first download) is allowed; growth with downloads, files, bytes and
    # member size is not.
    assert max(peaks) - peaks[0] < 8e6
    assert max(peaks) - baseline < 48e6
