"""`make bench`: bgsite against rembg, on this machine, the same images and the same model, in one run.

    python -m bench.run                 # everything (~6 minutes on 2 cores)
    BENCH_QUICK=1 python -m bench.run   # 10 images, fewer repeats (~1.5 minutes), for development

Phases: the image set; the ceiling (bgsite's pipeline in-process, several thread
layouts); `rembg p` and `rembg s` from their own venv; bgsite's embedded server
(cold start, /bgremove latency, bulk batch over the websocket, zip of 1,000
cutouts); where the time goes (stage profile, alternatives, memory, int8).
Writes bench/results/latest.json, prints a table, draws the chart and rewrites
docs/benchmarks.md. Exits 1 if any phase failed (the others still report).
"""

import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from bench import images as image_set
from bench import report
from bench.bgsite import BgsiteServer
from bench.common import REPO, SERVED_MODEL, log, machine, unique_jpeg
from bench.rembg_cli import RembgServer, check_model, ensure_venv, folder_run, versions

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
IMAGES_DIR = REPO / "bench" / "images"
RESULTS_DIR = REPO / "bench" / "results"
LATENCY_MIXES = ("c1", "c2", "large_c1", "small_c1", "bulk_c2")
SIZES = {
    # name: (full run, quick run)
    "bulk_images": (50, 10),
    "latency_c1": (20, 5),
    "latency_c2": (40, 10),
    "latency_large": (3, 1),
    "latency_small": (10, 3),
    "zip_items": (1000, 200),
    "zip_distinct": (50, 10),
    "profile_repeats": (5, 2),
    "profile_repeats_large": (2, 1),
}


def size(name: str) -> int:
    return SIZES[name][1 if QUICK else 0]


class Bench:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {"quick": QUICK, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        self.errors: dict[str, str] = {}
        self.paths = image_set.build(IMAGES_DIR)
        self.bulk_paths = self.paths.bulk[: size("bulk_images")]
        self.photo = self.bulk_paths[0].read_bytes()
        self.large = self.paths.large.read_bytes()
        self.small = self.paths.small.read_bytes()
        self.bulk_bytes = [path.read_bytes() for path in self.bulk_paths]

    def phase(self, name: str, function: Callable[[], None]) -> None:
        log(f"-- {name}")
        started = time.monotonic()
        try:
            function()
        except Exception as exc:
            self.errors[name] = f"{exc.__class__.__name__}: {exc}"
            traceback.print_exc()
            log(f"!! {name} failed: {exc}")
        self.results.setdefault("phase_seconds", {})[name] = round(time.monotonic() - started, 1)

    def variants(self, data: bytes, tag: str, count: int) -> list[bytes]:
        """`count` copies of one photo with distinct bytes (defeats bgsite's per-account result reuse)."""
        return [unique_jpeg(data, f"{tag}-{index}") for index in range(count)]

    # --- ceiling -------------------------------------------------------------------------

    def ceiling(self) -> None:
        # 2x1 is bgsite's layout under load (2 worker threads, a 1-thread session each); 1x2 is one
        # session using both cores (bgsite's solo session, alone); 2x1-u2netp is 2x1 on the fp32 weights.
        layouts = [["--threads", "2", "--ort-threads", "1"], ["--threads", "1", "--ort-threads", "2"]]
        if not QUICK:
            layouts.append(["--threads", "2", "--ort-threads", "1", "--model", "u2netp"])
        runs = {}
        for layout in layouts:
            done = subprocess.run(
                [sys.executable, "-m", "bench.ceiling", *layout, *map(str, self.bulk_paths)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs[run["layout"]] = run
            log(f"ceiling {run['layout']}: {run['ips']} img/s; one job alone {run['solo_ms_p50']} ms")
        best = max((run for run in runs.values() if run["model"] == SERVED_MODEL), key=lambda run: run["ips"])
        self.results["ceiling_layouts"] = runs
        self.results["ceiling_ips"] = best["ips"]
        self.results["ceiling_layout"] = best["layout"]
        self.results["ceiling_first_cutout_sha256"] = runs["2x1"]["first_cutout_sha256"]

    # --- rembg ---------------------------------------------------------------------------

    def rembg_p(self) -> None:
        configs: list[tuple[str, int, dict[str, str]]] = [("c1", 1, {}), ("c2", 2, {})]
        if not QUICK:
            configs.append(("c2_omp1", 2, {"OMP_NUM_THREADS": "1"}))
        runs = {}
        for label, processes, extra in configs:
            runs[label] = folder_run(self.bulk_paths, processes=processes, extra_env=extra)
            log(f"rembg p {label}: {runs[label]['ips']} img/s (wall incl. start-up {runs[label]['wall_ips']})")
        # The comparison: rembg p as shipped, at concurrency 1 or 2, whichever is faster. The
        # hand-tuned run (one ORT thread per process, which a user must know to ask for) is kept apart.
        best = max(("c1", "c2"), key=lambda label: runs[label]["ips"])
        self.results["rembg_p_runs"] = runs
        self.results["rembg_p_ips"] = runs[best]["ips"]
        self.results["rembg_p_best"] = best
        if "c2_omp1" in runs:
            self.results["rembg_p_ips_tuned"] = runs["c2_omp1"]["ips"]

    def rembg_s(self) -> None:
        server = RembgServer()
        server.start()
        try:
            self.results["rembg_s_cold_start_s"] = round(server.first_result_seconds(self.photo), 2)
            server.run(self.variants(self.photo, "sw", 2), 2)  # both request threads' first inference
            self.results["rembg_s"] = runs = self.latency_runs(lambda _, images, c: server.run(images, c), "rs")
            self.results["rembg_s_p50_ms"] = runs["c1"]["p50_ms"]
            self.results["rembg_s_p99_ms_c2"] = runs["c2"]["p99_ms"]
            self.results["rembg_s_ips_c1"] = runs["c1"]["ips"]
            self.results["rembg_s_ips_c2"] = runs["bulk_c2"]["ips"]
            self.results["rembg_s_large_p50_ms"] = runs["large_c1"]["p50_ms"]
            self.results["rembg_s_rss_mb"] = round(server.peak_rss_mb, 1)
        except Exception:
            log(server.log())
            raise
        finally:
            server.stop()

    def latency_runs(self, run: Callable[[str, list[bytes], int], Any], tag: str) -> dict[str, Any]:
        """The same request mix for rembg s and bgsite's /bgremove."""
        runs = {}
        plan = [
            ("c1", self.variants(self.photo, f"{tag}1", size("latency_c1")), 1),
            ("c2", self.variants(self.photo, f"{tag}2", size("latency_c2")), 2),
            ("large_c1", self.variants(self.large, f"{tag}L", size("latency_large")), 1),
            ("small_c1", self.variants(self.small, f"{tag}S", size("latency_small")), 1),
            ("bulk_c2", [unique_jpeg(data, f"{tag}B") for data in self.bulk_bytes], 2),
        ]
        for label, images, concurrency in plan:
            runs[label] = run(label, images, concurrency).summary()
            log(
                f"  {label}: p50 {runs[label]['p50_ms']} ms, p99 {runs[label]['p99_ms']} ms, {runs[label]['ips']} img/s"
            )
        return runs

    # --- bgsite ----------------------------------------------------------------------------

    def bgsite(self) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-bgsite-"))
        server = BgsiteServer(data_dir)
        try:
            server.prepare(["cold", "warm", *LATENCY_MIXES, "bulk", "zip"])  # a key per phase: rate limits
            server.start()
            self.results["cold_start_s"] = round(
                server.first_result_seconds(server.keys["cold"], unique_jpeg(self.photo, "cold")), 2
            )
            server.run(server.keys["warm"], self.variants(self.photo, "bw", 2), 2)  # both workers' first job
            self.results["bgremove"] = runs = self.latency_runs(
                lambda label, images, c: server.run(server.keys[label], images, c), "bg"
            )
            self.results["bgremove_p50_ms"] = runs["c1"]["p50_ms"]
            self.results["bgremove_p99_ms"] = runs["c1"]["p99_ms"]
            self.results["bgremove_p50_ms_c2"] = runs["c2"]["p50_ms"]
            self.results["bgremove_p99_ms_c2"] = runs["c2"]["p99_ms"]
            self.results["bgremove_large_p50_ms"] = runs["large_c1"]["p50_ms"]
            self.results["bgremove_ips_c2"] = runs["bulk_c2"]["ips"]
            self.results["bgremove_server_timings"] = {label: server.item_timings(label) for label in ("c1", "c2")}
            with requests.Session() as http:
                served = server.bgremove(http, server.keys["warm"], self.photo)
            import hashlib

            self.results["bgsite_first_cutout_sha256"] = hashlib.sha256(served).hexdigest()

            files = [(path.name, data) for path, data in zip(self.bulk_paths, self.bulk_bytes, strict=True)]
            self.results["bulk"] = bulk = server.bulk(server.keys["bulk"], files, per_request=10)
            self.results["bulk_ips"] = bulk["ips"]
            log(f"bulk: {bulk['ips']} img/s ({bulk['images']} in {bulk['seconds']} s)")
            self.results["rss_mb"] = round(server_peak(server), 1)
            self.zip(server)
        except Exception:
            log(server.log())
            raise
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)

    def zip(self, server: BgsiteServer) -> None:
        """A batch of `zip_items` small real cutouts, made cheaply: a few distinct photos are processed,
        the rest are the same bytes again, which bgsite answers from its per-account result reuse."""
        key = server.keys["zip"]
        distinct = []
        for index, data in enumerate(self.bulk_bytes[: size("zip_distinct")]):
            with Image.open(io.BytesIO(data)) as photo:
                buffer = io.BytesIO()
                photo.resize((160, 120), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
            distinct.append((f"small-{index:02d}.jpg", buffer.getvalue()))
        batch_id, _ = server.batch_upload(key, distinct, per_request=100)
        server.wait_batch_done(key, batch_id, len(distinct))
        total = size("zip_items")
        repeats = [
            (f"copy-{index:04d}.jpg", distinct[index % len(distinct)][1]) for index in range(total - len(distinct))
        ]
        started = time.monotonic()
        server.batch_upload(key, repeats, per_request=100, batch_id=batch_id)
        counts = server.wait_batch_done(key, batch_id, total)
        log(f"zip batch: {counts.get('done')} cutouts ready ({time.monotonic() - started:.1f} s for the copies)")
        self.results["zip"] = result = server.zip_download(key, batch_id)
        result["distinct_photos"] = len(distinct)
        if result["members"] != total:
            raise RuntimeError(f"the zip has {result['members']} members, expected {total}")
        self.results["zip_rss_growth_mb"] = result["rss_growth_mb"]
        self.results["zip_ttfb_s"] = result["ttfb_s"]
        log(f"zip: {result['zip_mb']} MB, first byte {result['ttfb_s']} s, RSS +{result['rss_growth_mb']} MB")

    # --- where the time goes ----------------------------------------------------------------------

    def tuning(self) -> None:
        def run_json(*args: str) -> Any:
            done = subprocess.run(
                [sys.executable, "-m", "bench.tuning", *args], cwd=REPO, capture_output=True, text=True, check=True
            )
            return json.loads(done.stdout.strip().splitlines()[-1])

        tuning: dict[str, Any] = {}
        tuning["profile_1280x960"] = run_json("profile", str(self.bulk_paths[0]), str(size("profile_repeats")))
        tuning["profile_12mp"] = run_json("profile", str(self.paths.large), str(size("profile_repeats_large")))
        variants = ["rembg_sessions", "bgsite"] if QUICK else list(_memory_variants())
        tuning["memory"] = {variant: run_json("memory", variant, str(self.bulk_paths[0])) for variant in variants}
        self.results["tuning"] = tuning

    def quantization(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "bench.quantize", *map(str, self.bulk_paths)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        self.results.setdefault("tuning", {})["int8"] = int8 = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"int8: {int8['run_ms']}, mask IoU with fp32 {int8['mask_iou_vs_fp32']}")

    # --- all -----------------------------------------------------------------------------------------

    def run(self) -> int:
        check_model()
        self.results["machine"] = machine()
        self.phase("rembg venv", ensure_venv)
        self.results["versions"] = {"bgsite_venv": _versions(), "rembg_venv": _safe(versions)}
        self.phase("ceiling", self.ceiling)
        self.phase("rembg p", self.rembg_p)
        self.phase("rembg s", self.rembg_s)
        self.phase("bgsite", self.bgsite)
        self.phase("tuning", self.tuning)
        self.phase("int8", self.quantization)
        self.results["errors"] = self.errors
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        # A quick run previews the document in bench/results/ and leaves docs/ to full runs.
        report.finish(self.results, RESULTS_DIR, RESULTS_DIR if QUICK else REPO / "docs")
        return 1 if self.errors else 0


def server_peak(server: BgsiteServer) -> float:
    from bench.common import peak_rss_mb

    return peak_rss_mb(server.pid)


def _memory_variants() -> list[str]:
    from bench.tuning import MEMORY_VARIANTS

    return list(MEMORY_VARIANTS)


def _versions() -> dict[str, str]:
    names = ("rembg", "onnxruntime", "pillow", "numpy", "django", "uvicorn")
    return {name: importlib.metadata.version(name) for name in names}


def _safe(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except Exception as exc:
        return {"error": str(exc)}


def main() -> None:
    started = time.monotonic()
    code = Bench().run()
    log(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
