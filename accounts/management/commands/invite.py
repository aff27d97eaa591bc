from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import invitation_create, invitation_path


class Command(BaseCommand):
    help = "Make a sign-up invitation (for SIGNUP=invite). Its link is printed once, as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--note", default="", help="whom it is for, shown in the admin")
        parser.add_argument("--days", type=int, default=None, help="days until it expires (INVITATION_DAYS)")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where users reach this server (default: make run's)"
        )

    def handle(self, *args: Any, note: str, days: int | None, base_url: str, **options: Any) -> None:
        if days is not None and days <= 0:
            raise CommandError("--days must be positive")
        invitation, token = invitation_create(note=note, days=days)
        if settings.SIGNUP != "invite":
            self.stderr.write(f"Note: SIGNUP is {settings.SIGNUP!r}; the link works once SIGNUP=invite.")
        self.stdout.write(f"Invitation made; it works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC:")
        self.stdout.write(base_url.rstrip("/") + invitation_path(token))
