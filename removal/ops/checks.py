"""System checks: say at start-up what would otherwise fail on the first job."""

from typing import Any

from django.conf import settings
from django.core import checks

from removal.cutout.installed import model_weights
from removal.cutout.options import FORMATS


@checks.register()
def model_installed(*, separate_worker: bool = False, **kwargs: Any) -> list[checks.CheckMessage]:
    """Where the models run: in worker threads of this process (EMBEDDED_WORKERS above 0), or in a worker process
    (`separate_worker`, asked by `runworker`). A web process without worker threads runs none: its image or host may
    well hold no weights."""
    runs_the_models = separate_worker or settings.EMBEDDED_WORKERS > 0
    if not runs_the_models or model_weights(settings.U2NET_HOME, settings.REMBG_MODEL) is not None:
        return []
    weights = settings.U2NET_HOME / f"{settings.REMBG_MODEL}.onnx"
    return [
        checks.Warning(
            f"model weights for {settings.REMBG_MODEL!r} not found at {weights}",
            hint=(
                "Run `make setup` for the bundled u2netp and u2netp-int8, or `python manage.py models pull NAME` "
                "for another model (docs/models.md); jobs fail until then."
            ),
            id="removal.W001",
        )
    ]


@checks.register()
def default_format_known(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEFAULT_FORMAT in FORMATS:
        return []
    return [
        checks.Error(
            f"DEFAULT_FORMAT={settings.DEFAULT_FORMAT!r} is not an output format",
            hint=f"Use one of {', '.join(FORMATS)}.",
            id="removal.E001",
        )
    ]


@checks.register()
def progress_reaches_browsers(*, separate_worker: bool = False, **kwargs: Any) -> list[checks.CheckMessage]:
    """`separate_worker`: asked by `runworker`, a worker process whatever its EMBEDDED_WORKERS says."""
    in_memory = str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).endswith("InMemoryChannelLayer")
    if in_memory and (separate_worker or settings.EMBEDDED_WORKERS == 0) and not settings.DEBUG:
        return [
            checks.Warning(
                "workers run in separate processes but the channel layer is in-memory",
                hint="Set REDIS_URL so live progress from workers reaches the web processes.",
                id="removal.W002",
            )
        ]
    return []


def told_only_a_worker_process() -> list[checks.CheckMessage]:
    """What the checks have to say of a worker process (`runworker`) that Django's system checks, which ask them for
    a process of this one's EMBEDDED_WORKERS, did not say: each is said once, whatever EMBEDDED_WORKERS is."""
    return [
        message
        for check in (model_installed, progress_reaches_browsers)
        for message in check(separate_worker=True)
        if message not in check()
    ]


@checks.register()
def secret_key_kept(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SECRET_KEY_FILE is None or settings.SECRET_KEY_FILE.is_file():
        return []
    return [
        checks.Warning(
            f"SECRET_KEY is not set and {settings.SECRET_KEY_FILE} does not exist: this process signs sessions "
            "and CSRF tokens with a random key of its own, which ends with it",
            hint="Run `python manage.py migrate` (it writes the key into DATA_DIR once), or set SECRET_KEY.",
            id="removal.W003",
        )
    ]
