"""Model weights in U2NET_HOME: installing one from the catalog, and checking what is there.

Nothing half-made is ever installed. The bytes (downloaded, or copied from a file the
operator fetched elsewhere) go to `<name>.onnx.part` beside the target, which becomes
`<name>.onnx` by one rename only once its checksum matches the catalog's; on any failure,
an interrupted download included, the .part file is deleted. The flat layout is the one
`removal.cutout.installed.model_weights` finds first, so an installed model can be named by
`model=NAME` or `REMBG_MODEL=NAME` at once.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import requests

from removal.cutout.installed import CHUNK_BYTES, file_hexdigest, installed_models, model_weights
from removal.cutout.model_catalog import CATALOG, CatalogModel, int8_base

# Connect, then between two reads: a stalled download fails instead of hanging a build.
TIMEOUT_SECONDS = (15, 60)
ProgressCallback = Callable[[int, int | None], None]


class ModelInstallError(Exception):
    """The model was not installed; the message says why and what to do."""


@dataclass(frozen=True)
class PullResult:
    path: Path
    # False: a file with the right checksum was there already and was left alone.
    installed_now: bool


class VerificationStatus(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    DERIVED = "derived"  # an int8 copy: made here, no published checksum
    UNKNOWN = "unknown"  # no published checksum, or not in the catalog


@dataclass(frozen=True)
class Verification:
    name: str
    path: Path
    status: VerificationStatus
    detail: str


def file_checksum(path: Path, algorithm: str) -> str:
    return f"{algorithm}:{file_hexdigest(path, algorithm)}"


def checksum_matches(path: Path, expected: str) -> bool:
    return file_checksum(path, expected.partition(":")[0]) == expected.lower()


def catalog_model(name: str) -> CatalogModel:
    if name not in CATALOG:
        raise ModelInstallError(f"{name!r} is not in the catalog; known models: {', '.join(CATALOG)}")
    return CATALOG[name]


def _expected_checksum(model: CatalogModel, given: str | None) -> str:
    if given:
        algorithm, _, digest = given.partition(":")
        if algorithm not in hashlib.algorithms_available or not digest:
            raise ModelInstallError(f"--checksum must be ALGORITHM:HEX, like md5:8e83…, not {given!r}")
        return given.lower()
    if model.checksum is None:
        raise ModelInstallError(
            f"rembg publishes no checksum for {model.name}; pass --checksum ALGORITHM:HEX with one you trust"
        )
    return model.checksum


def _download(url: str, partial: Path, progress: ProgressCallback | None) -> None:
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdecimal() else None
            received = 0
            with partial.open("wb") as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    if progress:
                        progress(received, total)
    except requests.RequestException as exc:
        raise ModelInstallError(f"download from {url} failed: {exc}") from exc
    if total is not None and received != total:
        raise ModelInstallError(f"download from {url} ended after {received} of {total} bytes")


def _copy(source_file: Path, partial: Path, progress: ProgressCallback | None) -> None:
    if not source_file.is_file():
        raise ModelInstallError(f"{source_file} is not a file")
    total, copied = source_file.stat().st_size, 0
    with source_file.open("rb") as source, partial.open("wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            out.write(chunk)
            copied += len(chunk)
            if progress:
                progress(copied, total)


def model_pull(
    *,
    name: str,
    model_dir: Path,
    url: str | None = None,
    source_file: Path | None = None,
    checksum: str | None = None,
    accept_non_commercial: bool = False,
    progress: ProgressCallback | None = None,
) -> PullResult:
    """Install catalog model `name` into `model_dir`: downloaded from `url` (the catalog's release
    URL by default) or copied from `source_file`, checked against its checksum, then renamed into place."""
    model = catalog_model(name)
    if not model.commercial_use and not accept_non_commercial:
        raise ModelInstallError(
            f"{name} is licensed {model.licence}: it may not be used commercially ({model.source}). "
            "Pass --accept-non-commercial if this service is non-commercial."
        )
    expected = _expected_checksum(model, checksum)
    existing = model_weights(model_dir, name)
    if existing is not None and checksum_matches(existing, expected):
        return PullResult(path=existing, installed_now=False)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / f"{name}.onnx"
    partial = target.with_name(target.name + ".part")
    try:
        if source_file is not None:
            _copy(source_file, partial, progress)
        else:
            _download(url or model.url, partial, progress)
        actual = file_checksum(partial, expected.partition(":")[0])
        if actual != expected:
            raise ModelInstallError(f"checksum mismatch for {name}: expected {expected}, got {actual}; not installed")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return PullResult(path=target, installed_now=True)


def models_verify(model_dir: Path) -> list[Verification]:
    """Every installed model against the catalog's checksum; int8 copies are reported as derived."""
    found = []
    for name in installed_models(model_dir):
        path = model_weights(model_dir, name)
        assert path is not None
        base = int8_base(name)
        if name in CATALOG and CATALOG[name].checksum:
            expected = CATALOG[name].checksum or ""
            actual = file_checksum(path, expected.partition(":")[0])
            status = VerificationStatus.OK if actual == expected else VerificationStatus.MISMATCH
            detail = expected if status == VerificationStatus.OK else f"expected {expected}, got {actual}"
        elif name in CATALOG:
            status, detail = VerificationStatus.UNKNOWN, "rembg publishes no checksum for it"
        elif base is not None and base in CATALOG:
            status = VerificationStatus.DERIVED
            detail = f"int8 copy of {base}, made here (scripts/quantize_model.py); no published checksum"
        else:
            status, detail = VerificationStatus.UNKNOWN, "not in the catalog"
        found.append(Verification(name=name, path=path, status=status, detail=detail))
    return found


def installed_copies(model_dir: Path, name: str) -> list[str]:
    """Installed models derived from `name` (its int8 copy)."""
    return [other for other in installed_models(model_dir) if int8_base(other) == name]
