"""removal's app: once Django is ready, its signal receivers, system checks and worker wake-up are connected, the
model runtime's providers set from the settings, and Pillow's pixel limit made MAX_IMAGE_PIXELS."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django_tasks_db.apps import TasksAppConfig


class RemovalConfig(AppConfig):
    default = True  # the app's, of the two here
    name = "removal"
    verbose_name = _("Background removal")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from removal import signals
        from removal.cutout import providers, results
        from removal.ops import checks, worker  # noqa: F401  (registers checks and the wake-up signal)

        signals.connect()

        try:
            providers.configure(
                settings.ORT_PROVIDERS,
                layout=settings.ORT_LAYOUT,
                max_batch=settings.ORT_MAX_BATCH,
                batch_wait_ms=settings.ORT_BATCH_WAIT_MS,
                switch_interval_ms=settings.GIL_SWITCH_INTERVAL_MS,
            )
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None

        # Pillow's own decompression-bomb guard uses the same limit as our checks (from the first image opened).
        results.pillow_pixel_limit = settings.MAX_IMAGE_PIXELS


class JobQueueConfig(TasksAppConfig):
    """django-tasks-db (INSTALLED_APPS names this), under a name the admin shows in its reader's language, where it
    lists the permissions of its model: its own, "Tasks Database Backend", is not marked for translation."""

    verbose_name = _("Job queue")  # type: ignore[assignment]  # a lazy string, read when shown
