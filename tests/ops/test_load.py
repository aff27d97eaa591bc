"""Live, short load: concurrent /bgremove calls and a batch upload at once (`make loadtest` is the long one)."""

from dataclasses import asdict
from typing import Any

import pytest

from tests.loadgen import run_load

pytestmark = pytest.mark.live


def test_load_gets_back_pressure_not_errors_and_loses_nothing(server_factory: Any) -> None:
    server = server_factory(MAX_QUEUED_ITEMS="40", RATE_LIMIT_PER_KEY="30/h")
    server.start()
    caller, uploader = server.create_user("caller"), server.create_user("uploader")

    report = run_load(server, caller, uploader, bgremove=50, batch=120, chunk=30)
    print(asdict(report))

    assert report.server_errors == 0, report
    statuses = report.bgremove_statuses
    assert set(statuses) <= {"200", "429", "503"}, statuses
    assert statuses.get("429", 0) >= 20, "the per-key limit of 30/h pushed back"
    assert statuses.get("200", 0) >= 1
    assert report.backpressure_without_retry_after == 0
    assert report.batch_accepted == report.batch_done == 120, "every accepted file was processed"
    assert report.peak_rss_mb - report.baseline_rss_mb < 400
    server.stop()
