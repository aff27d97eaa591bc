"""The chart in docs/benchmarks.md: throughput, latency and memory, bgsite beside rembg.

bench/.venv-rembg/bin/python -m bench.chart RESULTS.json OUT.png    (matplotlib is in the rembg venv)
"""

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import get

# A bar's colour says whose figure it is, by the first word of its label.
COLOURS = {"bgsite": "#2b7bb9", "rembg": "#d9822b", "ceiling": "#7a7a7a"}
# Each panel's title and bars: {label: path of the figure in the results}.
PANELS = {
    "Throughput, images/s (higher is better)": {
        "ceiling\n(in-process)": "ceiling_ips",
        "bgsite\nbulk": "bulk.ips",
        "bgsite\n/bgremove c2": "bgremove.bulk_c2.ips",
        "rembg s\nc2": "rembg_s.bulk_c2.ips",
        "rembg p\n(as shipped)": "rembg_p_ips",
    },
    "1280x960 latency, ms (lower is better)": {
        "bgsite\np50 c1": "bgremove.c1.p50_ms",
        "rembg s\np50 c1": "rembg_s.c1.p50_ms",
        "bgsite\np99 c2": "bgremove.c2.p99_ms",
        "rembg s\np99 c2": "rembg_s.c2.p99_ms",
    },
    "12 MP latency p50, ms": {"bgsite": "bgremove.large_c1.p50_ms", "rembg s": "rembg_s.large_c1.p50_ms"},
    "Peak RSS, MB (lower is better)": {"bgsite\n(2 workers)": "rss_mb", "rembg s": "rembg_s_rss_mb"},
}


def draw(r: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(PANELS), figsize=(16, 4.6), gridspec_kw={"width_ratios": [5, 4, 2, 2]})
    for axis, (title, bars) in zip(axes, PANELS.items(), strict=True):
        values = [float(get(r, path) or "nan") for path in bars.values()]  # NaN: a phase that failed
        drawn = axis.bar(list(bars), values, color=[COLOURS[label.split()[0]] for label in bars])
        labels = [f"{value:.3g}" if value < 100 else f"{value:,.0f}" for value in values]
        axis.bar_label(drawn, labels=labels, fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
        axis.margins(y=0.15)
    m = r["machine"]
    quick = " — QUICK run" if r["quick"] else ""
    figure.suptitle(f"bgsite vs rembg — u2netp on {m['cpu']}, {m['cores']} cores; {r['started']}{quick}", fontsize=10)
    figure.tight_layout()
    figure.savefig(target, dpi=110)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
