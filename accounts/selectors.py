"""Reads for the account pages."""

from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import ApiKey
from removal.models import Item, WebhookDelivery


def api_keys_for(user: Any) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def usage_by_day(user: Any, *, days: int = 30) -> list[dict[str, Any]]:
    """Images finished per day (newest first): done, failed, bytes in and out, processing time."""
    rows = (
        Item.objects.filter(batch__owner=user, finished_at__isnull=False)
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            done=Count("id", filter=Q(status=Item.Status.DONE)),
            failed=Count("id", filter=Q(status=Item.Status.FAILED)),
            result_bytes=Sum("result_bytes"),
            source_bytes=Sum("source_bytes"),
            processing_ms=Sum("processing_ms"),
        )
        .order_by("-day")[:days]
    )
    return [
        {
            **row,
            "result_bytes": row["result_bytes"] or 0,
            "processing_seconds": (row["processing_ms"] or 0) / 1000,
        }
        for row in rows
    ]


def usage_chart(rows: list[dict[str, Any]], *, height: int = 80, bar_width: int = 14) -> list[dict[str, Any]]:
    """Bars for the usage chart, oldest first: done and failed stacked, scaled to the busiest day."""
    busiest = max((row["done"] + row["failed"] for row in rows), default=0) or 1
    bars = []
    for index, row in enumerate(reversed(rows)):
        done_height = round(height * row["done"] / busiest)
        failed_height = round(height * row["failed"] / busiest)
        bars.append(
            {
                "x": index * (bar_width + 4),
                "width": bar_width,
                "done_y": height - done_height,
                "done_height": done_height,
                "failed_y": height - done_height - failed_height,
                "failed_height": failed_height,
                "row": row,
            }
        )
    return bars


def usage_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first: date | None = rows[-1]["day"] if rows else None
    return {
        "since": first,
        "done": sum(row["done"] for row in rows),
        "failed": sum(row["failed"] for row in rows),
    }


def webhook_deliveries_for(user: Any) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(batch__owner=user).order_by("-created_at")
