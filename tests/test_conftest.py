"""tests/conftest.py: the live servers' harness."""

from typing import Any

import pytest
import requests

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
