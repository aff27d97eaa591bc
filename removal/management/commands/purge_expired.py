from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import REVOKED_API_KEY_KEPT
from removal.services import JOB_RECORDS_KEPT_WITHOUT_RETENTION, daily_sweep, expired_purge, finished_jobs_purge


class Command(BaseCommand):
    help = (
        "Delete uploads, cutouts, stored images and job records older than RETENTION_DAYS, "
        "stored files a day old that no row names, expired log-in sessions, and API keys revoked over "
        f"{REVOKED_API_KEY_KEPT.days} days ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="default: RETENTION_DAYS")

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        days = settings.RETENTION_DAYS if days is None else days
        if days <= 0:  # as the workers do: the users' work kept, the records of finished jobs not
            jobs = finished_jobs_purge(older_than=timezone.now() - JOB_RECORDS_KEPT_WITHOUT_RETENTION)
            self.stdout.write(
                f"retention is off (RETENTION_DAYS=0; --days N purges anyway): the users' work is kept; purged {jobs} "
                f"job records finished over {JOB_RECORDS_KEPT_WITHOUT_RETENTION.days} days ago"
            )
        else:
            counts = expired_purge(older_than=timezone.now() - timedelta(days=days))
            self.stdout.write(
                f"purged {counts.batches} batches, {counts.stored_images} stored images, "
                f"{counts.files} files and {counts.jobs} job records older than {days} days"
            )
        self.stdout.write(f"deleting {daily_sweep()} stored files that no row names")
