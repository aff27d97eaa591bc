"""Background jobs of accounts, enqueued through django.tasks: the end of a deleted account's data."""

from django.tasks import task

from accounts import deletion


@task()
def delete_account(user_id: int, attempt: int = 0) -> None:
    deletion.account_data_delete(user_id=user_id, attempt=attempt)
