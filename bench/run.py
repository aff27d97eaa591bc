"""`make bench`: bgsite against rembg on this machine, the same photos and the same model, in one run.

    python -m bench.run                 # everything (~6 minutes on 2 cores)
    BENCH_QUICK=1 python -m bench.run   # 10 photos, fewer repeats (~2 minutes), for development

Phases: the in-process ceiling; `rembg p` and `rembg s` from their own venv; bgsite's server as `make run`
starts it (cold start, /bgremove latency, a bulk batch, a large batch's zip); the upload page and the CLI;
where the time goes inside one cutout. Writes bench/results/latest.json, prints a table, writes
docs/benchmarks.md with its chart; exits 1 if a phase failed (the others still report).
"""

import contextlib
import hashlib
import importlib.metadata
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from bench import bgsite, images, rembg_cli, report
from bench.common import (
    REPO,
    SERVED_MODEL,
    LatencyRun,
    json_of,
    log,
    machine,
    phase,
    run_requests,
    summary,
    unique_jpeg,
)
from tests.conftest import LiveServer

Send = Callable[[requests.Session, bytes], bytes]
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
# name: (full run, quick run)
SIZES = {"bulk": (50, 10), "c1": (20, 5), "c2": (40, 10), "large_c1": (3, 1), "small_c1": (10, 3), "zip": (1000, 200)}
SIZES |= {"zip_distinct": (50, 10), "stage_rounds": (15, 2), "stage_rounds_large": (5, 1)}
SIZES |= {"fronts": (200, 40), "phone": (6, 2)}


def size(name: str) -> int:
    return SIZES[name][QUICK]


class Bench:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {"quick": QUICK, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "errors": {}}
        self.images = images.build(REPO / "bench" / "images", count=size("bulk"), phones=size("phone"))
        self.results |= {"images": self.images.source, "phone_sources": self.images.sources}
        self.bulk = [path.read_bytes() for path in self.images.bulk]
        self.phone, small = [path.read_bytes() for path in self.images.phone], self.images.small.read_bytes()
        # The same request mix for both servers: the bulk photos in turn, each with bytes of its own.
        self.mixes = {
            "c1": ([self.bulk[i % len(self.bulk)] for i in range(size("c1"))], 1),
            "c2": ([self.bulk[i % len(self.bulk)] for i in range(size("c2"))], 2),
            "large_c1": ([self.phone[i % len(self.phone)] for i in range(size("large_c1"))], 1),
            "small_c1": ([small] * size("small_c1"), 1),
            "bulk_c2": (self.bulk, 2),
        }

    def latency(self, senders: dict[str, Callable[[str], Send]]) -> None:
        """Every request mix on both servers, taking turns A B B A over the halves of each mix, so that what
        else runs on the machine weighs on both alike; `senders[side](mix)` sends one image, returns its cutout.

        Each half starts with one unmeasured request per client: a server's first requests after the other's half
        (idle meanwhile, its caches taken by the other) ran 60-160 ms slower than the rest on a 2-core EPYC, and two
        such cold starts in a mix of 40 were its p99 (the largest), measuring the turns, not the concurrency."""
        for mix, (photos, concurrency) in self.mixes.items():
            parts: dict[str, list[LatencyRun]] = {side: [] for side in senders}
            halves = [photos[: len(photos) // 2], photos[len(photos) // 2 :]]
            for half, order in zip(halves, (list(senders), list(senders)[::-1]), strict=True):
                for side in order if half else []:
                    tag = f"{side}-{mix}-{len(parts[side])}"
                    warm = [unique_jpeg(half[0], f"{tag}-warm-{i}") for i in range(concurrency)]
                    run_requests(senders[side](mix), warm, concurrency=concurrency)
                    sent = [unique_jpeg(data, f"{tag}-{i}") for i, data in enumerate(half)]
                    parts[side].append(run_requests(senders[side](mix), sent, concurrency=concurrency))
            for side, runs in parts.items():
                self.results.setdefault(side, {})[mix] = mixed = summary(runs)
                log(
                    f"  {side} {mix}: p50 {mixed['p50_ms']} ms, p99 {mixed['p99_ms']} ms, {mixed['ips']} img/s, "
                    f"{mixed['kb_per_image']} KB/image"
                )

    def ceiling(self) -> None:
        # 2x1: bgsite under load (2 workers, a 1-thread session each); 1x2: its solo session; then 2x1 on fp32.
        layouts = [("2", "1", SERVED_MODEL), ("1", "2", SERVED_MODEL)] + [("2", "1", "u2netp")] * (not QUICK)
        runs = {}
        for layout in layouts:
            run = self.ceiling_run(*layout)
            runs[run["layout"]] = run
            log(f"ceiling {run['layout']}: {run['ips']} img/s; alone {run['solo_ms_p50']} ms")
        best = max((run for run in runs.values() if run["model"] == SERVED_MODEL), key=lambda run: run["ips"])
        self.results |= {"ceiling_layouts": runs, "ceiling_ips": best["ips"], "ceiling_layout": best["layout"]}
        self.results["ceiling_first_cutout_sha256"] = runs["2x1"]["first_cutout_sha256"]

    def ceiling_run(self, threads: str, ort_threads: str, model: str) -> Any:
        """One thread layout of the in-process ceiling over the bulk photos, in a fresh process."""
        return json_of("bench.inprocess", "ceiling", threads, ort_threads, model, *map(str, self.images.bulk))

    def rembg_p(self) -> None:
        # The issue compares `rembg p` as shipped, 1 or 2 processes, whichever is faster; one ORT thread per
        # process (which a user must know to ask for) is shown apart.
        runs = {"1 process": rembg_cli.folder_run(self.images.bulk, processes=1)}
        runs["2 processes"] = rembg_cli.folder_run(self.images.bulk, processes=2)
        if not QUICK:
            runs[report.TUNED] = rembg_cli.folder_run(self.images.bulk, processes=2, OMP_NUM_THREADS="1")
        best = max(("1 process", "2 processes"), key=lambda label: runs[label]["ips"])
        self.results |= {"rembg_p_runs": runs, "rembg_p_ips": runs[best]["ips"], "rembg_p_best": best}
        # 12 MP: one process as shipped (its session has every core; two would each hold a 12 MP cutout).
        self.results["rembg_p_12mp"] = rembg_cli.folder_run(self.images.phone, processes=1)
        log(f"rembg p: {runs}")

    def servers(self) -> None:
        """`rembg s` and bgsite's server side by side: cold starts one at a time, then the latency mixes in turns,
        then bgsite's bulk batch and zip (memory peaks are each process's own, so neither counts the other's)."""
        bg = LiveServer(data_dir=Path(tempfile.mkdtemp(prefix="bench-bgsite-")))
        # A key per mix: each under the rate limit.
        keys = bgsite.create_keys(bg, [*self.mixes, "cold", "bulk", "bulk_12mp", "zip"])
        with contextlib.ExitStack() as running:
            running.push(lambda kind, error, trace: log(bg.log()[-3000:]) if kind else None)  # the server's view
            bg.start()
            running.callback(bg.stop)
            with requests.Session() as http:
                served = bgsite.bgremove(bg, keys["cold"], http, self.bulk[0])
                self.results["cold_start_s"] = round(time.monotonic() - bg.started_at, 2)
                self.results["bgsite_first_cutout_sha256"] = hashlib.sha256(served).hexdigest()
            rembg = rembg_cli.RembgServer()
            running.callback(rembg.stop)
            self.results["rembg_s_cold_start_s"] = round(rembg.cold_start_s(self.bulk[0]), 2)
            senders: dict[str, Callable[[str], Send]] = {
                "rembg_s": lambda mix: rembg.remove,
                "bgremove": lambda mix: partial(bgsite.bgremove, bg, keys[mix]),
            }
            for sender in senders.values():  # both request threads' or workers' first run
                run_requests(sender("cold"), [unique_jpeg(self.bulk[0], f"warm{i}") for i in range(2)], concurrency=2)
            self.latency(senders)
            self.results["rembg_s_rss_mb"] = round(rembg_cli.peak_rss_mb(rembg.process), 1)
            rembg.stop()
            self.results["bgremove_server_timings"] = bgsite.item_timings(bg, "c1")
            # The bulk batches, 1280x960 then 12 MP, and the server's peak RSS after each.
            bulks = {"bulk": (self.images.bulk, "rss_mb"), "bulk_12mp": (self.images.phone, "rss_after_12mp_mb")}
            for name, (paths, rss) in bulks.items():
                files = [(path.name, unique_jpeg(path.read_bytes(), "bulk")) for path in paths]
                self.results[name] = bgsite.bulk(bg, keys[name], files)
                self.results[rss] = round(rembg_cli.peak_rss_mb(bg.process), 1)
                log(f"{name}: {self.results[name]}; peak RSS {self.results[rss]} MB")
                if name == "bulk":  # the ceiling's best layout again at once: this VM's figures drift between phases
                    threads, ort_threads = self.results.get("ceiling_layout", "2x1").split("x")
                    self.results["ceiling_beside_bulk"] = self.ceiling_run(threads, ort_threads, SERVED_MODEL)
            self.results["zip"] = bgsite.zip_download(bg, keys["zip"], self.small_photos(), size("zip"))
            log(f"zip: {self.results['zip']}")

    def small_photos(self) -> list[tuple[str, bytes]]:
        """160x120 copies of the first bulk photos, for the zip's batch."""
        photos = [Image.open(path) for path in self.images.bulk[: size("zip_distinct")]]
        return [(f"small-{index:02d}.jpg", images.jpeg(photo, (160, 120))) for index, photo in enumerate(photos)]

    def fronts(self) -> None:
        """The same photos through the upload page in Chromium and through the `bgsite` CLI."""
        _, photos = images.sources(size("fronts"))
        self.results["fronts"] = bgsite.fronts([images.jpeg(photo, images.BULK_SIZE) for photo in photos])

    def stages(self) -> None:
        self.results["stages"] = {
            "1280x960": json_of("bench.inprocess", "stages", str(self.images.bulk[0]), str(size("stage_rounds"))),
            "4000x3000": json_of("bench.inprocess", "stages", str(self.images.large), str(size("stage_rounds_large"))),
        }
        self.results["memory_50mp"] = json_of("bench.inprocess", "memory", str(self.images.huge))

    def run(self) -> int:
        rembg_cli.check_model()
        self.results["machine"] = machine()
        phase(self.results, "rembg venv", rembg_cli.ensure_venv)
        names = ("rembg", "onnxruntime", "pillow", "numpy", "django", "uvicorn")
        self.results["versions"] = {"bgsite": ", ".join(f"{n} {importlib.metadata.version(n)}" for n in names)}
        phase(self.results, "rembg versions", lambda: self.results["versions"].update(rembg=rembg_cli.versions()))
        for name in ("ceiling", "rembg_p", "servers", "fronts", "stages"):
            phase(self.results, name, getattr(self, name))
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.results["machine"]["load_avg_at_end"] = round(os.getloadavg()[0], 2)
        report.finish(self.results)
        return 1 if self.results["errors"] else 0


if __name__ == "__main__":
    started = time.monotonic()
    code = Bench().run()
    log(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)
