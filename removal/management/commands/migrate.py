"""`manage.py migrate`, after making DATA_DIR and, unless SECRET_KEY is set, its secret key.

Importing the settings writes nothing; every way bgsite starts (`make run`, the Docker image,
the tests' live servers, `make bench`) migrates first, so the folder SQLite needs and the key
that the web processes sharing DATA_DIR sign with are made here, once.
"""

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate


def secret_key_write(path: Path) -> None:
    """A new key at `path` unless one is there. Written beside it and hard-linked into place, so a
    process reading it never sees half a key, and of two processes at once exactly one key wins."""
    if path.exists():
        return
    draft = path.with_name(f".{path.name}-{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_urlsafe(50))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process was first: its key stands
    finally:
        draft.unlink()


def data_dir_ready() -> None:
    """DATA_DIR made, and written to where bgsite writes there (SQLite, local uploads, the secret key); a CommandError
    naming it otherwise, where SQLite said only "unable to open database file" (or a traceback told of a key file)."""
    try:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        if _data_dir_written():
            with tempfile.TemporaryFile(dir=settings.DATA_DIR):
                pass
    except OSError as exc:
        raise CommandError(
            f"DATA_DIR={settings.DATA_DIR} cannot be written ({exc.strerror or exc}): bgsite keeps its SQLite "
            "database, its uploads and its secret key there. Give DATA_DIR a folder that the user running bgsite can "
            "write (docs/deploy.md#settings)."
        ) from None


def _data_dir_written() -> bool:
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    return sqlite or not settings.AWS_STORAGE_BUCKET_NAME or settings.SECRET_KEY_FILE is not None


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Makes DATA_DIR and its secret key first when they are missing."

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before Django's checks, which open the database: SQLite makes its file, not its folder.
        data_dir_ready()
        if settings.SECRET_KEY_FILE is not None:
            secret_key_write(settings.SECRET_KEY_FILE)
        return super().execute(*args, **options)
