"""The chart in docs/benchmarks.md: throughput, latency and memory, bgsite beside rembg.

    python -m bench.chart RESULTS.json OUT.png   (matplotlib, in bench/.venv-rembg)
`draw_with_pillow` is the fallback when matplotlib is not available.
"""

import json
import sys
from pathlib import Path
from typing import Any

BGSITE, REMBG, CEILING = "#2b7bb9", "#d9822b", "#7a7a7a"


def panels(r: dict[str, Any]) -> list[tuple[str, list[tuple[str, float, str]]]]:
    """(title, [(label, value, colour)]) for each panel; missing values are left out."""
    bg, rs = r.get("bgremove", {}), r.get("rembg_s", {})

    def value(x: Any) -> float:
        return float(x) if isinstance(x, int | float) else float("nan")

    throughput = [
        ("ceiling\n(in-process)", value(r.get("ceiling_ips")), CEILING),
        ("bgsite\nbulk", value(r.get("bulk_ips")), BGSITE),
        ("bgsite\n/bgremove c2", value(r.get("bgremove_ips_c2")), BGSITE),
        ("rembg s\nc2", value(r.get("rembg_s_ips_c2")), REMBG),
        ("rembg p\n(as shipped)", value(r.get("rembg_p_ips")), REMBG),
    ]
    latency = [
        ("bgsite\np50 c1", value(bg.get("c1", {}).get("p50_ms")), BGSITE),
        ("rembg s\np50 c1", value(rs.get("c1", {}).get("p50_ms")), REMBG),
        ("bgsite\np99 c2", value(bg.get("c2", {}).get("p99_ms")), BGSITE),
        ("rembg s\np99 c2", value(rs.get("c2", {}).get("p99_ms")), REMBG),
    ]
    large = [
        ("bgsite", value(bg.get("large_c1", {}).get("p50_ms")), BGSITE),
        ("rembg s", value(rs.get("large_c1", {}).get("p50_ms")), REMBG),
    ]
    memory = [
        ("bgsite\n(2 workers)", value(r.get("rss_mb")), BGSITE),
        ("rembg s", value(r.get("rembg_s_rss_mb")), REMBG),
    ]
    return [
        ("Throughput, images/s (higher is better)", throughput),
        ("1280x960 latency, ms (lower is better)", latency),
        ("12 MP latency p50, ms", large),
        ("Peak RSS, MB (lower is better)", memory),
    ]


def subtitle(r: dict[str, Any]) -> str:
    m = r.get("machine", {})
    quick = " — QUICK run" if r.get("quick") else ""
    return f"u2netp on {m.get('cpu', '?')}, {m.get('cores', '?')} cores; {r.get('started', '')}{quick}"


def draw_with_matplotlib(r: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout = panels(r)
    figure, axes = plt.subplots(1, len(layout), figsize=(16, 4.6), gridspec_kw={"width_ratios": [5, 4, 2, 2]})
    for axis, (title, bars) in zip(axes, layout, strict=True):
        labels = [label for label, _, _ in bars]
        values = [value for _, value, _ in bars]
        drawn = axis.bar(labels, values, color=[colour for _, _, colour in bars])
        texts = [f"{value:.3g}" if value < 100 else f"{value:,.0f}" for value in values]
        axis.bar_label(drawn, labels=texts, fontsize=8, padding=2)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
        axis.margins(y=0.15)
    figure.suptitle(f"bgsite vs rembg — {subtitle(r)}", fontsize=10)
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def draw_with_pillow(r: dict[str, Any], target: Path) -> None:
    from PIL import Image, ImageDraw

    layout = panels(r)
    width, height, margin = 1600, 480, 40
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, 10), f"bgsite vs rembg - {subtitle(r)}".replace("\u2014", "-"), fill="black")
    panel_width = (width - margin) // len(layout)
    for index, (title, bars) in enumerate(layout):
        left = margin // 2 + index * panel_width
        draw.text((left + 10, 40), title, fill="black")
        finite = [value for _, value, _ in bars if value == value]
        top = max(finite, default=1) or 1
        bar_width = (panel_width - 40) // max(1, len(bars))
        for position, (label, value, colour) in enumerate(bars):
            x0 = left + 20 + position * bar_width
            if value == value:
                bar_height = int((height - 160) * value / top)
                draw.rectangle((x0, height - 80 - bar_height, x0 + bar_width - 12, height - 80), fill=colour)
                text = f"{value:.3g}" if value < 100 else f"{value:,.0f}"
                draw.text((x0, height - 95 - bar_height), text, fill="black")
            draw.multiline_text((x0, height - 72), label, fill="black")
    canvas.save(target)


def main() -> None:
    results, target = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    draw_with_matplotlib(results, target)


if __name__ == "__main__":
    main()
