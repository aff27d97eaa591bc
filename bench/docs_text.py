"""docs/benchmarks.md, written from one run's results (bench/results/latest.json) by `make bench`."""

from typing import Any

from bench.report import (
    CHART_NAME,
    HEADLINE,
    TARGETS,
    fmt,
    headline_rows,
    latency_rows,
    layout_rows,
    markdown_table,
    memory_rows,
    rembg_p_rows,
    stage_rows,
)


def get(r: dict[str, Any], *path: str) -> Any:
    value: Any = r
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def diff(a: Any, b: Any) -> float | None:
    a, b = num(a), num(b)
    return None if a is None or b is None else a - b


def pct(part: Any, whole: Any) -> str:
    part, whole = num(part), num(whole)
    return "—" if part is None or not whole else f"{100 * part / whole:.0f} %"


def _poll_schedule(first: float = 20, factor: float = 1.5, cap: float = 250, until: float = 1200) -> str:
    looks, delay, at = [], first, 0.0
    while at + delay <= until:
        at += delay
        looks.append(f"{at:.0f}")
        delay = min(delay * factor, cap)
    return ", ".join(looks)


POLL_SCHEDULE = _poll_schedule()


def bulk_reason(r: dict[str, Any], onnx_ms: float | None, cut_ms: float | None, rembg_p: float | None) -> str:
    """Why bulk is short of 2.5x `rembg p`, in this run's numbers."""
    bulk = num(r.get("bulk_ips"))
    if not (onnx_ms and cut_ms and rembg_p and bulk):
        return ""
    budget = 2000 / (2.5 * rembg_p)  # ms per image per worker, with two workers
    now = 2000 / bulk
    text = (
        f"2.5x `rembg p` is {2.5 * rembg_p:.2f} images/s: each of the two workers would have to finish an image "
        f"every {budget:.0f} ms. In the server each takes {now:.0f} ms; in-process the pipeline takes "
        f"{cut_ms:.0f} ms, of which the model run is {onnx_ms:.0f} ms. "
    )
    if onnx_ms >= budget:
        return text + (
            "The model run alone is over the budget, so no plumbing can reach the target on this machine: it "
            "needs a cheaper model run that still passes the quality guard (int8 did not, see proposal 8)."
        )
    return text + (
        f"That leaves {budget - onnx_ms:.0f} ms for decoding, compositing, encoding and the server, which now "
        f"take {now - onnx_ms:.0f} ms: proposals 5-7 and a leaner job path (fewer database writes and events per "
        "item) are what is left, and the margin is thin."
    )


def p50_reason(r: dict[str, Any], timings: dict[str, Any], layouts: dict[str, Any]) -> str:
    theirs, ours = num(r.get("rembg_s_p50_ms")), num(r.get("bgremove_p50_ms"))
    worker, finished = num(timings.get("worker_ms_p50")), num(timings.get("queued_to_finished_ms_p50"))
    alone_shared = num(get(layouts, "2x2-shared", "solo_ms_p50"))
    if not (theirs and ours and worker and finished):
        return "Proposals 1 and 2."
    text = (
        f"0.7x `rembg s` is {0.7 * theirs:.0f} ms. bgsite's {ours:.0f} ms is {worker:.0f} ms of work on one "
        f"ONNX Runtime thread (`rembg s` gives a lone request both cores) plus {ours - finished:.0f} ms of "
        "waiting for the next database poll and HTTP. Proposal 1 removes that wait (small when the work ends "
        "just before a poll, up to ~230 ms when it ends just after one)"
    )
    if alone_shared:
        landing = alone_shared + (finished - worker) + 25
        text += (
            f"; proposal 2 brings the work of a lone request to about {alone_shared:.0f} ms (in-process), "
            f"so both together would land near {landing:.0f} ms"
            + ("; proposal 5 and a leaner request path would have to find the rest" if landing > 0.7 * theirs else "")
        )
    return text + "."


def render(r: dict[str, Any]) -> str:
    m = r.get("machine", {})
    v = get(r, "versions", "bgsite_venv") or {}
    vr = get(r, "versions", "rembg_venv") or {}
    layouts = r.get("ceiling_layouts", {})
    small = get(r, "tuning", "profile_1280x960") or {}
    large = get(r, "tuning", "profile_12mp") or {}
    memory = get(r, "tuning", "memory") or {}
    timings = get(r, "bgremove_server_timings", "c1") or {}
    int8 = get(r, "tuning", "int8") or {}
    onnx_ms = num(get(small, "ms", "onnx_run"))
    cut_ms = num(get(small, "ms", "cut_out_total"))
    model_bound_ips = 2000 / onnx_ms if onnx_ms else None
    rembg_p = num(r.get("rembg_p_ips"))
    tuned = num(r.get("rembg_p_ips_tuned"))
    e2e_p50 = num(r.get("bgremove_p50_ms"))
    finished = num(timings.get("queued_to_finished_ms_p50"))
    overhead = diff(e2e_p50, finished)
    solo_2x1 = get(layouts, "2x1", "solo_ms_p50")
    solo_shared = get(layouts, "2x2-shared", "solo_ms_p50")
    ips_2x1 = get(layouts, "2x1", "ips")
    ips_shared = get(layouts, "2x2-shared", "ips")
    mem = {name: memory.get(name, {}) for name in memory}
    peak_base = get(mem, "bgsite", "peak_rss_mb")
    load = m.get("load_avg_at_start")
    noisy = isinstance(load, int | float) and load > 0.5
    quick = (
        " This was a **quick** run (`BENCH_QUICK=1`: 10 images, fewer repeats); rerun `make bench` "
        "for the real numbers."
        if r.get("quick")
        else ""
    )

    out: list[str] = []
    add = out.append
    add("# Benchmarks: bgsite against rembg on the same machine\n")
    add(
        "_Generated by `make bench` from `bench/results/latest.json`; do not edit by hand "
        "(the text lives in `bench/docs_text.py`)._\n"
    )
    add(
        f"Run of {r.get('started', '?')} on **{m.get('cpu', '?')}**, {m.get('cores', '?')} cores, "
        f"{m.get('ram_gb', '?')} GB RAM (Linux {m.get('kernel', '?')}, Python {m.get('python', '?')}); "
        f"load average at start {fmt(load)}{' — the machine was busy, so these numbers are noisy' if noisy else ''}."
        f"{quick} Model `u2netp` everywhere, from the same offline file.\n"
    )
    if r.get("errors"):
        add("**Phases that failed in this run:** " + "; ".join(f"{k}: {e}" for k, e in r["errors"].items()) + "\n")
    add("## Results\n")
    add(markdown_table(HEADLINE, headline_rows(r)) + "\n")
    add(f"![bgsite vs rembg: throughput, latency, memory]({CHART_NAME})\n")
    add(
        "Ratios are bgsite ÷ rembg (or ÷ the ceiling), from this one run. `rembg p` is the faster of 1 and 2 "
        "processes as shipped; `rembg s` is its API server. Targets are those of issue 6.\n"
    )

    add("## What is measured, and how\n")
    add(
        "- **Images** (`bench/images.py`, kept out of git): 50 photos of 1280x960 "
        "made from ten photos shipped with scikit-image (astronaut, chelsea, coffee, rocket, motorcycles, "
        "Hubble, retina, IHC, camera), five crops/mirrors each, with a little seeded grain so they compress like "
        "camera JPEGs (quality 90); plus one 4000x3000 (12 MP) and one 640x480. "
        f"This run used {get(r, 'bulk', 'images') or 50} of the 50.\n"
        "- **Ceiling** (`bench/ceiling.py`): bgsite's own `pipeline.cut_out` (rembg's u2netp session, EXIF "
        "decode, compose, PNG level 1) in one process with nothing around it, over the same photos, in several "
        "thread layouts; the best is the ceiling. It produces byte-for-byte what bgsite serves: "
        f"{'checked, same SHA-256' if r.get('ceiling_same_bytes_as_bgsite') else 'NOT the same bytes in this run'}.\n"
        "- **`rembg p`**: `rembg p -m u2netp IN OUT` from `bench/.venv-rembg` (`rembg[cli]` "
        f"{vr.get('rembg', '?')}, onnxruntime {vr.get('onnxruntime', '?')}); with 2 processes each gets half the "
        "folder. Images/s counts from each process's first to its last output file, so its start-up is not "
        "charged to it. The ratio uses the faster of 1 and 2 processes as shipped; a third run with "
        "`OMP_NUM_THREADS=1` (which rembg passes to onnxruntime: one thread per process, bgsite's layout) is "
        "shown apart as *tuned by hand*.\n"
        "- **`rembg s`**: `rembg s --no-ui` (the API without the Gradio page, its leanest form), "
        "`POST /api/remove` with `file` and `model=u2netp`; one session shared by all requests, with "
        "onnxruntime's default threads. Its session is made on the first request, which the cold start includes.\n"
        "- **bgsite**: `uvicorn bgsite.asgi:application` exactly as `make run` starts it (2 embedded worker "
        "threads, SQLite, local storage, rate limits on: one API key per phase keeps each under 120/min), in its "
        "own `DATA_DIR`. `/bgremove` is called with `blob=1` (the PNG itself, as `rembg s` answers). Every request "
        "sends distinct bytes (a JPEG comment naming it), so bgsite's per-account result reuse never answers "
        "from its cache.\n"
        "- **Latency** runs send the same request mix to both servers, one request per client at a time: "
        "c1 = one client, c2 = two clients; p99 is the nearest-rank 99th percentile.\n"
        "- **Bulk**: the photos uploaded to `POST /api/v1/batches` (10 per request, the first creates the "
        "batch) while the websocket `/ws/batches/<id>` is followed; from the first byte of the upload to the "
        "event that reports the batch `done`.\n"
        "- **Peak RSS**: VmHWM of the server process and its children (`/proc`), over the same request mix "
        "on both servers (bgsite also ran the bulk batch; its figure is taken before the zip phase).\n"
        "- **Cold start**: from spawning the server (database migrated and key made beforehand) to the first "
        "`/bgremove` answer.\n"
        f"- **Zip**: a batch of {get(r, 'zip', 'members') or '1,000'} real 160x120 cutouts, made cheaply: "
        f"{get(r, 'zip', 'distinct_photos') or 50} distinct photos are processed and the rest are the same bytes "
        "again, which bgsite answers from its result reuse. The zip is read at full speed; growth is the "
        f"server's peak RSS during the download over its RSS just before ({get(r, 'zip', 'peak_method') or '—'}).\n"
        "- Output differs in one deliberate way: bgsite encodes PNG at zlib level 1, rembg at its default 6 "
        "(sizes below).\n"
    )

    add("## Where the time goes\n")
    add("One cutout in bgsite's pipeline, one 1-thread session, median of several runs (ms):\n")
    add(markdown_table(["stage", "1280x960", "4000x3000"], stage_rows(r)) + "\n")
    if onnx_ms and cut_ms:
        add(
            f"At 1280x960 the model run is {pct(onnx_ms, cut_ms)} of the work, and it does not shrink with the "
            "image (its input is always 320x320). Two 1-thread sessions on two cores can therefore never exceed "
            f"2 / {onnx_ms / 1000:.3f} s = **{model_bound_ips:.2f} images/s**, even if decoding, compositing and "
            f"encoding cost nothing"
            + (f" — {model_bound_ips / rembg_p:.2f}x `rembg p` as shipped here. " if rembg_p else ". ")
            + (
                f"For 2.5x `rembg p` each worker must finish an image every {2000 / (2.5 * rembg_p):.0f} ms, "
                f"which leaves {2000 / (2.5 * rembg_p) - onnx_ms:.0f} ms for everything that is not the model "
                f"(it takes {cut_ms - onnx_ms:.0f} ms in-process now, more in the server), so the plumbing bgsite "
                "already has (a session per worker thread, PNG level 1) cannot close the gap by itself: only a "
                "cheaper model run, or nearly free pre- and post-processing, moves it. "
                if rembg_p and 2000 / (2.5 * rembg_p) > onnx_ms
                else "The model run alone is over the time per image that 2.5x `rembg p` allows, so no plumbing "
                "can reach it: only a cheaper model run that still passes the quality guard. "
                if rembg_p
                else ""
            )
            + (
                f"A user who runs `rembg p` as two processes with `OMP_NUM_THREADS=1` (bgsite's own layout, "
                f"with PNG level 6) gets {tuned:.2f} images/s; against that even the model bound is only "
                f"{model_bound_ips / tuned:.2f}x, so with u2netp a 2.5x lead over a hand-tuned rembg is out of "
                "reach on any layout. "
                if tuned
                else ""
            )
            + "At 12 MP the picture reverses: PNG encoding, compositing and the resizes dominate.\n"
        )

    add("## Thread layouts (the ceiling runs)\n")
    add(
        "`AxB` = A worker threads, each with its own session of B ONNX Runtime threads; `2x2-shared` = two "
        "sessions sharing one 2-thread intra-op pool. *Alone* is one image with nothing else running (the floor "
        "of a lone `/bgremove` call in that layout).\n"
    )
    add(
        markdown_table(["layout", "images/s", "per image when busy, ms", "alone, ms", "peak RSS, MB"], layout_rows(r))
        + "\n"
    )
    add("## `rembg p` configurations\n")
    add(
        markdown_table(
            ["configuration", "images/s (steady)", "images/s incl. start-up", "peak RSS, MB"], rembg_p_rows(r)
        )
        + "\n"
    )
    add("## Latency in detail\n")
    add(
        markdown_table(
            [
                "request mix",
                "n",
                "bgsite p50",
                "bgsite p99",
                "bgsite img/s",
                "rembg s p50",
                "rembg s p99",
                "rembg s img/s",
            ],
            latency_rows(r),
        )
        + "\n"
    )
    if timings:
        add(
            f"bgsite's own timestamps for the c1 requests (median): {fmt(timings.get('queue_wait_ms_p50'), 0)} ms "
            f"queued before a worker took the item, {fmt(timings.get('worker_ms_p50'), 0)} ms in the worker, "
            f"{fmt(finished, 0)} ms from queued to finished; the client saw {fmt(e2e_p50, 0)} ms, so "
            f"**{fmt(overhead, 0)} ms** went to the upload, the database round trips and the request noticing "
            "the item was done. The request polls the database with a back-off (`pixlab._finished`: 20 ms, "
            f"growing x1.5 to 250 ms), i.e. it looks at about {POLL_SCHEDULE} ms after queueing: a job that "
            "finishes just after one look waits for the next, which at 400-650 ms is up to 230 ms away. Images "
            "whose work ends just before a look do not pay it (compare the 640x480 mix), which is why latency "
            "jumps in steps rather than growing with the work.\n"
        )

    add("## Memory\n")
    add(
        "Each variant in a fresh process with two sessions (as bgsite's two workers), each run twice on a "
        "1280x960 photo, one at a time:\n"
    )
    add(
        markdown_table(
            [
                "variant",
                "imports + sessions, s",
                "RSS after sessions, MB",
                "RSS after runs, MB",
                "peak, MB",
                "cut_out p50, ms",
            ],
            memory_rows(r),
        )
        + "\n"
    )

    add("## Tuning\n")
    add("### Already in bgsite (what each step gains, measured in this run)\n")
    png1 = get(small, "alternatives", "encode", "png_level1 (bgsite)") or {}
    png6 = get(small, "alternatives", "encode", "png_level6 (rembg)") or {}
    png1l = get(large, "alternatives", "encode", "png_level1 (bgsite)") or {}
    png6l = get(large, "alternatives", "encode", "png_level6 (rembg)") or {}
    add(
        f"1. **Two worker threads, each with its own 1-thread session** (`2x1`): {fmt(ips_2x1)} images/s, against "
        f"{fmt(get(layouts, '1x2', 'ips'))} for one session with two threads (`1x2`).\n"
        f"2. **PNG at zlib level 1** instead of rembg's 6: {fmt(png1.get('ms'), 0)} vs {fmt(png6.get('ms'), 0)} ms "
        f"at 1280x960 ({fmt(png1.get('mb'))} vs {fmt(png6.get('mb'))} MB), {fmt(png1l.get('ms'), 0)} vs "
        f"{fmt(png6l.get('ms'), 0)} ms at 12 MP ({fmt(png1l.get('mb'))} vs {fmt(png6l.get('mb'))} MB).\n"
        f"3. **`enable_mem_pattern=False`**: peak {fmt(peak_base, 0)} MB with it off (bgsite) vs "
        f"{fmt(get(mem, 'mem_pattern_on', 'peak_rss_mb'), 0)} MB on, for two sessions.\n"
        "4. **Sessions made once per worker thread at start-up** (not per request), so no request pays for "
        f"loading the model; cold start {fmt(r.get('cold_start_s'))} s.\n"
    )
    add("### Proposed (measured here; each needs a change in `removal/`)\n")
    compose_s = get(small, "alternatives", "compose") or {}
    compose_l = get(large, "alternatives", "compose") or {}
    webp = get(small, "alternatives", "encode", "webp_lossless_m0") or {}
    webpl = get(large, "alternatives", "encode", "webp_lossless_m0") or {}
    reduce_l = get(large, "alternatives", "model_input") or {}
    reduced_key = next((k for k in reduce_l if k.startswith("reduce")), "")
    bilinear = get(large, "alternatives", "mask_upscale") or {}
    no_rembg = mem.get("no_rembg_import", {})
    lean = mem.get("no_rembg_import_arena_off", {})
    arena_off = mem.get("arena_off", {})
    add(
        "1. **Let `/bgremove` wake when its item finishes** instead of polling the database with a back-off "
        "that reaches 250 ms (`pixlab._finished`): e.g. a per-item `asyncio.Event` (or `asyncio.Future`) that "
        "the request registers in a dict keyed by item id, resolved from the worker thread with "
        "`loop.call_soon_threadsafe` in `services._item_finish` (the server loop is already bound in "
        "`events.bind_server_loop` for the websocket relay), keeping the database poll, capped at ~50 ms, as "
        "the fallback for separate worker processes. Gain at c1: the **"
        f"{fmt(overhead, 0)} ms** between the item's queued-to-finished time and what the client saw in this "
        "run, and up to the gap between two polls (~230 ms at 400-650 ms) whenever the work ends just after "
        "one: on a box where the work takes ~430 ms, every request pays it (see *Latency in detail*).\n"
        "2. **Share one 2-thread intra-op pool between the two worker sessions** "
        "(`onnxruntime.capi._pybind_state.set_global_thread_pool_sizes(2, 1)` before the first session, and "
        "`SessionOptions.use_per_session_threads = False` in `pipeline.create_session`): a lone request then "
        f"uses both cores — {fmt(solo_shared, 0)} ms instead of {fmt(solo_2x1, 0)} ms alone — while two "
        f"concurrent jobs share them (bulk {fmt(ips_shared)} vs {fmt(ips_2x1)} images/s for `2x1`). This is the "
        "only layout measured that gives a lone `/bgremove` call both cores, as `rembg s` does; whether it is "
        "worth what it costs in bulk throughput is a product choice, and it could be a setting (e.g. "
        "`ORT_SHARED_POOL=1`). onnxruntime's Python API exposes the global pool only through that private "
        "module.\n"
        "3. **Run u2netp on onnxruntime directly, without importing rembg** (`tuning.DirectU2netp`: rembg's "
        "exact normalisation, run and mask resize in ~20 lines; the mask is "
        f"{'identical' if get(small, 'alternatives', 'direct_onnxruntime', 'identical_mask') else 'NOT identical'}). "
        "Importing rembg pulls in scipy, scikit-image, pymatting and numba for features bgsite never calls: "
        f"RSS after sessions {fmt(get(no_rembg, 'rss_after_sessions_mb'), 0)} vs "
        f"{fmt(get(mem, 'bgsite', 'rss_after_sessions_mb'), 0)} MB, imports + sessions "
        f"{fmt(get(no_rembg, 'import_and_sessions_s'))} vs {fmt(get(mem, 'bgsite', 'import_and_sessions_s'))} s "
        "(cold start and memory). rembg stays the reference the tests compare against.\n"
        "4. **`enable_cpu_mem_arena=False`** in `pipeline.create_session`: the arena keeps each session's "
        f"largest activations forever. Peak {fmt(get(arena_off, 'peak_rss_mb'), 0)} vs {fmt(peak_base, 0)} MB, "
        f"after the runs {fmt(get(arena_off, 'rss_after_runs_mb'), 0)} vs "
        f"{fmt(get(mem, 'bgsite', 'rss_after_runs_mb'), 0)} MB; cut_out p50 {fmt(get(arena_off, 'cut_out_ms_p50'), 0)} "
        f"vs {fmt(get(mem, 'bgsite', 'cut_out_ms_p50'), 0)} ms (allocating each run's buffers afresh is not free). "
        "With 3 as well: peak "
        f"**{fmt(get(lean, 'peak_rss_mb'), 0)} MB** (from {fmt(peak_base, 0)}).\n"
        "5. **Compose with Pillow** (`rgb.putalpha(mask)`, then `Image.composite` onto transparent black with "
        "`mask.point(lambda v: 255 if v else 0)`) instead of NumPy indexing in `remove_background`: "
        f"{'identical pixels' if compose_s.get('identical_pixels') else 'pixels DIFFER'}, "
        f"{fmt(compose_s.get('pillow putalpha+composite'), 1)} vs {fmt(compose_s.get('numpy (bgsite)'), 1)} ms at "
        f"1280x960, {fmt(compose_l.get('pillow putalpha+composite'), 0)} vs "
        f"{fmt(compose_l.get('numpy (bgsite)'), 0)} ms at 12 MP.\n"
        f"6. **Large photos: model input from `image.{reduced_key or 'reduce(n)'}`** (a box-filter reduction to "
        "about 2x the model's 320 px, as JPEG draft mode would give) before the LANCZOS resize: "
        f"{fmt(reduce_l.get(reduced_key), 0)} vs {fmt(reduce_l.get('full image (rembg)'), 0)} ms at 12 MP; the mask "
        f"moves a little (IoU {fmt(reduce_l.get('iou'), 4)}, alpha MAE {fmt(reduce_l.get('alpha_mae'))}/255), so "
        "it must pass the quality guard. Mask upscale with BILINEAR instead of LANCZOS: "
        f"{fmt(bilinear.get('bilinear'), 0)} vs {fmt(bilinear.get('lanczos (rembg)'), 0)} ms at 12 MP (IoU "
        f"{fmt(bilinear.get('iou'), 4)}).\n"
        "7. **Lossless WebP (`method=0`) as a `format` option or the default for large images**: "
        f"{fmt(webp.get('ms'), 0)} ms / {fmt(webp.get('mb'))} MB at 1280x960 and {fmt(webpl.get('ms'), 0)} ms / "
        f"{fmt(webpl.get('mb'))} MB at 12 MP, against PNG level 1's {fmt(png1.get('ms'), 0)} ms / "
        f"{fmt(png1.get('mb'))} MB and {fmt(png1l.get('ms'), 0)} ms / {fmt(png1l.get('mb'))} MB; same pixels, "
        "but PixLab clients expect PNG, so only where the client asks.\n"
    )
    if int8:
        add(
            "8. **Not recommended: int8 u2netp.** onnxruntime's static quantization (QOperator, per-channel int8 "
            f"Conv weights, side-output convolutions kept in float, {int8.get('calibration_images')} calibration "
            f"photos) runs {fmt(int8.get('speedup'))}x as fast ({fmt(int8.get('int8_run_ms_p50'), 0)} vs "
            f"{fmt(int8.get('fp32_run_ms_p50'), 0)} ms) but its masks agree poorly with fp32 (IoU "
            f"{fmt(int8.get('mask_iou_vs_fp32'), 3)} on the photos with a subject, worst "
            f"{fmt(int8.get('mask_iou_vs_fp32_min'), 3)}; alpha MAE {fmt(int8.get('alpha_mae_vs_fp32_of_255'))}/255). "
            "It would fail any quality guard; the small model has little redundancy to give.\n"
        )
        for side, run in (int8.get("smaller_inputs") or {}).items():
            add(
                f"{'9' if side == '288' else '10'}. **Not recommended: a {side}x{side} model input** (the graph "
                "with symbolic height and width; its resizes follow): "
                f"{fmt(run.get('run_ms_p50'), 0)} vs {fmt(int8.get('fp32_run_ms_p50'), 0)} ms, mask IoU with "
                f"320x320 {fmt(run.get('mask_iou_vs_fp32'), 3)} (worst {fmt(run.get('mask_iou_vs_fp32_min'), 3)}), "
                f"alpha MAE {fmt(run.get('alpha_mae_vs_fp32_of_255'))}/255: u2netp was trained at 320 and its "
                "masks change too much below it.\n"
            )

    add("## Targets: met or missed, and why\n")
    reasons = {
        "bulk_vs_rembg_p": bulk_reason(r, onnx_ms, cut_ms, rembg_p),
        "bulk_vs_ceiling": "The server adds uploads, database writes and progress events around the same pipeline.",
        "bgremove_p50_vs_rembg_s": p50_reason(r, timings, layouts),
        "bgremove_p99_c2_vs_p50": (
            "Two clients on two workers; the tail comes from the polling back-off and the noise of a 2-core machine."
        ),
        "rss_vs_rembg_s": (
            "bgsite holds two sessions (two workers) where `rembg s` holds one, each session's arena keeps its "
            "peak activations, and both processes import all of rembg. Proposals 3 and 4."
        ),
        "zip_rss_growth_mb": "The zip is streamed member by member from storage.",
        "zip_ttfb_s": "The zip's size is known up front (stored sizes), so the first bytes go out at once.",
        "cold_start_s": "Imports (rembg pulls in numba and scipy) and two model sessions; proposal 3 cuts the imports.",
    }
    targets = r.get("targets") or {}
    for key in [key for key, *_ in TARGETS if key in targets]:
        entry = targets[key]
        met = entry.get("met")
        word = {True: "met", False: "**missed**", None: "not measured"}[met]
        line = f"- `{key}` = {fmt(entry.get('value'), 3)} (target {entry.get('target')}): {word}."
        if met is False or key in ("zip_rss_growth_mb", "zip_ttfb_s"):
            line += " " + reasons.get(key, "")
        add(line)
    add("")
    add("## Quality\n")
    add(
        "Every number here is for `u2netp`, the model bgsite ships. The speed proposals above that change pixels "
        "(6, and any model change) must hold the quality guard of issue 6 (`make quality`, "
        "[quality.md](quality.md): IoU and alpha error against known alpha); the int8 and input-size figures "
        "above compare with fp32 at 320x320, not with ground truth.\n"
    )
    add("## Reproduce\n")
    add(
        "`make bench` (sets up bgsite's venv, the model and `bench/.venv-rembg` as needed, then runs "
        "`python -m bench.run`; about 6 minutes on 2 cores, plus 1-2 minutes the first time for the rembg "
        "venv). `BENCH_QUICK=1 make bench` runs a small version for development and writes its preview of this page "
        "to `bench/results/` instead; `python -m bench.report` rewrites this page from the last results without "
        "measuring again. Raw numbers: "
        "`bench/results/latest.json` (and `run-<time>.json` per full run). Run it on an idle machine: other "
        "work on the cores moves every number here.\n"
    )
    add(
        f"Versions: bgsite venv rembg {v.get('rembg', '?')}, onnxruntime {v.get('onnxruntime', '?')}, Pillow "
        f"{v.get('pillow', '?')}, NumPy {v.get('numpy', '?')}, Django {v.get('django', '?')}, uvicorn "
        f"{v.get('uvicorn', '?')}; rembg venv rembg {vr.get('rembg', '?')}, onnxruntime {vr.get('onnxruntime', '?')}, "
        f"Pillow {vr.get('pillow', '?')} (gradio, required by `rembg[cli]`, caps Pillow below 13).\n"
    )
    return "\n".join(out)
