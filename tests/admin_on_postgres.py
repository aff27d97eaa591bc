"""How long the admin's item pages take on PostgreSQL at a busy server's size: a measurement, run by hand, not a test.

    python -m tests.admin_on_postgres --items 1000000 [--database-url postgres://postgres@127.0.0.1:5432/bgsite_admin]

Makes the database if it is missing, migrates it, seeds it once (`--items` items of 200 accounts, 25 a batch, their
file names IMG_<n>.jpg, by SQL), ANALYZEs it, then times each page (the best of `--runs`) as an operator's browser gets
it, with the queries it made. A second run on the same database measures again without seeding (migrating first:
run it before and after a change of the admin or its indexes). docs/benchmarks.md quotes what it printed.
"""

import argparse
import os
import time
from typing import Any

import psycopg

SEED = """
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                       date_joined)
SELECT g, '!', g = 1, 'user' || g, '', '', 'user' || g || '@example.com', g = 1, true, now()
  FROM generate_series(1, 200) g;
INSERT INTO accounts_foldednames (user_id, username_key, email_key)
SELECT id, encode(sha256(convert_to(lower(username), 'UTF8')), 'hex'), encode(sha256(convert_to(email, 'UTF8')), 'hex')
  FROM auth_user;
INSERT INTO removal_batch (id, owner_id, kind, name, options, callback_url, bg_image, improvements, created_at,
                           idempotency_key)
SELECT gen_random_uuid(), 1 + g % 200, 'upload', '', '{}', '', '', 0, now() - g * interval '1 minute', ''
  FROM generate_series(1, %(batches)s) g;
INSERT INTO removal_item (id, batch_id, filename, position, source, source_bytes, source_sha256, cached, width, height,
  status, result, result_bytes, result_sha256, model, edits, reviewed, quality, previous_result, mask, edited_mask,
  error, error_template, error_values, input_rejected, task_id, attempts, attempts_before, claim_token, created_at,
  queued_at, started_at, finished_at, processing_ms, model_result)
SELECT gen_random_uuid(), b.id, 'IMG_' || (row_number() OVER ()) || '.jpg', s, 'x', 1, '', false, 1, 1, 'done', 'y', 1,
  '', '', 0, false, '', '', '', '', '', '', '{}', false, gen_random_uuid(), 1, 0, '', b.created_at, b.created_at,
  b.created_at, b.created_at + interval '2 seconds', 1000, ''
FROM removal_batch b, generate_series(1, 25) s ORDER BY b.created_at;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bgsite_admin_bench")
    arguments = parser.parse_args()
    server, _, name = arguments.database_url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(DATABASE_URL=arguments.database_url, SECRET_KEY=os.environ.get("SECRET_KEY", "x"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bgsite.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM removal_item")
        if cursor.fetchone()[0] == 0:
            started = time.monotonic()
            cursor.execute(SEED.replace("%(batches)s", str(arguments.items // 25)))
            print(f"seeded {arguments.items} items in {time.monotonic() - started:.0f} s")
        cursor.execute("ANALYZE")
    for page, (seconds, queries) in measured(arguments.runs).items():
        print(f"{seconds * 1000:8.0f} ms  {len(queries):2d} queries  {page}")
        for sql, query_seconds in queries:
            print(f"{'':10}{float(query_seconds) * 1000:6.0f} ms  {sql[:150]}")


def measured(runs: int) -> dict[str, tuple[float, list[tuple[str, str]]]]:
    """Each page's best time in seconds, and the queries of its last run that read removal_item, with their times."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from removal.models import Item

    operator = Client(HTTP_HOST="localhost")
    operator.force_login(User.objects.get(pk=1))
    item = Item.objects.order_by("created_at").only("pk").first()
    assert item is not None
    pages = {
        "the item list": "/admin/removal/item/",
        "its second page": "/admin/removal/item/?p=2",
        "search: the start of a file name (IMG_4711)": "/admin/removal/item/?q=IMG_4711",
        "search: a file name (IMG_4711.jpg)": "/admin/removal/item/?q=IMG_4711.jpg",
        "search: an account's username (user7)": "/admin/removal/item/?q=user7",
        "search: an item's id": f"/admin/removal/item/?q={item.pk}",
        "the items done": "/admin/removal/item/?status__exact=done",
    }
    results: dict[str, tuple[float, list[tuple[str, str]]]] = {}
    for page, url in pages.items():
        best = float("inf")
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                reply: Any = operator.get(url)
                best = min(best, time.perf_counter() - started)
            assert reply.status_code == 200, (url, reply.status_code)
        results[page] = (best, [(q["sql"], q["time"]) for q in captured.captured_queries if "removal_item" in q["sql"]])
    return results


if __name__ == "__main__":
    main()
