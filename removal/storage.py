"""S3 storage whose links may name a different address than the servers use.

In compose (or behind a proxy) the web and worker containers reach the bucket
at an internal address (http://minio:9000) that browsers cannot; presigned
links are then signed for AWS_S3_PUBLIC_ENDPOINT_URL instead. On AWS itself
both are the same and nothing changes.
"""

from functools import cached_property
from typing import Any

from django.conf import settings
from storages.backends.s3 import S3Storage


class LinkingS3Storage(S3Storage):
    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        if not settings.AWS_S3_PUBLIC_ENDPOINT_URL:
            return super().url(name, parameters, expire, http_method)
        return self._public.url(name, parameters, expire, http_method)

    @cached_property
    def _public(self) -> S3Storage:
        return S3Storage(endpoint_url=settings.AWS_S3_PUBLIC_ENDPOINT_URL)
