"""Live: the `bgsite` client (client/) against a running server: a folder run, killed and resumed."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, LiveServer, photo_bytes

pytestmark = pytest.mark.live

GOOD = 16  # enough that a kill after half of them leaves the rest to resume, in several requests of at most 4
KILLED_AFTER = GOOD // 2
BAD = {"bad/notes.jpg", "a/b/cut.jpg"}


def make_tree(root: Path) -> None:
    """GOOD distinct photos over nested folders (a.jpg beside a.png among them), and two bad files."""
    for index in range(GOOD):
        folder = root / ("a/b" if index % 3 == 0 else "a" if index % 3 == 1 else ".")
        folder.mkdir(parents=True, exist_ok=True)
        name, fmt = (f"p{index}.png", "PNG") if index == 1 else (f"p{index}.jpg", "JPEG")
        (folder / name).write_bytes(photo_bytes("astronaut.png", size=(200 + index, 150), fmt=fmt))
    (root / "a" / "p1.jpg").write_bytes(photo_bytes("coffee.png", size=(160, 120)))  # beside p1.png
    (root / "bad").mkdir()
    (root / "bad" / "notes.jpg").write_bytes(b"these are notes, not a photo")
    (root / "a" / "b" / "cut.jpg").write_bytes(photo_bytes("chelsea.png")[:3000])


def bgsite(server: LiveServer, key: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "bgsite_client", *args, "--server", server.url, "--key", key]


def client_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "client"), "BGSITE_URL": "", "BGSITE_API_KEY": ""}


def outputs(out: Path) -> dict[str, tuple[str, int]]:
    return {
        str(path.relative_to(out)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in out.rglob("*.png")
    }


def test_a_killed_run_resumes_and_names_the_bad_files(embedded_server: LiveServer, tmp_path: Path) -> None:
    key = embedded_server.create_user("cli-resume")
    photos, out = tmp_path / "photos", tmp_path / "out"
    make_tree(photos)
    command = bgsite(embedded_server, key, "remove", str(photos), "-o", str(out), "--recursive", "--per-request", "4")

    first = subprocess.Popen(command, cwd=REPO, env=client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(outputs(out) if out.exists() else {}) < KILLED_AFTER and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = outputs(out)
    assert KILLED_AFTER <= len(before) < GOOD + 1

    second = subprocess.run(command, cwd=REPO, env=client_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 1, second.stderr
    after = outputs(out)
    assert len(after) == GOOD + 1
    assert {name: after[name] for name in before} == before  # nothing overwritten
    assert {"a/p1_jpg.png", "a/p1_png.png"} <= set(after)  # a.jpg and a.png both survive
    assert not list(out.rglob("*.bgsite-part"))
    assert f"{GOOD + 1 - len(before)} cut out, {len(before)} already in" in second.stdout
    for name in BAD:
        assert f"failed: {photos / name}:" in second.stdout

    # The same resume as JSON, once everything good is in: each count and each bad file with its reason.
    third = subprocess.run(
        [*command, "--json"], cwd=REPO, env=client_env(), capture_output=True, text=True, timeout=300
    )
    assert third.returncode == 1, third.stderr
    summary = json.loads(third.stdout)
    assert summary["ok"] is False
    assert (summary["images"], summary["skipped"], summary["done"]) == (GOOD + 1 + len(BAD), GOOD + 1, 0)
    failed = {str(Path(entry["path"]).relative_to(photos)): entry["error"] for entry in summary["failed"]}
    assert set(failed) == BAD
    assert "not an image" in failed["bad/notes.jpg"]
    assert "truncated or corrupt" in failed["a/b/cut.jpg"]
    assert outputs(out) == after


def test_batches_status_and_download(embedded_server: LiveServer, tmp_path: Path) -> None:
    key = embedded_server.create_user("cli-download")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "one.jpg").write_bytes(photo_bytes("chelsea.png", size=(300, 200)))
    (photos / "broken.jpg").write_bytes(photo_bytes("chelsea.png")[:3000])
    (photos / "grass.jpg").write_bytes(photo_bytes("grass.png", size=(320, 240)))  # no subject: flagged
    env = client_env()
    done = subprocess.run(
        bgsite(embedded_server, key, "remove", str(photos), "-o", str(tmp_path / "out"), "--json"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = json.loads(done.stdout)
    batch_id = summary["batches"][0]
    cutouts = {Path(entry["path"]).name: entry for entry in summary["cutouts"]}
    assert cutouts["one.jpg"]["needs_review"] is False and cutouts["one.jpg"]["confidence"] >= 0.6
    assert cutouts["grass.jpg"]["needs_review"] is True and cutouts["grass.jpg"]["confidence"] < 0.2
    assert summary["needs_review"] == 1

    listed = subprocess.run(bgsite(embedded_server, key, "batches"), cwd=REPO, env=env, capture_output=True, text=True)
    assert batch_id in listed.stdout and "2/3 done, 1 failed  photos" in listed.stdout  # named after its folder
    status = subprocess.run(
        bgsite(embedded_server, key, "status", batch_id), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert "failed: broken.jpg:" in status.stdout and "may need a look: grass.jpg" in status.stdout

    fetched: Any = subprocess.run(
        bgsite(embedded_server, key, "download", batch_id, "-o", str(tmp_path / "dl"), "--json"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert fetched.returncode == 1
    assert sorted(json.loads(fetched.stdout)["saved"]) == [
        str(tmp_path / "dl" / name) for name in ("grass.png", "one.png")
    ]
    assert (tmp_path / "dl" / "one.png").read_bytes() == (tmp_path / "out" / "one.png").read_bytes()

    deleted = subprocess.run(
        bgsite(embedded_server, key, "delete", batch_id), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert deleted.returncode == 0 and f"batch {batch_id} deleted" in deleted.stdout
    again = subprocess.run(bgsite(embedded_server, key, "delete", batch_id), cwd=REPO, env=env, capture_output=True)
    assert again.returncode == 2 and b"no such batch" in again.stderr + again.stdout
    assert (tmp_path / "out" / "one.png").exists()


def test_the_closing_line_and_the_review_list_name_the_flagged_images(
    embedded_server: LiveServer, tmp_path: Path
) -> None:
    key = embedded_server.create_user("cli-review")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(photo_bytes("chelsea.png", size=(300, 200)))
    (photos / "gravel.jpg").write_bytes(photo_bytes("gravel.png", size=(300, 200)))
    (photos / "grass.jpg").write_bytes(photo_bytes("grass.png", size=(320, 240)))
    review_list = tmp_path / "look.txt"
    done = subprocess.run(
        bgsite(
            embedded_server, key, "remove", str(photos), "-o", str(tmp_path / "out"), "--review-list", str(review_list)
        ),
        cwd=REPO,
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"2 of 3 may need a look (listed in {review_list})" in done.stdout
    assert review_list.read_text().splitlines() == [str(photos / "grass.jpg"), str(photos / "gravel.jpg")]


def test_a_batch_starts_with_one_image_and_the_rest_follow(embedded_server: LiveServer, tmp_path: Path) -> None:
    # The server starts on a request's images only once all of it has arrived, so `bgsite remove` sends a batch's
    # first image alone (then requests that grow: tests/client/test_remove.py).
    key = embedded_server.create_user("cli-first-alone")
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        (photos / f"p{index}.jpg").write_bytes(photo_bytes("coffee.png", size=(170 + index, 120)))
    (photos / "p0.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + bytes(64))  # p0's Live Photo clip: left out
    command = bgsite(embedded_server, key, "remove", str(photos), "-o", str(tmp_path / "out"))
    done = subprocess.run(command, env=client_env(), check=True, capture_output=True, text=True, timeout=120)
    assert "left out 1 Live Photo clip (a video named as the photo beside it, such as p0.MOV)" in done.stdout
    per_request = embedded_server.manage(
        "shell",
        "-c",
        "from collections import Counter; from removal.models import Item; "
        "print(sorted(Counter(Item.objects.filter(batch__owner__username='cli-first-alone')"
        ".values_list('queued_at', flat=True)).values()))",
    )
    assert per_request.strip().splitlines()[-1] == "[1, 2]"  # items queued together came in one request


def test_a_refused_key_ends_the_run_with_the_servers_error(embedded_server: LiveServer, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(photo_bytes("coffee.png", size=(160, 120)))
    command = bgsite(embedded_server, "not-a-key", "remove", str(photos), "-o", str(tmp_path / "out"), "--json")
    done = subprocess.run(command, env=client_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["error"].startswith("401:"), report
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
