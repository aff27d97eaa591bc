"""What the accounts' tests of requests at once share: a process of their own on a database of their own."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: Any, tmp_path: Path) -> dict[str, str]:
    """The environment of a process on a new database, migrated (a copy of the session's): SQLite in a data folder,
    or PostgreSQL."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bgsite.settings", "DATA_DIR": str(tmp_path), "SECRET_KEY": "x"}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    else:
        shutil.copytree(request.getfixturevalue("migrated_data_dir"), tmp_path, dirs_exist_ok=True)
    return env


def python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)
