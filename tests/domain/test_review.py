"""removal.services.review and the needs-review rule: one rule in SQL and on a row, improvements start
their attempts afresh."""

from typing import Any

import pytest

from removal import selectors, services
from removal.errors import TooManyRequests
from removal.models import Batch, Item
from removal.ops import limits
from tests.conftest import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(user: Any) -> Batch:
    return Batch.objects.create(owner=user)


def item(batch: Batch, *, status: str = "done", confidence: float | None = 0.3, reviewed: bool = False) -> Item:
    made = make_item(batch, status=status)
    Item.objects.filter(pk=made.pk).update(confidence=confidence, reviewed=reviewed)
    return Item.objects.get(pk=made.pk)


def test_the_query_and_the_row_agree_on_what_needs_review(batch: Batch, settings: Any) -> None:
    flagged = item(batch)
    others = [
        item(batch, confidence=0.9),  # sure
        item(batch, reviewed=True),  # looked at
        item(batch, status="queued", confidence=None),  # not made yet
        item(batch, status="failed", confidence=None),
        item(batch, confidence=None),  # made before confidence was measured
        item(batch, confidence=settings.REVIEW_CONFIDENCE_BELOW),  # at the threshold: not below it
    ]
    assert list(selectors.items_needing_review(batch)) == [flagged]
    assert flagged.needs_review and not any(other.needs_review for other in others)
    assert selectors.batch_counts(batch)["needs_review"] == 1


def test_an_improvement_queues_the_flagged_item_in_place_with_best(batch: Batch, settings: Any) -> None:
    flagged = item(batch)
    Item.objects.filter(pk=flagged.pk).update(attempts=settings.ITEM_MAX_ATTEMPTS)

    (queued,) = services.batch_improve(batch=batch)

    assert (queued.status, queued.quality, queued.attempts_before) == ("queued", "best", settings.ITEM_MAX_ATTEMPTS)
    assert queued.task_id is not None
    with pytest.raises(services.NothingToImprove):
        services.batch_improve(batch=batch)  # queued now: nothing left flagged


def test_flagged_cutouts_already_made_with_best_are_not_run_again(user: Any, batch: Batch) -> None:
    """Another best run gives the same cutout: what is left flagged after an improvement needs a person's look."""
    improved, fresh = item(batch), item(batch)
    Item.objects.filter(pk=improved.pk).update(quality="best")
    (queued,) = services.batch_improve(batch=batch)
    assert queued.pk == fresh.pk
    Item.objects.filter(pk=fresh.pk).update(status="done")
    with pytest.raises(
        services.NothingToImprove, match=r"every flagged cutout of this batch \(2\) was made with quality=best already"
    ):
        services.batch_improve(batch=batch)

    best_batch = Batch.objects.create(owner=user, options={"quality": "best"})
    item(best_batch)
    with pytest.raises(services.NothingToImprove, match=r"every flagged cutout of this batch \(1\)"):
        services.batch_improve(batch=best_batch)


def test_reviewing_twice_changes_nothing_the_second_time(batch: Batch) -> None:
    flagged = item(batch)
    once = services.item_review(item=flagged)
    twice = services.item_review(item=once)
    assert once.reviewed and twice.edits == once.edits == flagged.edits + 1


def test_an_improvement_makes_news_of_its_own_batch_only(user: Any, batch: Batch) -> None:
    """Its finish is news again (Batch.improvements), for that batch, not for the owner's others."""
    other = Batch.objects.create(owner=user)
    item(batch)
    item(other)
    services.batch_improve(batch=batch)
    assert Batch.objects.get(pk=batch.pk).improvements == 1
    assert Batch.objects.get(pk=other.pk).improvements == 0


def test_improvements_checked_side_by_side_are_queued_only_within_the_accounts_part(user: Any, settings: Any) -> None:
    """Improvements of two batches that each passed the early check of the account's part of the queue: the first
    queued fills it, the other is refused and queues nothing. Checked only as each began, improvements side by side
    queued past MAX_QUEUED_ITEMS_PER_USER, as uploads did before the rule was held again under the owner's row lock."""
    settings.MAX_QUEUED_ITEMS_PER_USER = 1
    first, second = Batch.objects.create(owner=user), Batch.objects.create(owner=user)
    item(first), item(second)
    for _ in range(2):
        limits.check_queue_room(user)  # both pass: nothing is queued yet
    services.batch_improve(batch=first)
    with pytest.raises(TooManyRequests, match=r"^you have 1 images waiting, the most one account may have at once"):
        services.batch_improve(batch=second)
    assert list(Item.objects.filter(status="queued").values_list("batch", flat=True)) == [first.pk]
    assert Batch.objects.get(pk=second.pk).improvements == 0
