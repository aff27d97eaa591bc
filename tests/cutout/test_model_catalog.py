"""`manage.py models list|pull|verify`: installing catalog weights from a local file server, offline, or not at all."""

import hashlib
import io
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from removal.cutout.installed import installed_models
from removal.cutout.model_catalog import CATALOG
from removal.cutout.model_files import VerificationStatus, models_verify
from removal.cutout.options import parse_options
from tests.conftest import local_http_server

BUNDLED_U2NETP = settings.U2NET_HOME / "u2netp.onnx"


class ModelFileHandler(BaseHTTPRequestHandler):
    """/u2netp.onnx: the real file; /corrupt.onnx: other bytes; /cut.onnx: half the file, then the connection closes."""

    weights: bytes
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = {"/u2netp.onnx": self.weights, "/cut.onnx": self.weights, "/corrupt.onnx": b"\0" * 4096}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut.onnx":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server standing in for rembg's release page: (its base URL, the paths asked for)."""
    with local_http_server(ModelFileHandler, weights=BUNDLED_U2NETP.read_bytes()) as (port, seen):
        yield f"http://127.0.0.1:{port}", seen


@pytest.fixture
def model_dir(settings: Any, tmp_path: Path) -> Path:
    settings.U2NET_HOME = tmp_path / "u2net"
    return settings.U2NET_HOME


def models(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("models", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_pull_installs_the_downloaded_model_with_its_checksum_checked(
    model_dir: Path, file_server: tuple[str, list[str]]
) -> None:
    base_url, seen = file_server
    out, progress = models("pull", "u2netp", "--url", f"{base_url}/u2netp.onnx")
    installed = model_dir / "u2netp.onnx"
    assert installed.read_bytes() == BUNDLED_U2NETP.read_bytes()
    assert "u2netp installed" in out and "checksum verified" in out
    assert "(100 %)" in progress
    assert sorted(path.name for path in model_dir.iterdir()) == ["u2netp.onnx"]
    # Served under its name at once.
    options = parse_options({"model": "u2netp"}, default_model="u2netp", models=installed_models(model_dir))
    assert options.model == "u2netp"
    # Pulled again: the verified file is left alone, nothing is downloaded.
    out, _ = models("pull", "u2netp", "--url", f"{base_url}/u2netp.onnx")
    assert "u2netp present" in out
    assert seen == ["/u2netp.onnx"]


def test_a_wrong_checksum_leaves_nothing_installed(model_dir: Path, file_server: tuple[str, list[str]]) -> None:
    base_url, _ = file_server
    with pytest.raises(CommandError, match="checksum mismatch for u2netp"):
        models("pull", "u2netp", "--url", f"{base_url}/corrupt.onnx")
    assert list(model_dir.iterdir()) == []


def test_an_interrupted_download_leaves_no_model_and_no_part_file(
    model_dir: Path, file_server: tuple[str, list[str]]
) -> None:
    base_url, seen = file_server
    with pytest.raises(CommandError, match=r"download from .*/cut\.onnx"):
        models("pull", "u2netp", "--url", f"{base_url}/cut.onnx")
    assert seen == ["/cut.onnx"]
    assert list(model_dir.iterdir()) == []


def test_pull_from_a_downloaded_file_installs_offline_with_the_same_check(model_dir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "u2netp-corrupt.onnx"
    corrupt.write_bytes(BUNDLED_U2NETP.read_bytes()[:-1] + b"\0")
    with pytest.raises(CommandError, match="checksum mismatch"):
        models("pull", "u2netp", "--from", str(corrupt))
    assert list(model_dir.iterdir()) == []

    out, _ = models("pull", "u2netp", "--from", str(BUNDLED_U2NETP))
    assert "u2netp installed" in out
    assert (model_dir / "u2netp.onnx").read_bytes() == BUNDLED_U2NETP.read_bytes()


def test_a_non_commercial_model_is_refused_without_the_operators_consent(
    model_dir: Path, file_server: tuple[str, list[str]]
) -> None:
    assert not CATALOG["bria-rmbg"].commercial_use
    base_url, seen = file_server
    # The stand-in file's own checksum, so the licence is the only thing in the way.
    stand_in = hashlib.sha256(BUNDLED_U2NETP.read_bytes()).hexdigest()
    pull = ("pull", "bria-rmbg", "--url", f"{base_url}/u2netp.onnx", "--checksum", f"sha256:{stand_in}")
    with pytest.raises(CommandError, match=r"may not be used commercially.*--accept-non-commercial"):
        models(*pull)
    assert seen == []
    assert not model_dir.exists() or list(model_dir.iterdir()) == []

    out, _ = models(*pull, "--accept-non-commercial")
    assert "bria-rmbg installed" in out
    assert (model_dir / "bria-rmbg.onnx").is_file()


def test_list_shows_the_catalog_what_is_installed_and_int8_copies(model_dir: Path) -> None:
    models("pull", "u2netp", "--from", str(BUNDLED_U2NETP))
    (model_dir / "u2netp-int8.onnx").write_bytes(b"an int8 copy")
    (model_dir / "models" / "u2net").mkdir(parents=True)  # rembg's own layout counts as installed too
    (model_dir / "models" / "u2net" / "u2net.onnx").write_bytes(b"weights")
    (model_dir / "my-own.onnx").write_bytes(b"weights")
    out, _ = models("list")
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert set(rows) == {*CATALOG, "my-own"}
    assert rows["u2netp"].endswith("yes (+ u2netp-int8)")
    assert "4.6 MB" in rows["u2netp"] and "Apache-2.0" in rows["u2netp"]
    assert rows["u2net"].endswith("yes")
    assert rows["isnet-general-use"].endswith("no") and "unknown" in rows["isnet-general-use"]
    assert "non-commercial" in rows["bria-rmbg"]
    assert "not in the catalog" in rows["my-own"]


def test_verify_checks_every_installed_model_and_reports_int8_copies_as_derived(model_dir: Path) -> None:
    models("pull", "u2netp", "--from", str(BUNDLED_U2NETP))
    (model_dir / "u2netp-int8.onnx").write_bytes(b"an int8 copy")
    out, _ = models("verify")
    statuses = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert statuses == {"u2netp": "ok", "u2netp-int8": "derived"}
    assert {result.name: result.status for result in models_verify(model_dir)} == {
        "u2netp": VerificationStatus.OK,
        "u2netp-int8": VerificationStatus.DERIVED,
    }

    (model_dir / "u2net.onnx").write_bytes(b"damaged")
    with pytest.raises(CommandError, match="checksum mismatch: u2net"):
        models("verify")


def test_an_int8_copy_of_any_u2net_model_is_served_under_its_own_name(tmp_path: Path) -> None:
    from removal.cutout import pipeline
    from tests.conftest import photo_bytes

    # rembg knows no "-int8" names: the copy must run on bgsite's own U²-Net session.
    (tmp_path / "silueta-int8.onnx").write_bytes((settings.U2NET_HOME / "u2netp-int8.onnx").read_bytes())
    session = pipeline.create_session("silueta-int8", tmp_path)
    cutout = pipeline.cut_out(photo_bytes("chelsea.png"), session=session, max_pixels=50_000_000, compress_level=1)
    assert cutout.data.startswith(b"\x89PNG")


def test_quantize_makes_int8_copies_of_u2net_models_only(model_dir: Path) -> None:
    with pytest.raises(CommandError, match=r"only U²-Net models can be quantized here \(u2netp, u2net, "):
        models("quantize", "isnet-general-use")
    assert not model_dir.exists() or list(model_dir.iterdir()) == []
