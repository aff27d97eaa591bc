"""Reads for the account pages."""

from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import ApiKey
from removal.models import Item


def api_keys_for(user: Any) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def usage_by_day(user: Any, *, days: int = 30) -> list[dict[str, Any]]:
    """Images finished per day (newest first): done, failed, and bytes of cutouts."""
    rows = (
        Item.objects.filter(batch__owner=user, finished_at__isnull=False)
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            done=Count("id", filter=Q(status=Item.Status.DONE)),
            failed=Count("id", filter=Q(status=Item.Status.FAILED)),
            result_bytes=Sum("result_bytes"),
        )
        .order_by("-day")[:days]
    )
    return [{**row, "result_bytes": row["result_bytes"] or 0} for row in rows]


def usage_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first: date | None = rows[-1]["day"] if rows else None
    return {
        "since": first,
        "done": sum(row["done"] for row in rows),
        "failed": sum(row["failed"] for row in rows),
    }
