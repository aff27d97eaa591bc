"""S3 storage with one boto3 connection for all threads, whose links may name a different address than the servers
use, that copies a file inside the bucket, that lists a folder's files at any depth (and when each was written)
in one listing, and that deletes many files a request.

In compose (or behind a proxy) the web and worker containers reach the bucket
at an internal address (http://minio:9000) that browsers cannot; presigned
links are then signed for AWS_S3_PUBLIC_ENDPOINT_URL instead. On AWS itself
both are the same and nothing changes.
"""

import itertools
import posixpath
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cached_property
from typing import Any

from botocore.config import Config
from django.conf import settings
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

# S3's most keys in one DeleteObjects request.
DELETE_MANY_KEYS = 1000


class SharedConnectionS3Storage(S3Storage):
    """One boto3 connection for every thread (its client is thread-safe; django-storages already shares its bucket).

    django-storages makes a connection per thread, and under ASGI Django runs each request's synchronous code in a
    thread of its own: every request that touched S3 built a new boto3 session, about 85 ms and 13 MB each (a zip
    download grew the server by 13 MB that stayed, ten downloads by 80 MB).
    """

    _connection_lock = threading.Lock()

    def get_default_settings(self) -> dict[str, Any]:
        """django-storages' settings, with a client that gives up within AWS_S3_TIMEOUT_SECONDS a read, after 2 tries
        (why: bgsite/settings.py); made here, where boto is loaded anyway, so that the settings need not load it."""
        defaults: dict[str, Any] = super().get_default_settings()
        defaults["client_config"] = Config(
            signature_version=settings.AWS_S3_SIGNATURE_VERSION,
            connect_timeout=settings.AWS_S3_TIMEOUT_SECONDS,
            read_timeout=settings.AWS_S3_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": 2},
        )
        return defaults

    @property
    def connection(self) -> Any:
        with self._connection_lock:
            if self.__dict__.get("_shared_connection") is None:
                self._shared_connection = super().connection
            return self._shared_connection

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.pop("_shared_connection", None)
        return state


class LinkingS3Storage(SharedConnectionS3Storage):
    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        if not settings.AWS_S3_PUBLIC_ENDPOINT_URL:
            return super().url(name, parameters, expire, http_method)
        return self._public.url(name, parameters, expire, http_method)

    @cached_property
    def _public(self) -> S3Storage:
        return SharedConnectionS3Storage(endpoint_url=settings.AWS_S3_PUBLIC_ENDPOINT_URL)

    def copy(self, source: str, target: str) -> str:
        """A copy of the stored file `source` under a free name like `target`, made inside the bucket (nothing read
        or sent through this process): its name."""
        name = self.get_available_name(target)
        self.bucket.Object(self._normalize_name(clean_name(name))).copy_from(
            CopySource={"Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(source))}
        )
        return name

    def files_under(self, folder: str) -> Iterator[str]:
        """Every file's name under `folder` ("users/7/"), at any depth: S3's keys listed 1,000 to a request, where
        listdir would take a request for each folder."""
        for name, _ in self.files_modified_under(folder):
            yield name

    def files_modified_under(self, folder: str) -> Iterator[tuple[str, datetime]]:
        """files_under's names, each with when it was last written (which the listing says): a page of 1,000 in
        memory at a time, however many the folder holds."""
        prefix = self._normalize_name(clean_name(folder)).rstrip("/") + "/"
        pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        for page in pages:
            for entry in page.get("Contents", ()):
                yield posixpath.join(folder, posixpath.relpath(entry["Key"], prefix)), entry["LastModified"]

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete the stored files `names`, DELETE_MANY_KEYS to a request (DeleteObjects), where delete() takes a
        request a file: an account of 300,000 images holds some 600,000 files, hours one by one, inside its
        deletion's request and transaction. A file gone already is no error, as for delete(); one that S3 refuses
        to delete raises OSError (the caller keeps its rows)."""
        for names_sent in itertools.batched(names, DELETE_MANY_KEYS):
            keys = [{"Key": self._normalize_name(clean_name(name))} for name in names_sent]
            reply = self.connection.meta.client.delete_objects(
                Bucket=self.bucket_name, Delete={"Objects": keys, "Quiet": True}
            )
            if refused := reply.get("Errors"):
                first = refused[0]
                raise OSError(
                    f"S3 refused to delete {len(refused)} of {len(keys)} files, "
                    f"{first.get('Key')} the first: {first.get('Code')} {first.get('Message')}"
                )
