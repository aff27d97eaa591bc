"""Background jobs, enqueued through django.tasks. Each is one line over a service."""

from django.tasks import task

from removal import services


@task()
def process_item(item_id: str) -> None:
    services.item_process(item_id=item_id)


@task()
def deliver_webhook(delivery_id: str) -> None:
    services.webhook_deliver(delivery_id=delivery_id)


@task()
def delete_files(names: list[str], folder: str, attempt: int = 0) -> None:
    services.files_delete(names=names, folder=folder, attempt=attempt)
