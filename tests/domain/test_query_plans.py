"""The reads that grow with an installation's tables use their indexes on PostgreSQL, as the scaled setup runs them:
tests/domain/plans_on_postgres.py seeds a year of use and reports the tables each read's plan reads whole."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO, new_postgres_database


@pytest.fixture(scope="module")
def plans(
    postgres_admin: Any, postgres_migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    # A copy of the session's migrated database (0.1 s, where migrating an empty one takes seconds).
    with new_postgres_database(postgres_admin, template=postgres_migrated_template) as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path_factory.mktemp("plans")),
            "SECRET_KEY": "x",
            "LOG_LEVEL": "WARNING",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.domain.plans_on_postgres"], cwd=REPO, env=env, capture_output=True, text=True
        )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_whole(plans: dict[str, list[dict[str, Any]]], read: str, *, counts: bool = True) -> set[str]:
    """The tables the queries of `read` read whole; with counts=False, but its counts of rows."""
    return {table for query in plans[read] if counts or not query["counts"] for table in query["seq_scans"]}


@pytest.mark.parametrize("read", ["usage of an account with many batches", "usage of an API client"])
def test_the_account_pages_usage_reads_no_table_whole(plans: dict[str, list[dict[str, Any]]], read: str) -> None:
    """It read every item its account ever had (0.7-1.2 s for 300,000); now the last 30 days', through an index."""
    assert "removal_item" not in read_whole(plans, read)


def test_the_workers_reaper_reads_only_the_running_jobs(plans: dict[str, list[dict[str, Any]]]) -> None:
    """Every ITEM_LEASE_SECONDS / 4 in each worker process it read every job record kept (0.35 s at 1.4 million)."""
    assert "django_tasks_database_dbtaskresult" not in read_whole(plans, "the reaper's look for lost jobs")


def test_the_admins_items_are_listed_in_order_through_an_index(plans: dict[str, list[dict[str, Any]]]) -> None:
    """The list, oldest first (Item's Meta.ordering), sorted every item: 2.5 s for 1.4 million. Its count of them,
    on every page, read them all (0.25-0.4 s): the table's is now PostgreSQL's estimate."""
    assert "removal_item" not in read_whole(plans, "the admin's items")
    assert any("reltuples" in query["sql"] for query in plans["the admin's items"])


def test_the_admins_job_records_are_listed_through_an_index(plans: dict[str, list[dict[str, Any]]]) -> None:
    """Every record kept was sorted, and the values of two columns listed for filters: 2.6 s at 1.4 million."""
    assert "django_tasks_database_dbtaskresult" not in read_whole(plans, "the admin's job records", counts=False)


@pytest.mark.parametrize(
    "read",
    [
        "the admin's search for an item's id",
        "the admin's search for a batch's id",
        "the admin's search for a file name's start",
        "the admin's search for an account",
    ],
)
def test_the_admin_finds_items_by_id_account_or_file_name_through_an_index(
    plans: dict[str, list[dict[str, Any]]], read: str
) -> None:
    """The id's text was searched for in every item, with the whole table counted besides: 8.6 s for 1.4 million; any
    other text in every item's file name and owner's username, 4 s. Now an id, an account's name (its items), or the
    start of a file name, each through an index, counted through it too."""
    assert "removal_item" not in read_whole(plans, read)


def test_a_page_of_an_api_clients_batches_reads_only_that_page(plans: dict[str, list[dict[str, Any]]]) -> None:
    """Its /bgremove calls, a batch each and never listed, were all read for a page of its other batches and their
    count: 0.1-0.18 s at 200,000 calls."""
    assert "removal_batch" not in read_whole(plans, "the batch list of an API client")


def test_the_admin_finds_batches_by_their_names_start_through_an_index(plans: dict[str, list[dict[str, Any]]]) -> None:
    """A batch's name was searched for inside every batch's name, and its owner's username and address besides."""
    assert "removal_batch" not in read_whole(plans, "the admin's search for a batch's name")


def test_the_admins_items_of_a_status_are_counted_by_estimate(plans: dict[str, list[dict[str, Any]]]) -> None:
    """The items done were counted at each page: 0.23 s at a million. A filter on the table's own columns is the
    planner's estimate now, as the whole table's is, once past EstimatedCountPaginator.ESTIMATED_FROM."""
    assert not any(query["counts"] for query in plans["the admin's items done"])
    assert "removal_item" not in read_whole(plans, "the admin's items done")
    # Filtered through another table, whose rows the statistics do not tie to these: counted.
    assert any(query["counts"] for query in plans["the admin's search for an account"])


@pytest.mark.parametrize(
    ("read", "table"),
    [
        ("the admin's search for a stored image's name", "removal_storedimage"),
        ("the admin's search for an account's stored images", "removal_storedimage"),
        ("the admin's search for a webhook's URL", "removal_webhookdelivery"),
        ("the admin's search for an account's webhooks", "removal_webhookdelivery"),
    ],
)
def test_the_admin_finds_stored_images_and_webhooks_through_an_index(
    plans: dict[str, list[dict[str, Any]]], read: str, table: str
) -> None:
    """They searched for the text inside every file name or URL and every owner's username, as the items did: now an
    id, an account's name or the start of a name or URL (migration 0019), each through an index."""
    assert table not in read_whole(plans, read)


def test_the_admins_webhook_deliveries_are_listed_newest_first_through_an_index(
    plans: dict[str, list[dict[str, Any]]],
) -> None:
    """The list, newest first (WebhookDelivery's Meta.ordering), read and sorted every delivery for its first page:
    now the page is read backward through webhook_created_idx (migration 0020), sorting nothing."""
    assert "removal_webhookdelivery" not in read_whole(plans, "the admin's webhook deliveries", counts=False)
    assert not any(query["sorts"] for query in plans["the admin's webhook deliveries"])
