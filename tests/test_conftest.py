"""tests/conftest.py: the live servers' harness."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO

pytestmark = pytest.mark.live


def test_a_server_finds_the_sample_made_once_unless_it_is_to_show_it_being_made(server_factory: Any) -> None:
    """Each server with worker threads made the first screen's sample at its start (a cutout's half second of CPU,
    ahead of the test's own): the session's migrated data folder has it, and a web process without workers serves it
    at once; one started with sample_made=False has none, as a new installation."""
    web = server_factory(EMBEDDED_WORKERS="0")
    web.start()
    served = requests.get(f"{web.url}/sample/cutout.png", timeout=30)
    assert (served.status_code, served.headers["Content-Type"]) == (200, "image/png"), served.text
    fresh = server_factory(EMBEDDED_WORKERS="0", sample_made=False)
    fresh.migrate()
    assert [path.name for path in (fresh.data_dir / "media").rglob("*.png")] == []
    web.stop()


def test_a_server_on_postgresql_finds_the_sample_made_once_too(server_factory: Any, postgres_url: str) -> None:
    """Its database is cloned, not copied with the data folder: the sample is put in its media folder all the same."""
    web = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0")
    web.start()
    served = requests.get(f"{web.url}/sample/cutout.png", timeout=30)
    assert (served.status_code, served.headers["Content-Type"]) == (200, "image/png"), served.text
    web.stop()  # before its database goes


def test_a_server_outside_pytest_migrates_without_djangos_settings(tmp_path: Path) -> None:
    """`make bench` starts LiveServer in a process without Django's settings: migrate imported removal's services for
    the sample, and the bench's server phases died on ImproperlyConfigured."""
    script = "import sys; from pathlib import Path; from tests.conftest import LiveServer; "
    script += "LiveServer(data_dir=Path(sys.argv[1])).migrate()"
    environment = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=REPO, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "db.sqlite3").is_file()
