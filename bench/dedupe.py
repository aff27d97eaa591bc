"""What result reuse saves: the same photos sent twice to /bgremove, timed each time.

.venv/bin/python -m bench.dedupe      # prints the figures, writes bench/results/dedupe.json
"""

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.common import REPO
from tests.conftest import LiveServer, photo_bytes

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bgsite-dedupe-"))
    server = LiveServer(data_dir=data_dir)
    server.start()
    try:
        key = server.create_user("dedupe")
        images = [photo_bytes(name, size=(1280, 960)) for name in PHOTOS]
        rounds: dict[str, list[float]] = {"first": [], "again": []}
        for label in rounds:
            for index, image in enumerate(images):
                started = time.perf_counter()
                reply = requests.post(
                    f"{server.url}/bgremove",
                    files={"file": (f"{index}.jpg", image)},
                    data={"key": key, "blob": "1"},
                    timeout=120,
                )
                reply.raise_for_status()
                rounds[label].append((time.perf_counter() - started) * 1000)
        first, again = statistics.median(rounds["first"]), statistics.median(rounds["again"])
        result = {
            "images": len(images),
            "first_p50_ms": round(first),
            "repeat_p50_ms": round(again),
            "saving": round(1 - again / first, 3),
        }
        print(json.dumps(result, indent=2))
        output = REPO / "bench" / "results" / "dedupe.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
