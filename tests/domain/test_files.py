"""removal/services/files.py: a stored file read a chunk at a time, whole or a slice of it, from local storage and
from S3 (moto's server)."""

import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from removal.services.files import STORAGE_CHUNK_BYTES, opened_storage_file, stored_file_chunks
from tests.conftest import S3Server
from tests.domain.test_storage import s3_storage

# Past two chunks, so that a slice starts inside one and ends inside another.
CONTENT = os.urandom(2 * STORAGE_CHUNK_BYTES + 1000)
SLICES = [(0, None), (0, 1), (1000, STORAGE_CHUNK_BYTES + 5), (len(CONTENT) - 1, 1), (STORAGE_CHUNK_BYTES, None)]


@pytest.fixture
def stored_name(settings: object) -> str:
    """In a fresh MEDIA_ROOT (tests.conftest._media_in_tmp, which `settings` asks for)."""
    return default_storage.save("test-files/big.bin", ContentFile(CONTENT))


@pytest.mark.parametrize(("first_byte", "byte_count"), SLICES)
def test_a_slice_of_a_local_file_is_those_bytes(stored_name: str, first_byte: int, byte_count: int | None) -> None:
    chunks = list(stored_file_chunks(opened_storage_file(stored_name), first_byte=first_byte, byte_count=byte_count))
    end = None if byte_count is None else first_byte + byte_count
    assert b"".join(chunks) == CONTENT[first_byte:end]
    assert max(len(chunk) for chunk in chunks) <= STORAGE_CHUNK_BYTES


@pytest.mark.parametrize(("first_byte", "byte_count"), SLICES)
def test_a_slice_of_an_s3_object_is_those_bytes(s3_server: S3Server, first_byte: int, byte_count: int | None) -> None:
    storage = s3_storage(s3_server)
    name = storage.save("test-files/big.bin", ContentFile(CONTENT))
    source = storage.open(name, "rb")
    end = None if byte_count is None else first_byte + byte_count
    assert b"".join(stored_file_chunks(source, first_byte=first_byte, byte_count=byte_count)) == CONTENT[first_byte:end]
    storage.delete(name)


def test_an_empty_s3_object_reads_as_nothing(s3_server: S3Server) -> None:
    """Asked for from its byte 0 on, S3 refuses an empty object (InvalidRange): the whole is asked without Range."""
    storage = s3_storage(s3_server)
    name = storage.save("test-files/empty.bin", ContentFile(b""))
    assert b"".join(stored_file_chunks(storage.open(name, "rb"))) == b""
    storage.delete(name)
