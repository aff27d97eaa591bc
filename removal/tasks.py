"""Background jobs, enqueued through django.tasks. Each is one line over a service (an item's, in its log context)."""

from django.tasks import task

from bgsite.log_context import job_context
from removal import services


@task()
def process_item(item_id: str, request_id: str = "") -> None:
    """`request_id`: the request that queued the item, which its log lines name (none in jobs queued before it was)."""
    with job_context(item_id=item_id, request_id=request_id):
        services.item_process(item_id=item_id)


@task()
def deliver_webhook(delivery_id: str) -> None:
    services.webhook_deliver(delivery_id=delivery_id)


@task()
def delete_files(names: list[str], folder: str, attempt: int = 0) -> None:
    services.files_delete(names=names, folder=folder, attempt=attempt)


@task()
def make_sample_cutout(model: str, weights: str = "") -> None:
    """`weights`: the SHA-256 of the weights to cut it out with (none in jobs queued before it was: any)."""
    services.sample_cutout_make(model=model, weights=weights)
