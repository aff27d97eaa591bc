"""Turn one run's measurements into bench/results/latest.json, a table, a chart and docs/benchmarks.md.

`python -m bench.report` redraws the chart and rewrites docs/benchmarks.md from the last
full run's bench/results/latest.json (after editing bench/docs_text.py, say) without measuring again.
"""

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from bench.common import REPO, log

# (result key, comparison, threshold, what it means)
TARGETS = [
    ("bulk_vs_rembg_p", ">=", 2.5, "bulk batch vs `rembg p`"),
    ("bulk_vs_ceiling", ">=", 0.9, "bulk batch vs the in-process ceiling"),
    ("bgremove_p50_vs_rembg_s", "<=", 0.7, "/bgremove p50 vs `rembg s` p50 (c1)"),
    ("bgremove_p99_c2_vs_p50", "<=", 2.0, "/bgremove p99 at c2 vs its p50 at c1"),
    ("rss_vs_rembg_s", "<=", 0.8, "peak RSS vs `rembg s` (2 workers)"),
    ("zip_rss_growth_mb", "<=", 64, "RSS growth streaming the zip, MB"),
    ("zip_ttfb_s", "<=", 1.0, "zip time to first byte, s"),
    ("cold_start_s", "<=", 5.0, "cold start to first /bgremove result, s"),
]
CHART_NAME = "benchmarks.png"


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float) or not denominator:
        return None
    return round(numerator / denominator, 3)


def add_ratios(results: dict[str, Any]) -> None:
    results["bulk_vs_rembg_p"] = _ratio(results.get("bulk_ips"), results.get("rembg_p_ips"))
    results["bulk_vs_rembg_p_tuned"] = _ratio(results.get("bulk_ips"), results.get("rembg_p_ips_tuned"))
    results["bulk_vs_ceiling"] = _ratio(results.get("bulk_ips"), results.get("ceiling_ips"))
    results["bgremove_p50_vs_rembg_s"] = _ratio(results.get("bgremove_p50_ms"), results.get("rembg_s_p50_ms"))
    results["bgremove_p99_c2_vs_p50"] = _ratio(results.get("bgremove_p99_ms_c2"), results.get("bgremove_p50_ms"))
    results["rss_vs_rembg_s"] = _ratio(results.get("rss_mb"), results.get("rembg_s_rss_mb"))
    results["bgremove_ips_c2_vs_rembg_s"] = _ratio(results.get("bgremove_ips_c2"), results.get("rembg_s_ips_c2"))
    same = results.get("ceiling_first_cutout_sha256")
    results["ceiling_same_bytes_as_bgsite"] = bool(same) and same == results.get("bgsite_first_cutout_sha256")
    verdicts = {}
    for key, comparison, threshold, meaning in TARGETS:
        value = results.get(key)
        met = None
        if isinstance(value, int | float):
            met = value >= threshold if comparison == ">=" else value <= threshold
        verdicts[key] = {"value": value, "target": f"{comparison} {threshold:g}", "met": met, "what": meaning}
    results["targets"] = verdicts


# --- formatting -------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def headline_rows(r: dict[str, Any]) -> list[list[str]]:
    t = r.get("targets", {})

    def verdict(key: str) -> str:
        entry = t.get(key, {})
        return f"{entry.get('target', '')} ({mark(entry.get('met'))})"

    p = r.get("rembg_p_best", "")
    return [
        [
            f"Bulk, {r.get('bulk', {}).get('images', 50)} x 1280x960, img/s",
            fmt(r.get("bulk_ips")),
            f"`rembg p` {fmt(r.get('rembg_p_ips'))} ({p})",
            fmt(r.get("bulk_vs_rembg_p")),
            verdict("bulk_vs_rembg_p"),
        ],
        [
            "Bulk vs `rembg p` tuned by hand, img/s",
            fmt(r.get("bulk_ips")),
            f"2 processes, OMP_NUM_THREADS=1: {fmt(r.get('rembg_p_ips_tuned'))}",
            fmt(r.get("bulk_vs_rembg_p_tuned")),
            "— (not in the issue)",
        ],
        [
            "Bulk vs in-process ceiling, img/s",
            fmt(r.get("bulk_ips")),
            f"ceiling {fmt(r.get('ceiling_ips'))} ({r.get('ceiling_layout', '')})",
            fmt(r.get("bulk_vs_ceiling")),
            verdict("bulk_vs_ceiling"),
        ],
        [
            "/bgremove p50, 1280x960, c1, ms",
            fmt(r.get("bgremove_p50_ms")),
            f"`rembg s` {fmt(r.get('rembg_s_p50_ms'))}",
            fmt(r.get("bgremove_p50_vs_rembg_s")),
            verdict("bgremove_p50_vs_rembg_s"),
        ],
        [
            "/bgremove p99, 1280x960, c2, ms",
            fmt(r.get("bgremove_p99_ms_c2")),
            f"`rembg s` {fmt(r.get('rembg_s_p99_ms_c2'))}",
            f"{fmt(r.get('bgremove_p99_c2_vs_p50'))} x own p50",
            verdict("bgremove_p99_c2_vs_p50"),
        ],
        [
            "Throughput via HTTP, c2, img/s",
            fmt(r.get("bgremove_ips_c2")),
            f"`rembg s` {fmt(r.get('rembg_s_ips_c2'))}",
            fmt(r.get("bgremove_ips_c2_vs_rembg_s")),
            "—",
        ],
        [
            "/bgremove p50, 12 MP, ms",
            fmt(r.get("bgremove_large_p50_ms")),
            f"`rembg s` {fmt(r.get('rembg_s_large_p50_ms'))}",
            fmt(_ratio(r.get("bgremove_large_p50_ms"), r.get("rembg_s_large_p50_ms"))),
            "—",
        ],
        [
            "Peak RSS of the server, MB",
            fmt(r.get("rss_mb")),
            f"`rembg s` {fmt(r.get('rembg_s_rss_mb'))}",
            fmt(r.get("rss_vs_rembg_s")),
            verdict("rss_vs_rembg_s"),
        ],
        [
            "Cold start to first result, s",
            fmt(r.get("cold_start_s")),
            f"`rembg s` {fmt(r.get('rembg_s_cold_start_s'))}",
            "—",
            verdict("cold_start_s"),
        ],
        [
            f"Zip of {r.get('zip', {}).get('members', '—')} cutouts: RSS growth, MB",
            fmt(r.get("zip_rss_growth_mb")),
            "—",
            "—",
            verdict("zip_rss_growth_mb"),
        ],
        ["Zip: time to first byte, s", fmt(r.get("zip_ttfb_s"), 3), "—", "—", verdict("zip_ttfb_s")],
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    cells = [header, *rows]
    widths = [max(len(row[i].replace("`", "").replace("**", "")) for row in cells) for i in range(len(header))]
    out = []
    for index, row in enumerate(cells):
        out.append(
            "  ".join(
                cell.replace("`", "").replace("**", "").ljust(width) for cell, width in zip(row, widths, strict=True)
            )
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


HEADLINE = ["Measure", "bgsite", "rembg", "ratio", "target"]


def latency_rows(r: dict[str, Any]) -> list[list[str]]:
    labels = {
        "c1": "1280x960, c1",
        "c2": "1280x960, c2",
        "large_c1": "12 MP, c1",
        "small_c1": "640x480, c1",
        "bulk_c2": "50 photos, c2",
    }
    rows = []
    for key, label in labels.items():
        ours, theirs = r.get("bgremove", {}).get(key, {}), r.get("rembg_s", {}).get(key, {})
        rows.append(
            [
                label,
                str(ours.get("requests", "—")),
                fmt(ours.get("p50_ms")),
                fmt(ours.get("p99_ms")),
                fmt(ours.get("ips")),
                fmt(theirs.get("p50_ms")),
                fmt(theirs.get("p99_ms")),
                fmt(theirs.get("ips")),
            ]
        )
    return rows


def stage_rows(r: dict[str, Any]) -> list[list[str]]:
    tuning = r.get("tuning", {})
    small, large = tuning.get("profile_1280x960", {}).get("ms", {}), tuning.get("profile_12mp", {}).get("ms", {})
    names = [
        ("decode", "decode JPEG + EXIF"),
        ("model_input", "model input (resize to 320², normalise)"),
        ("onnx_run", "ONNX Runtime run, u2netp-int8 (1 thread)"),
        ("onnx_run_fp32", "— the same run on u2netp fp32, for comparison"),
        ("mask_upscale", "mask upscale (LANCZOS)"),
        ("mask_cleanup", "mask clean-up (snap, specks, holes)"),
        ("decontaminate", "edge colour decontamination"),
        ("compose", "compose RGBA (Pillow, in place)"),
        ("png_level1", "PNG encode, level 1"),
        ("cut_out_total", "whole `pipeline.cut_out`"),
    ]
    return [[label, fmt(small.get(key), 1), fmt(large.get(key), 1)] for key, label in names]


def memory_rows(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, m in r.get("tuning", {}).get("memory", {}).items():
        rows.append(
            [
                name,
                fmt(m.get("import_and_sessions_s")),
                fmt(m.get("rss_after_sessions_mb"), 0),
                fmt(m.get("rss_after_runs_mb"), 0),
                fmt(m.get("peak_rss_mb"), 0),
                fmt(m.get("cut_out_ms_p50"), 0),
            ]
        )
    return rows


def layout_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        [
            name,
            fmt(run.get("ips")),
            fmt(run.get("per_image_ms_p50"), 0),
            fmt(run.get("solo_ms_p50"), 0),
            fmt(run.get("peak_rss_mb"), 0),
        ]
        for name, run in r.get("ceiling_layouts", {}).items()
    ]


def rembg_p_rows(r: dict[str, Any]) -> list[list[str]]:
    labels = {"c1": "1 process", "c2": "2 processes", "c2_omp1": "2 processes, OMP_NUM_THREADS=1"}
    return [
        [labels.get(name, name), fmt(run.get("ips")), fmt(run.get("wall_ips")), fmt(run.get("peak_rss_mb"), 0)]
        for name, run in r.get("rembg_p_runs", {}).items()
    ]


# --- chart ---------------------------------------------------------------------------------------------


def chart(results_path: Path, target: Path) -> str:
    """Matplotlib in the bench venv; Pillow here if that fails. Returns what drew it."""
    from bench.rembg_cli import PYTHON

    if PYTHON.exists():
        done = subprocess.run(
            [str(PYTHON), "-m", "bench.chart", str(results_path), str(target)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return "matplotlib"
        log(f"matplotlib chart failed, drawing with Pillow: {done.stderr[-500:]}")
    from bench.chart import draw_with_pillow

    draw_with_pillow(json.loads(results_path.read_text()), target)
    return "pillow"


# --- the document ---------------------------------------------------------------------------------------


def finish(results: dict[str, Any], results_dir: Path, docs_dir: Path) -> None:
    add_ratios(results)
    results_dir.mkdir(parents=True, exist_ok=True)
    results_path = results_dir / "latest.json"
    results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    stamp = results.get("started", "").replace(" ", "_").replace(":", "")
    if not results.get("quick"):
        (results_dir / f"run-{stamp}.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    try:
        results["chart_drawn_with"] = chart(results_path, docs_dir / CHART_NAME)
    except Exception as exc:  # the numbers matter more than the picture
        log(f"no chart: {exc}")
    results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print()
    print(text_table(HEADLINE, headline_rows(results)))
    print()
    if results.get("errors"):
        print("Phases that failed:", json.dumps(results["errors"], indent=2))
    (docs_dir / "benchmarks.md").write_text(document(results))
    log(f"wrote {results_path.relative_to(REPO)} and {(docs_dir / 'benchmarks.md').relative_to(REPO)}")


def document(r: dict[str, Any]) -> str:
    from bench.docs_text import render

    return render(r)


def main() -> None:
    results_path = REPO / "bench" / "results" / "latest.json"
    results = json.loads(results_path.read_text())
    docs_dir = REPO / "bench" / "results" if results.get("quick") else REPO / "docs"
    add_ratios(results)
    chart(results_path, docs_dir / CHART_NAME)
    (docs_dir / "benchmarks.md").write_text(document(results))
    print(text_table(HEADLINE, headline_rows(results)))
    log(f"rewrote {(docs_dir / 'benchmarks.md').relative_to(REPO)} from {results_path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
