"""One run's figures into bench/results/latest.json, the printed table, the chart and docs/benchmarks.md.

docs/benchmarks.md is bench/templates/benchmarks.md with the figures filled in. `python -m bench.report`
rewrites it from the last bench/results/latest.json (after editing the template) without measuring again.
"""

import json
import math
import re
import string
import subprocess
from typing import Any

from bench.common import REPO, RESULTS, get, log, markdown_table, text_table
from bench.rembg_cli import PYTHON as REMBG_PYTHON

TEMPLATE = REPO / "bench" / "templates" / "benchmarks.md"
IMAGE_SETS = {
    "realphotos": "the real-photo set of `make quality` (`bench/realphotos`: alphamatting.com, Oxford-IIIT Pet and "
    "DAVIS 2016 photographs of products, plants, animals, people and groups)",
    "scikit-image": "the camera photos that ship with scikit-image (astronaut, chelsea, coffee, motorcycle_left, "
    "motorcycle_right, rocket; the real-photo set was not installed)",
}
TUNED = "2 processes, OMP_NUM_THREADS=1"  # `rembg p` with one ORT thread per process, as bgsite's workers
SIZES_KB = ("bulk_c2", "large_c1", "small_c1")  # output bytes at 1280x960, 12 MP and 640x480


def ratio(numerator: Any, denominator: Any) -> float | None:
    if isinstance(numerator, int | float) and isinstance(denominator, int | float) and denominator:
        return round(numerator / denominator, 3)
    return None


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def non_model_share(stages: dict[str, Any]) -> float | None:
    """What one cutout spends outside the model run, over the model run."""
    total, model = stages.get("cut_out_total"), stages.get("onnx_run")
    return ratio(total - model, model) if total and model else None


def targets(r: dict[str, Any]) -> dict[str, tuple[Any, str, float]]:
    """Issues 6 and 25's targets: name -> (value, comparison, threshold)."""
    kb = [ratio(get(r, f"bgremove.{mix}.kb_per_image"), get(r, f"rembg_s.{mix}.kb_per_image")) for mix in SIZES_KB]
    measured_kb = [value for value in kb if value is not None]
    return {
        "non_model_vs_model_1280": (non_model_share(get(r, "stages.1280x960") or {}), "<=", 0.4),
        "cutout_12mp_ms": (get(r, "stages.4000x3000.cut_out_total"), "<=", 700),
        "bgremove_12mp_p50_vs_rembg_s": (
            ratio(get(r, "bgremove.large_c1.p50_ms"), get(r, "rembg_s.large_c1.p50_ms")),
            "<=",
            0.4,
        ),
        "bulk_vs_rembg_p_tuned": (ratio(get(r, "bulk.ips"), get(r, f"rembg_p_runs.{TUNED}.ips")), ">=", 2.0),
        "output_bytes_vs_rembg_max": (max(measured_kb) if len(measured_kb) == len(kb) else None, "<=", 1.0),
        "memory_50mp_mb": (get(r, "memory_50mp.peak_rss_mb"), "<=", 1536),
        "bulk_vs_rembg_p": (ratio(get(r, "bulk.ips"), r.get("rembg_p_ips")), ">=", 2.5),
        "bulk_vs_ceiling": (ratio(get(r, "bulk.ips"), get(r, "ceiling_beside_bulk.ips")), ">=", 0.9),
        "bgremove_p50_vs_rembg_s": (ratio(get(r, "bgremove.c1.p50_ms"), get(r, "rembg_s.c1.p50_ms")), "<=", 0.7),
        "bgremove_p99_c2_vs_p50": (ratio(get(r, "bgremove.c2.p99_ms"), get(r, "bgremove.c1.p50_ms")), "<=", 2.0),
        "rss_vs_rembg_s": (ratio(r.get("rss_mb"), r.get("rembg_s_rss_mb")), "<=", 0.8),
        "zip_rss_growth_mb": (get(r, "zip.rss_growth_mb"), "<=", 64),
        "zip_ttfb_s": (get(r, "zip.ttfb_s"), "<=", 1.0),
        "cold_start_s": (r.get("cold_start_s"), "<=", 5.0),
    }


def verdict(r: dict[str, Any], name: str) -> str:
    """Target `name`'s value, threshold and whether it was met; "—" for no target."""
    if not name:
        return "—"
    value, comparison, threshold = targets(r)[name]
    if not isinstance(value, int | float):
        return f"{comparison} {threshold:g}: not measured"
    met = value >= threshold if comparison == ">=" else value <= threshold
    return f"{fmt(value, 3)} {comparison} {threshold:g}: {'met' if met else '**missed**'}"


FRONTS = {"page": "upload page (Chromium), then the zip", "cli": "`bgsite remove DIR -o OUT`"}

# Measure | bgsite's figure | what it is compared with | its figure | target; figures are paths into the results.
HEADLINE_ROWS = [
    [cell.strip() for cell in line.split("|")]
    for line in f"""
Bulk batch of 1280x960 photos, img/s | bulk.ips | `rembg p` | rembg_p_ips | bulk_vs_rembg_p
Bulk vs `rembg p` tuned by hand, img/s | bulk.ips | {TUNED} | rembg_p_runs.{TUNED}.ips | bulk_vs_rembg_p_tuned
Bulk batch of 12 MP photos, img/s | bulk_12mp.ips | `rembg p` | rembg_p_12mp.ips |
Bulk vs in-process ceiling run right after it, img/s | bulk.ips | ceiling | ceiling_beside_bulk.ips | bulk_vs_ceiling
/bgremove p50, 1280x960, c1, ms | bgremove.c1.p50_ms | `rembg s` | rembg_s.c1.p50_ms | bgremove_p50_vs_rembg_s
/bgremove p99, 1280x960, c2, ms (target: ÷ own c1 p50) | bgremove.c2.p99_ms | `rembg s` | rembg_s.c2.p99_ms \
| bgremove_p99_c2_vs_p50
Throughput via HTTP, c2, img/s | bgremove.bulk_c2.ips | `rembg s` | rembg_s.bulk_c2.ips |
/bgremove p50, 12 MP, ms | bgremove.large_c1.p50_ms | `rembg s` | rembg_s.large_c1.p50_ms \
| bgremove_12mp_p50_vs_rembg_s
Output PNG per 1280x960 photo, KB | bgremove.bulk_c2.kb_per_image | `rembg s` | rembg_s.bulk_c2.kb_per_image |
Output PNG per 12 MP photo, KB | bgremove.large_c1.kb_per_image | `rembg s` | rembg_s.large_c1.kb_per_image |
Output PNG per 640x480 photo, KB | bgremove.small_c1.kb_per_image | `rembg s` | rembg_s.small_c1.kb_per_image |
Peak RSS of the server, MB | rss_mb | `rembg s` | rembg_s_rss_mb | rss_vs_rembg_s
Cold start to first result, s | cold_start_s | `rembg s` | rembg_s_cold_start_s | cold_start_s
Zip of a large batch: RSS growth, MB | zip.rss_growth_mb | | | zip_rss_growth_mb
Zip: time to first byte, s | zip.ttfb_s | | | zip_ttfb_s
""".strip().splitlines()
]


def headline_rows(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    for label, ours, name, theirs, target in HEADLINE_ROWS:
        ours_value, theirs_value = get(r, ours), get(r, theirs) if theirs else None
        compared = f"{name} {fmt(theirs_value)}" if theirs else "—"
        rows.append([label, fmt(ours_value), compared, fmt(ratio(ours_value, theirs_value)), verdict(r, target)])
    return rows


HEADLINE = ["Measure", "bgsite", "rembg", "ratio", "target"]
# The template's tables of a row per run: placeholder -> (where the runs are, each row's fields after the run's name).
RUN_ROWS = {
    "layout_rows": ("ceiling_layouts", ["ips", "per_image_ms_p50", "solo_ms_p50", "peak_rss_mb"]),
    "rembg_p_rows": ("rembg_p_runs", ["ips", "wall_ips", "peak_rss_mb", "kb_per_image"]),
    "fronts_rows": ("fronts", ["images", "seconds", "ips"]),
}


class Page(string.Template):
    """The template: `$name` is a value `fill` computes; `${a.b:N}` is results["a"]["b"] as `fmt` writes it with
    N digits, `${a.b:raw}` the figure as it is."""

    braceidpattern = r"[\w.]+:\w+"


def fill(r: dict[str, Any]) -> str:
    """bench/templates/benchmarks.md with this run's figures."""
    m, small = r.get("machine", {}), get(r, "stages.1280x960") or {}
    onnx_ms, cut_ms = small.get("onnx_run"), small.get("cut_out_total")
    bound = 2000 / onnx_ms if onnx_ms else None
    timings = r.get("bgremove_server_timings", {})
    p50, rembg_p = get(r, "bgremove.c1.p50_ms"), r.get("rembg_p_ips")
    load, end_load = m.get("load_avg_at_start"), m.get("load_avg_at_end")
    same_bytes = r.get("ceiling_first_cutout_sha256") == r.get("bgsite_first_cutout_sha256")
    values = {
        "int8_flags": ", ".join(f"`{flag}`" for flag in m.get("int8_flags", [])) or "none of them",
        "vnni": "with" if {"avx512_vnni", "avx_vnni"} & set(m.get("int8_flags", [])) else "**without**",
        "phone_count": len(r.get("phone_sources", [])),
        "phone_sources": ", ".join(r.get("phone_sources", [])),
        "non_model_share": fmt(non_model_share(small), 2),
        "memory_50mp_s": fmt((get(r, "memory_50mp.ms") or 0) / 1000 or None),
        "load": f"{fmt(load)} at the start"
        + (f", {fmt(end_load)} at the end" if end_load is not None else "")
        + (" (the machine was busy: these numbers are noisy)" if max(load or 0, end_load or 0) > 0.5 else ""),
        "quick": " This was a **quick** run (`BENCH_QUICK=1`); rerun `make bench` for the real figures." * r["quick"],
        "errors": "".join(
            f"\n**Failed in this run:** {name}: {error}\n" for name, error in r.get("errors", {}).items()
        ),
        "headline_table": markdown_table(HEADLINE, headline_rows(r)),
        "image_set": IMAGE_SETS.get(r.get("images", ""), "—"),
        "model_share": f"{100 * onnx_ms / cut_ms:.0f} %" if onnx_ms and cut_ms else "—",
        "onnx_s": f"{onnx_ms / 1000:.3f}" if onnx_ms else "—",
        "model_bound": fmt(bound),
        "model_bound_vs_p": fmt(ratio(bound, rembg_p)),
        "same_bytes": "the same" if same_bytes else "**not** the same",
        "cli_vs_page": fmt(ratio(get(r, "fronts.cli.ips"), get(r, "fronts.page.ips"))),
        "overhead_ms": fmt(p50 - timings["queued_to_finished_ms_p50"] if p50 and timings else None, 0),
        "targets": "\n".join(f"- `{name}` {verdict(r, name)}" for name in targets(r)),
        "rembg_p_x25": fmt(2.5 * rembg_p if rembg_p else None),
        "worker_budget_ms": fmt(2000 / (2.5 * rembg_p) if rembg_p else None, 0),
        "server_ms_per_image": fmt(2000 / get(r, "bulk.ips") if get(r, "bulk.ips") else None, 0),
        "rembg_s_x07": fmt(0.7 * get(r, "rembg_s.c1.p50_ms") if get(r, "rembg_s.c1.p50_ms") else None, 0),
    }
    for name, (path, fields) in RUN_ROWS.items():
        runs = (get(r, path) or {}).items()
        values[name] = "".join(
            f"\n| {FRONTS.get(run_name, run_name)} | " + " | ".join(fmt(run.get(field)) for field in fields) + " |"
            for run_name, run in runs
        )
    page = Page(TEMPLATE.read_text())
    for path, digits in re.findall(r"\$\{([\w.]+):(\w+)\}", page.template):
        value = get(r, path)
        values[f"{path}:{digits}"] = str(value) if digits == "raw" else fmt(value, int(digits))
    return page.substitute(values)


def finish(results: dict[str, Any]) -> None:
    """Write the results, print the table, draw the chart and the page (a quick run's go to bench/results/)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=True) + "\n"
    (RESULTS / "latest.json").write_text(text)
    if not results["quick"]:
        (RESULTS / f"run-{results['started'].replace(' ', '_').replace(':', '')}.json").write_text(text)
    write_page(results)
    print("\n" + text_table(HEADLINE, headline_rows(results)) + "\n")


def write_page(results: dict[str, Any]) -> None:
    docs = RESULTS if results["quick"] else REPO / "docs"
    chart = [REMBG_PYTHON, "-m", "bench.chart", str(RESULTS / "latest.json"), str(docs / "benchmarks.png")]
    drawn = subprocess.run(chart, cwd=REPO, capture_output=True, text=True, check=False)
    if drawn.returncode:  # the figures matter more than the picture
        log(f"no chart: {drawn.stderr[-500:]}")
    (docs / "benchmarks.md").write_text(fill(results))
    log(f"wrote {(docs / 'benchmarks.md').relative_to(REPO)}")


if __name__ == "__main__":
    write_page(json.loads((RESULTS / "latest.json").read_text()))
