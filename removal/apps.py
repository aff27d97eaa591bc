from django.apps import AppConfig


class RemovalConfig(AppConfig):
    name = "removal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        from removal import checks, providers, worker  # noqa: F401  (registers checks and the wake-up signal)

        providers.configure(settings.ORT_PROVIDERS)

        # Pillow's own decompression-bomb guard uses the same limit as our checks.
        Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
