"""System checks: say at start-up what would otherwise fail on the first job."""

from typing import Any

from django.conf import settings
from django.core import checks

from removal.options import model_weights


@checks.register()
def model_installed(**kwargs: Any) -> list[checks.CheckMessage]:
    if model_weights(settings.U2NET_HOME, settings.REMBG_MODEL) is not None:
        return []
    weights = settings.U2NET_HOME / f"{settings.REMBG_MODEL}.onnx"
    return [
        checks.Warning(
            f"model weights for {settings.REMBG_MODEL!r} not found at {weights}",
            hint="Run `make setup` (or scripts/fetch_model.py) to install them; jobs fail until then.",
            id="removal.W001",
        )
    ]


@checks.register()
def progress_reaches_browsers(**kwargs: Any) -> list[checks.CheckMessage]:
    in_memory = str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).endswith("InMemoryChannelLayer")
    if in_memory and settings.EMBEDDED_WORKERS == 0 and not settings.DEBUG:
        return [
            checks.Warning(
                "workers run in separate processes but the channel layer is in-memory",
                hint="Set REDIS_URL so live progress from workers reaches the web processes.",
                id="removal.W002",
            )
        ]
    return []
