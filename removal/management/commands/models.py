"""`manage.py models list|pull NAME|verify|quantize NAME`: the model weights in U2NET_HOME.

The catalog is removal/cutout/model_catalog.py; installing and checking is removal/cutout/model_files.py.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from removal.cutout.installed import installed_models, model_weights
from removal.cutout.model_catalog import CATALOG, int8_base
from removal.cutout.model_files import (
    ModelInstallError,
    VerificationStatus,
    installed_copies,
    model_pull,
    models_verify,
)

QUANTIZER = Path(settings.BASE_DIR) / "scripts" / "quantize_model.py"


def _megabytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 1e6:.1f} MB"


class Command(BaseCommand):
    help = "List, install (pull), verify or quantize the model weights in U2NET_HOME."
    # Runs in the image build, before any database or setting beyond U2NET_HOME matters.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="the catalog, and what is installed")
        pull = actions.add_parser("pull", help="download a catalog model, check its checksum, install it")
        pull.add_argument("name", choices=list(CATALOG), metavar="NAME")
        source = pull.add_mutually_exclusive_group()
        source.add_argument("--url", help="download from this URL instead of rembg's release (a mirror)")
        source.add_argument("--from", dest="source_file", type=Path, help="install this already-downloaded file")
        pull.add_argument("--checksum", help="ALGORITHM:HEX to expect instead of the catalog's (md5:…, sha256:…)")
        pull.add_argument(
            "--accept-non-commercial",
            action="store_true",
            help="install a model whose licence forbids commercial use (this service is non-commercial)",
        )
        actions.add_parser("verify", help="check every installed model against the catalog's checksum")
        quantize = actions.add_parser("quantize", help="make NAME-int8, an int8 copy of an installed U²-Net model")
        quantize.add_argument("name", metavar="NAME")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        model_dir: Path = settings.U2NET_HOME
        if action == "list":
            self.list_models(model_dir)
        elif action == "pull":
            self.pull(model_dir, **options)
        elif action == "verify":
            self.verify(model_dir)
        else:
            self.quantize(model_dir, options["name"])

    def list_models(self, model_dir: Path) -> None:
        self.stdout.write(f"{'model':<24}{'licence':<32}{'input':>6}{'size':>12}  installed")
        for model in CATALOG.values():
            installed = "yes" if model_weights(model_dir, model.name) else "no"
            if copies := installed_copies(model_dir, model.name):
                installed += f" (+ {', '.join(copies)})"
            size = _megabytes(model.size_bytes)
            self.stdout.write(f"{model.name:<24}{model.licence:<32}{model.input_side:>6}{size:>12}  {installed}")
        known = set(CATALOG)
        others = [name for name in installed_models(model_dir) if name not in known and int8_base(name) not in known]
        for name in others:
            self.stdout.write(f"{name:<24}{'(not in the catalog)':<32}{'':>6}{'':>12}  yes")
        self.stdout.write(f"U2NET_HOME: {model_dir}")

    def pull(self, model_dir: Path, *, name: str, **options: Any) -> None:
        model = CATALOG[name]
        where = options["source_file"] or options["url"] or model.url
        self.stdout.write(f"{name}: {model.licence}, {_megabytes(model.size_bytes)}, from {where}")
        try:
            result = model_pull(
                name=name,
                model_dir=model_dir,
                url=options["url"],
                source_file=options["source_file"],
                checksum=options["checksum"],
                accept_non_commercial=options["accept_non_commercial"],
                progress=self.progress_printer(),
            )
        except ModelInstallError as exc:
            raise CommandError(str(exc)) from exc
        if result.installed_now:
            self.stdout.write(self.style.SUCCESS(f"{name} installed: {result.path} (checksum verified)"))
        else:
            self.stdout.write(f"{name} present: {result.path} (checksum verified)")

    def progress_printer(self) -> Any:
        """A progress line on a terminal; a line every 10 % in logs (an image build)."""
        out = self.stderr
        interactive = out.isatty()
        shown = {"step": -1}

        def show(done: int, total: int | None) -> None:
            if total:
                step = done * 10 // total
                text = f"  {done / 1e6:.1f} / {total / 1e6:.1f} MB ({done * 100 // total} %)"
            else:
                step = done // 50_000_000
                text = f"  {done / 1e6:.1f} MB"
            if interactive:
                out.write("\r" + text, ending="\n" if total and done >= total else "")
                out.flush()
            elif step != shown["step"]:
                shown["step"] = step
                out.write(text)

        return show

    def verify(self, model_dir: Path) -> None:
        results = models_verify(model_dir)
        for result in results:
            self.stdout.write(f"{result.name:<24}{result.status:<10}{result.detail}")
        if not results:
            self.stdout.write(f"no models installed in {model_dir}")
        if failed := [result.name for result in results if result.status == VerificationStatus.MISMATCH]:
            raise CommandError(f"checksum mismatch: {', '.join(failed)} (pull them again)")

    def quantize(self, model_dir: Path, name: str) -> None:
        model = CATALOG.get(name)
        if model is None or not model.u2net_family:
            family = ", ".join(model.name for model in CATALOG.values() if model.u2net_family)
            raise CommandError(f"only U²-Net models can be quantized here ({family}), not {name!r}")
        # The quantizer is a script, as the image build runs it before the app is copied; `name` is a catalog name.
        done = subprocess.run([sys.executable, str(QUANTIZER), str(model_dir), name], check=False)  # noqa: S603
        if done.returncode:
            raise CommandError(f"quantizing {name} failed")
