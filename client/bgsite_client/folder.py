"""Which files to send and where each cutout goes: OUT mirrors the inputs' tree, nothing is overwritten."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STILL_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv"}  # as the server reads them (MP4 brands, EBML)
IMAGE_SUFFIXES = STILL_SUFFIXES | VIDEO_SUFFIXES
PART_SUFFIX = ".bgsite-part"


@dataclass
class Job:
    source: Path
    target: Path
    # Filled in as the run goes.
    item_id: str | None = None
    error: str | None = None
    done: bool = False
    # How sure the server's model is of the cutout (0-1; None from a server that does not say),
    # and whether the server flags it as one that may need a look.
    confidence: float | None = None
    needs_review: bool = False


@dataclass
class Found:
    # (file, its path relative to the folder it was found in), in a stable order.
    files: list[tuple[Path, Path]]
    # Videos of folders left out: each a Live Photo's clip, named as the photo beside it (IMG_0001.MOV by
    # IMG_0001.HEIC); cut out, a 3-second clip would be some 90 frames, each a cutout of its own.
    live_clips: list[Path]


def collect(paths: list[Path], *, recursive: bool) -> Found:
    """What to send of `paths`.

    A file named on the command line is always taken; in a folder, only files
    with an image or video suffix are (and sub-folders with --recursive), and no
    hidden one (a macOS copy's "._IMG_0001.jpg", a ".thumbnails" folder), nor a
    Live Photo's clip.
    """
    found = Found(files=[], live_clips=[])
    for path in paths:
        if not path.is_dir():
            found.files.append((path, Path(path.name)))
            continue
        pattern = "**/*" if recursive else "*"
        files = [
            file
            for file in sorted(path.glob(pattern))
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES and not _hidden(file.relative_to(path))
        ]
        stills = {(file.parent, file.stem.lower()) for file in files if file.suffix.lower() in STILL_SUFFIXES}
        for file in files:
            live_clip = file.suffix.lower() in VIDEO_SUFFIXES and (file.parent, file.stem.lower()) in stills
            if live_clip:
                found.live_clips.append(file)
            else:
                found.files.append((file, file.relative_to(path)))
    return found


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def plan(inputs: list[tuple[Path, Path]], out: Path, *, extension: str) -> list[Job]:
    """Each input's output path: its relative path under `out` with the output's extension (a video's is `zip`: the
    server cuts it out as a zip of frames and a WebM, whatever the format).

    Two inputs that would land on one output (a.jpg and a.png as a.png, or the
    same relative path under two input folders) are told apart by their
    original suffix (a_jpg.png, a_png.png), and then by a counter; the choice
    depends only on the list of inputs, so a rerun finds the same names.
    """
    wanted: dict[Path, list[int]] = {}
    for index, (_, relative) in enumerate(inputs):
        wanted.setdefault(_key(relative.with_suffix(f".{_output_extension(relative, extension)}")), []).append(index)
    targets: dict[int, Path] = {}
    taken: set[Path] = set()
    for group in wanted.values():
        for index in group:
            relative = inputs[index][1]
            suffix = _output_extension(relative, extension)
            name = relative.with_suffix(f".{suffix}")
            if len(group) > 1:
                name = relative.with_name(f"{relative.stem}_{relative.suffix.lstrip('.').lower()}.{suffix}")
            candidate, counter = name, 2
            while _key(candidate) in taken:
                candidate, counter = name.with_name(f"{name.stem}-{counter}{name.suffix}"), counter + 1
            taken.add(_key(candidate))
            targets[index] = out / candidate
    return [Job(source=source, target=targets[index]) for index, (source, _) in enumerate(inputs)]


def _output_extension(relative: Path, extension: str) -> str:
    return "zip" if relative.suffix.lower() in VIDEO_SUFFIXES else extension


def _key(path: Path) -> Path:
    # Case-insensitive file systems (macOS, Windows) would make A.png and a.png one file.
    return Path(str(path).lower())


def save_new(target: Path, write: Callable[[Path], object]) -> bool:
    """Write `target` through a temporary file, never replacing one that exists; False if it existed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + PART_SUFFIX)
    part.unlink(missing_ok=True)  # left by an interrupted run
    write(part)
    try:
        os.link(part, target)  # fails, rather than replacing, if target appeared meanwhile
    except FileExistsError:
        return False
    finally:
        part.unlink(missing_ok=True)
    return True
