"""The `bgsite` command: remove backgrounds of files and folders, list, inspect and download batches.

Exit status: 0 when everything succeeded, 1 when any image failed (each is
listed with its reason), 2 when the server could not be used at all.
"""

import argparse
import functools
import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any

from bgsite_client import __version__
from bgsite_client.folder import collect, plan, save_new
from bgsite_client.remove import PER_BATCH, PER_REQUEST, Run
from bgsite_client.server import DONE, FAILED, Server, ServerError

DEFAULT_URL = "http://127.0.0.1:8000"
EXTENSIONS = {"png": "png", "webp": "webp", "jpg": "jpg", "jpeg": "jpg", "gif": "gif", "zip": "zip"}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.key:
        print("bgsite: no API key: set BGSITE_API_KEY or pass --key", file=sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except ServerError as exc:
        _report(args, {"ok": False, "error": str(exc)}, f"bgsite: {exc}")
        return 2
    except KeyboardInterrupt:
        print("\nbgsite: interrupted; run the same command again to go on", file=sys.stderr)
        return 130


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=os.environ.get("BGSITE_URL", DEFAULT_URL), help="default: $BGSITE_URL")
    common.add_argument("--key", default=os.environ.get("BGSITE_API_KEY", ""), help="default: $BGSITE_API_KEY")
    common.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    root = argparse.ArgumentParser(prog="bgsite", description=__doc__.split("\n")[0])
    root.add_argument("--version", action="version", version=f"bgsite {__version__}")
    commands = root.add_subparsers(required=True, metavar="COMMAND")

    remove = commands.add_parser("remove", parents=[common], help="cut out images and folders into OUT")
    remove.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files and folders")
    remove.add_argument("-o", "--out", type=Path, required=True, help="folder for the cutouts (mirrors the inputs)")
    remove.add_argument("-r", "--recursive", action="store_true", help="take images in sub-folders too")
    remove.add_argument("--format", default="png", choices=sorted(EXTENSIONS), help="default: png")
    remove.add_argument("--model", help="a model the server has installed (GET /api/v1/models)")
    remove.add_argument("--quality", help="a quality preset, e.g. fast or best")
    remove.add_argument("--size", help="e.g. preview, full")
    remove.add_argument(
        "-O", "--option", action="append", default=[], metavar="NAME=VALUE", help="any other option of the API"
    )
    remove.add_argument(
        "--name", help="what to call the batch on the server (default: the folder's name, when one folder is given)"
    )
    remove.add_argument(
        "--review-list",
        type=Path,
        metavar="FILE",
        help="write the paths of the images whose cutout may need a look to FILE, one per line",
    )
    remove.add_argument("--per-request", type=int, default=PER_REQUEST, help=argparse.SUPPRESS)
    remove.add_argument("--per-batch", type=int, default=PER_BATCH, help=argparse.SUPPRESS)
    remove.set_defaults(run=remove_command)

    batches = commands.add_parser("batches", parents=[common], help="your recent batches")
    batches.set_defaults(run=batches_command)

    status = commands.add_parser("status", parents=[common], help="one batch: counts and failures")
    status.add_argument("batch_id", metavar="ID")
    status.set_defaults(run=status_command)

    download = commands.add_parser("download", parents=[common], help="a batch's cutouts into DIR")
    download.add_argument("batch_id", metavar="ID")
    download.add_argument("-o", "--out", type=Path, required=True)
    download.set_defaults(run=download_command)

    delete = commands.add_parser("delete", parents=[common], help="a batch and its files, from the server, now")
    delete.add_argument("batch_id", metavar="ID")
    delete.set_defaults(run=delete_command)
    return root


def remove_command(args: argparse.Namespace) -> int:
    options = _options(args) | _batch_name(args)
    found = collect(args.paths, recursive=args.recursive)
    jobs = plan(found.files, args.out, extension=EXTENSIONS[args.format])
    todo = [job for job in jobs if not job.target.exists()]
    run = Run(_server(args), options, quiet=args.json, per_request=args.per_request, per_batch=args.per_batch)
    run.remove(todo)
    failed = [{"path": str(job.source), "error": job.error} for job in todo if job.error]
    made = [job for job in todo if job.done]
    flagged = [str(job.source) for job in made if job.needs_review]
    if args.review_list:
        args.review_list.write_text("".join(f"{path}\n" for path in flagged))
    summary = {
        "ok": not failed,
        "images": len(jobs),
        "skipped": len(jobs) - len(todo),
        "live_photo_clips_left_out": [str(clip) for clip in found.live_clips],
        "uploaded": sum(1 for job in todo if job.item_id),
        "done": sum(1 for job in todo if job.done),
        "failed": failed,
        "needs_review": len(flagged),
        "cutouts": [
            {
                "path": str(job.source),
                "cutout": str(job.target),
                "confidence": job.confidence,
                "needs_review": job.needs_review,
            }
            for job in made
        ],
        "batches": run.batches,
        "out": str(args.out),
    }
    text = [
        f"{summary['images']} images: {summary['done']} cut out, "
        f"{summary['skipped']} already in {args.out}, {len(failed)} failed",
        *(f"  failed: {entry['path']}: {entry['error']}" for entry in failed),
        *_live_clip_lines(found.live_clips),
        *_review_lines(flagged, len(made), args.review_list),
    ]
    _report(args, summary, "\n".join(text))
    return 1 if failed else 0


def _live_clip_lines(clips: list[Path]) -> list[str]:
    if not clips:
        return []
    return [
        f"left out {len(clips)} Live Photo clip{'s' if len(clips) > 1 else ''} (a video named as the photo beside it, "
        f"such as {clips[0].name}); name one on the command line to cut it out too"
    ]


def _review_lines(flagged: list[str], made: int, review_list: Path | None) -> list[str]:
    """The closing line on the cutouts the server flagged, and where they are listed."""
    if not flagged:
        return []
    where = f"listed in {review_list}" if review_list else "list them with --review-list FILE"
    return [f"{len(flagged)} of {made} may need a look ({where})"]


def batches_command(args: argparse.Namespace) -> int:
    reply = _server(args).json("GET", "/api/v1/batches")
    lines = [
        f"{batch['id']}  {batch['created_at'][:19]}  {batch['status']:<10}  "
        f"{batch['counts']['done']}/{batch['counts']['total']} done, {batch['counts']['failed']} failed"
        + (f"  {batch['name']}" if batch.get("name") else "")
        for batch in reply["batches"]
    ]
    _report(args, reply, "\n".join(lines) or "no batches yet")
    return 0


def status_command(args: argparse.Namespace) -> int:
    batch = _server(args).json("GET", f"/api/v1/batches/{args.batch_id}")
    counts = batch["counts"]
    lines = [
        f"batch {batch['id']}: {batch['status']}",
        f"  {counts['done']} done, {counts['failed']} failed, {counts['queued']} queued, "
        f"{counts['processing']} processing, {counts['total']} in all",
        *(f"  failed: {item['filename']}: {item['error']}" for item in batch["items"] if item["status"] == FAILED),
        *(f"  may need a look: {item['filename']}" for item in batch["items"] if item.get("needs_review")),
    ]
    _report(args, batch, "\n".join(lines))
    return 0


def download_command(args: argparse.Namespace) -> int:
    """Each done item's cutout under the name the zip gives it; files already in DIR are kept."""
    server = _server(args)
    manifest = server.json("GET", f"/api/v1/batches/{args.batch_id}/manifest")
    saved, kept = [], []
    for entry in manifest["items"]:
        if entry["status"] != DONE:
            continue
        target = args.out / entry["output_name"]
        result = functools.partial(server.download, f"/api/v1/items/{entry['id']}/result")
        if target.exists() or not save_new(target, result):
            kept.append(str(target))
        else:
            saved.append(str(target))
    failed = [
        {"name": entry["original_name"], "error": entry["error"]}
        for entry in manifest["items"]
        if entry["status"] == FAILED
    ]
    summary = {"ok": not failed, "saved": saved, "kept": kept, "failed": failed}
    text = [
        f"{len(saved)} saved, {len(kept)} already in {args.out}, {len(failed)} failed",
        *(f"  failed: {entry['name']}: {entry['error']}" for entry in failed),
    ]
    _report(args, summary, "\n".join(text))
    return 1 if failed else 0


def delete_command(args: argparse.Namespace) -> int:
    """The batch, its uploads and its cutouts deleted on the server (the cutouts already saved here stay)."""
    _server(args).request("DELETE", f"/api/v1/batches/{args.batch_id}")
    _report(args, {"ok": True, "deleted": args.batch_id}, f"batch {args.batch_id} deleted from {args.server}")
    return 0


def _server(args: argparse.Namespace) -> Server:
    return Server(args.server, args.key)


def _options(args: argparse.Namespace) -> dict[str, str]:
    options = {"format": args.format}
    for name in ("model", "quality", "size"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    for pair in args.option:
        name, equals, value = pair.partition("=")
        if not equals:
            raise SystemExit(f"bgsite: --option wants NAME=VALUE, not {pair!r}")
        options[name] = value
    return options


# The longest batch name the server takes (BATCH_NAME_LENGTH in removal/models.py), in characters (code points).
BATCH_NAME_LENGTH = 100
# What no name may hold, as the server says (bgsite/names.py): controls, and the line and paragraph separators.
NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp"})


def _batch_name(args: argparse.Namespace) -> dict[str, str]:
    """The `name` field of the batches a run makes: --name, else the one folder given, else none.

    The rule every front door follows (docs/api.md, "Name a batch"): a name given is taken as it is or refused, here
    before anything is uploaded, where it was cut without a word; a folder's name is made one as the page makes it
    (a control character or a line separator a space, white space at each end off, cut to BATCH_NAME_LENGTH), where a
    tab in it failed the whole run."""
    if args.name is not None:
        name = args.name.strip()
        if len(name) > BATCH_NAME_LENGTH:
            raise SystemExit(f"bgsite: --name: {BATCH_NAME_LENGTH} characters at most, not {len(name)}")
        if any(unicodedata.category(character) in NOT_IN_A_NAME for character in name):
            raise SystemExit("bgsite: --name: a line break, tab or other control character has no place in a name")
        return {"name": name} if name else {}
    folder = args.paths[0].resolve() if len(args.paths) == 1 and args.paths[0].is_dir() else None
    if folder is None:
        return {}
    name = "".join(" " if unicodedata.category(character) in NOT_IN_A_NAME else character for character in folder.name)
    name = name.strip()[:BATCH_NAME_LENGTH].strip()
    return {"name": name} if name else {}


def _report(args: argparse.Namespace, document: Any, text: str) -> None:
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(text)
