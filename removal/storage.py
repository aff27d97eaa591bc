"""S3 storage whose links may name a different address than the servers use, and that lists a folder's files at
any depth in one listing.

In compose (or behind a proxy) the web and worker containers reach the bucket
at an internal address (http://minio:9000) that browsers cannot; presigned
links are then signed for AWS_S3_PUBLIC_ENDPOINT_URL instead. On AWS itself
both are the same and nothing changes.
"""

import posixpath
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from django.conf import settings
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class LinkingS3Storage(S3Storage):
    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        if not settings.AWS_S3_PUBLIC_ENDPOINT_URL:
            return super().url(name, parameters, expire, http_method)
        return self._public.url(name, parameters, expire, http_method)

    @cached_property
    def _public(self) -> S3Storage:
        return S3Storage(endpoint_url=settings.AWS_S3_PUBLIC_ENDPOINT_URL)

    def files_under(self, folder: str) -> Iterator[str]:
        """Every file's name under `folder` ("users/7/"), at any depth: S3's keys listed 1,000 to a request, where
        listdir would take a request for each folder."""
        prefix = self._normalize_name(clean_name(folder)).rstrip("/") + "/"
        pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        for page in pages:
            for entry in page.get("Contents", ()):
                yield posixpath.join(folder, posixpath.relpath(entry["Key"], prefix))
