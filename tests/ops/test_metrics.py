"""/metrics: Prometheus text, guarded by METRICS_TOKEN or METRICS_ALLOWED_NETWORKS, with queue figures and counters
that move."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client.parser import text_string_to_metric_families

from bgsite.networks import parse_networks
from removal.ops.worker import run_ready_jobs
from tests.conftest import photo_bytes, run_manage

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-please"


@pytest.fixture(autouse=True)
def _metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.content.decode())
        for sample in family.samples
    }


def test_counters_move_and_the_queue_empties(api: Any, client: Any, settings: Any) -> None:
    model = settings.REMBG_MODEL
    before = scrape(client)
    bad = SimpleUploadedFile("cut.jpg", photo_bytes()[:2000])
    files = [SimpleUploadedFile(name, photo_bytes(size=(160, 120))) for name in ("a.jpg", "b.jpg")]
    assert api.post("/api/v1/batches", {"files": [*files, bad]}).status_code == 201

    queued = scrape(client)
    assert queued[("bgsite_items_queued", (("kind", "upload"),))] == 3
    assert queued[("bgsite_queue_oldest_age_seconds", ())] >= 0

    run_ready_jobs()
    after = scrape(client)
    assert after[("bgsite_items_queued", (("kind", "upload"),))] == 0
    assert after[("bgsite_items_processing", (("kind", "upload"),))] == 0
    assert after[("bgsite_queue_oldest_age_seconds", ())] == 0

    def moved(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after[(name, labels)] - before.get((name, labels), 0)

    assert moved("bgsite_items_processed_total", (("model", model),)) == 2
    assert moved("bgsite_items_failed_total", (("model", model),)) == 1
    assert moved("bgsite_processing_seconds_count", (("model", model),)) == 2
    assert ("bgsite_worker_threads", ()) in after
    # Each cutout's confidence is observed; the astronaut is a sure cutout, in the top bucket, not flagged.
    assert moved("bgsite_cutout_confidence_count", (("model", model),)) == 2
    assert moved("bgsite_cutout_confidence_bucket", (("le", "0.6"), ("model", model))) == 0
    assert moved("bgsite_cutout_confidence_bucket", (("le", "1.0"), ("model", model))) == 2
    assert after.get(("bgsite_cutouts_flagged_total", (("model", model),)), 0) == before.get(
        ("bgsite_cutouts_flagged_total", (("model", model),)), 0
    )
    assert ("bgsite_websocket_connections", ()) in after


def test_a_cutout_that_may_need_a_look_is_counted(api: Any, client: Any, settings: Any) -> None:
    model = settings.REMBG_MODEL
    before = scrape(client)
    grass = SimpleUploadedFile("grass.jpg", photo_bytes("grass.png", size=(320, 240)))
    assert api.post("/api/v1/batches", {"files": [grass]}).status_code == 201
    run_ready_jobs()
    after = scrape(client)
    flagged = ("bgsite_cutouts_flagged_total", (("model", model),))
    assert after[flagged] - before.get(flagged, 0) == 1
    low = ("bgsite_cutout_confidence_bucket", (("le", "0.1"), ("model", model)))
    assert after[low] - before.get(low, 0) == 1


def test_refused_without_the_token(client: Any) -> None:
    reply = client.get("/metrics")
    assert reply.status_code == 401 and reply["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_off_when_neither_a_token_nor_a_network_is_set(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.fixture
def scrapers_network(settings: Any) -> None:
    settings.METRICS_ALLOWED_NETWORKS = parse_networks(["10.0.0.0/8", "fd00:1::/64"])


# A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
@pytest.mark.parametrize("address", ["10.1.2.3", "::ffff:10.1.2.3", "fd00:1::7"])
def test_a_scraper_in_an_allowed_network_needs_no_token(
    client: Any, settings: Any, scrapers_network: None, address: str
) -> None:
    settings.METRICS_TOKEN = ""
    reply = client.get("/metrics", REMOTE_ADDR=address)
    assert reply.status_code == 200
    assert "bgsite_items_queued" in reply.content.decode()


# 2002:a01:203::1 is the 6to4 address that embeds 10.1.2.3: an IPv6 client, not one in 10.0.0.0/8.
@pytest.mark.parametrize("address", ["192.0.2.7", "::ffff:192.0.2.7", "2002:a01:203::1", "fd00:2::7", "not-an-ip"])
def test_outside_the_networks_without_a_token_is_refused(
    client: Any, settings: Any, scrapers_network: None, address: str
) -> None:
    challenged = client.get("/metrics", REMOTE_ADDR=address)
    assert challenged.status_code == 401 and challenged["WWW-Authenticate"].startswith("Bearer")
    settings.METRICS_TOKEN = ""
    forbidden = client.get("/metrics", REMOTE_ADDR=address, headers={"Authorization": "Bearer "})
    assert forbidden.status_code == 403 and "WWW-Authenticate" not in forbidden


def test_the_token_still_works_from_outside_the_networks(client: Any, scrapers_network: None) -> None:
    reply = client.get("/metrics", REMOTE_ADDR="192.0.2.7", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200


def migrated_multiproc_setup(tmp_path: Path, migrated: Path | None = None) -> tuple[Path, dict[str, str]]:
    """An empty PROMETHEUS_MULTIPROC_DIR and the environment of processes that count into it, its database migrated:
    by `manage.py migrate` counting into it, or copied from `migrated` (the session's migrated_data_dir), which counts
    nothing."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "DJANGO_SETTINGS_MODULE": "bgsite.settings",
    }
    if migrated is None:
        run_manage(env, "migrate", "--noinput", "-v", "0")
    else:
        shutil.copytree(migrated, env["DATA_DIR"])
    return shared, env


def test_processes_sharing_a_multiproc_dir_are_added_up(tmp_path: Path, migrated_data_dir: Path) -> None:
    """Two worker-like processes count into PROMETHEUS_MULTIPROC_DIR; a third one's scrape sees both."""
    _, env = migrated_multiproc_setup(tmp_path, migrated_data_dir)
    count = "from removal.ops import metrics; metrics.item_finished(status='done', model='m', seconds=0.2); "
    for threads in (2, 3):  # each leaves without its exit handlers: as a worker process still running looks
        run_manage(env, "shell", "-c", count + f"metrics.WORKER_THREADS.inc({threads}); import os; os._exit(0)")
    scraped = run_manage(
        env, "shell", "-v", "0", "-c", "from removal.ops import metrics; print(metrics.exposition()[0].decode())"
    )
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert samples[("bgsite_items_processed_total", (("model", "m"),))] == 2
    assert samples[("bgsite_processing_seconds_count", (("model", "m"),))] == 2
    per_process = [value for (name, _), value in samples.items() if name == "bgsite_worker_threads"]
    assert sorted(per_process) == [0, 2, 3]  # and the scrape's own
    assert samples[("bgsite_items_queued", (("kind", "upload"),))] == 0


def test_a_process_that_exits_takes_its_live_gauges_with_it(tmp_path: Path) -> None:
    """Every process that counts into PROMETHEUS_MULTIPROC_DIR drops its live gauges as it exits: each web process
    stopped and each one-off `manage.py` command (migrate, invite, purge_expired) left a series of its pid behind, one
    more every run, until the folder was emptied."""
    shared, env = migrated_multiproc_setup(tmp_path)
    run_manage(env, "shell", "-c", "from removal.ops import metrics; metrics.WEBSOCKET_CONNECTIONS.inc()")
    assert sorted(path.name for path in shared.iterdir() if path.name.startswith("gauge_live")) == []
