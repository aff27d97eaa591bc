"""Run by tests/domain/test_query_plans.py on a new PostgreSQL database (DATABASE_URL): migrate, seed an
installation grown for a year (bulk SQL, small enough for a test), ANALYZE, then run each read audited for growth and
print, as JSON, the tables PostgreSQL's plan reads whole ("Seq Scan") in each of its queries and whether it sorts."""

import json
import os
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bgsite.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from removal import selectors, services  # noqa: E402
from removal.admin import EstimatedCountPaginator  # noqa: E402
from removal.models import Item  # noqa: E402

# Users 1 (the page: 400 batches of 25), 2 (an API client: 3,000 /bgremove calls) and 3-20 (20 batches of 25);
# each item's job record. A year of them, in the order they came.
SEED = """
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                       date_joined)
SELECT g, '!', g = 1, 'user' || g, '', '', '', g = 1, true, now() FROM generate_series(1, 20) g;
INSERT INTO accounts_foldednames (user_id, username_key, email_key)
SELECT id, encode(sha256(convert_to(username, 'UTF8')), 'hex'), '' FROM auth_user;
CREATE TEMP TABLE seeded AS
SELECT gen_random_uuid() AS id, 1 AS owner_id, 'upload' AS kind, 25 AS n, now() - g * interval '22 hours' AS made
  FROM generate_series(1, 400) g
UNION ALL SELECT gen_random_uuid(), 2, 'bgremove', 1, now() - g * interval '3 hours' FROM generate_series(1, 3000) g
UNION ALL SELECT gen_random_uuid(), u, 'upload', 25, now() - g * interval '18 days' - u * interval '1 hour'
  FROM generate_series(3, 20) u, generate_series(1, 20) g;
INSERT INTO removal_batch (id, owner_id, kind, name, options, callback_url, bg_image, improvements, created_at,
                           idempotency_key)
SELECT id, owner_id, kind, '', '{}', '', '', 0, made, '' FROM seeded ORDER BY made;
INSERT INTO removal_item (id, batch_id, filename, position, source, source_bytes, source_sha256, cached, width, height,
  status, result, result_bytes, result_sha256, model, edits, reviewed, quality, previous_result, mask, edited_mask,
  error, error_template, error_values, input_rejected, task_id, attempts, attempts_before, claim_token, created_at,
  queued_at, started_at, finished_at, processing_ms, model_result)
SELECT gen_random_uuid(), id, 'IMG_' || (row_number() OVER ()) || '.jpg', s, 'x', 1, '', false, 1, 1, 'done', 'y', 1,
  '', '', 0, false, '', '', '', '',
  '', '', '{}', false, gen_random_uuid(), 1, 0, '', made, made, made, made + interval '2 seconds', 1000, ''
FROM seeded, generate_series(1, seeded.n) s ORDER BY made;
INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, started_at, finished_at, args_kwargs, priority,
  task_path, worker_ids, queue_name, backend_name, run_after, exception_class_path, traceback)
SELECT task_id, 'SUCCESSFUL', queued_at, started_at, finished_at,
  jsonb_build_object('args', jsonb_build_array(id::text), 'kwargs', '{}'::jsonb), 0, 'removal.tasks.process_item', '[]',
  'default', 'default', '9999-01-01', '', '' FROM removal_item ORDER BY created_at;
INSERT INTO removal_storedimage (id, owner_id, filename, file, size_bytes, created_at)
SELECT gen_random_uuid(), 1 + g % 20, 'photo_' || g || '.png', 'stored/' || g || '.png', 1,
  now() - g * interval '1 hour' FROM generate_series(1, 20000) g;
INSERT INTO removal_webhookdelivery (id, batch_id, items_total, improvement, url, status, attempts, last_error,
  last_error_template, last_error_values, created_at)
SELECT gen_random_uuid(), id, s, 0, 'https://hooks' || (row_number() OVER ()) % 50 || '.example.com/done/' ||
  (row_number() OVER ()), 'delivered', 1, '', '', '{}', made + s * interval '1 second'
  FROM seeded, generate_series(1, 6) s;
ANALYZE;
"""


def read_whole(run: Callable[[], Any]) -> list[dict[str, Any]]:
    """The queries `run` makes (rolled back after), each with the tables its plan reads whole."""
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        run()
        transaction.set_rollback(True)
    plans = []
    for query in captured.captured_queries:
        if not query["sql"].startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
            plan = cursor.fetchone()[0][0]["Plan"]
        counts = query["sql"].startswith("SELECT COUNT(*)")
        seq_scans, sorts = sorted(set(_seq_scans(plan))), "Sort" in _node_types(plan)
        plans.append({"sql": query["sql"][:120], "counts": counts, "seq_scans": seq_scans, "sorts": sorts})
    return plans


def _seq_scans(node: dict[str, Any]) -> list[str]:
    found = [node["Relation Name"]] if node["Node Type"] == "Seq Scan" else []
    return found + [name for child in node.get("Plans", []) for name in _seq_scans(child)]


def _node_types(node: dict[str, Any]) -> set[str]:
    return {node["Node Type"]}.union(*(_node_types(child) for child in node.get("Plans", [])))


def browser_of(user: User) -> Client:
    """A browser logged in as `user`."""
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(user)
    return browser


def main() -> None:
    call_command("migrate", verbosity=0)
    # The seed is smaller than the tables the estimate is for: the admin's pages count as at 1.4 million items.
    EstimatedCountPaginator.ESTIMATED_FROM = 1
    with connection.cursor() as cursor:
        cursor.execute(SEED)
    page_user, api_user = User.objects.get(pk=1), User.objects.get(pk=2)
    operator = browser_of(page_user)  # a superuser
    item = Item.objects.filter(batch__owner_id=3).first()
    images, hooks = "/admin/removal/storedimage/", "/admin/removal/webhookdelivery/"
    reads = {
        "usage of an account with many batches": lambda: selectors.usage_by_day(page_user),
        "usage of an API client": lambda: selectors.usage_by_day(api_user),
        "the reaper's look for lost jobs": services.jobs_requeue_lost,
        "the admin's job records": lambda: operator.get("/admin/removal/jobrecord/"),
        "the batch list of an API client": lambda: browser_of(api_user).get("/api/v1/batches"),
        "the admin's items": lambda: operator.get("/admin/removal/item/"),
        "the admin's search for an item's id": lambda: operator.get(f"/admin/removal/item/?q={item.pk}"),
        "the admin's search for a batch's id": lambda: operator.get(f"/admin/removal/item/?q={item.batch_id}"),
        "the admin's search for a file name's start": lambda: operator.get("/admin/removal/item/?q=img_4711"),
        "the admin's search for an account": lambda: operator.get("/admin/removal/item/?q=USER3"),
        "the admin's search for a batch's name": lambda: operator.get("/admin/removal/batch/?q=spring"),
        "the admin's items done": lambda: operator.get("/admin/removal/item/?status__exact=done"),
        "the admin's search for a stored image's name": lambda: operator.get(f"{images}?q=PHOTO_471"),
        "the admin's search for an account's stored images": lambda: operator.get(f"{images}?q=user3"),
        "the admin's search for a webhook's URL": lambda: operator.get(
            f"{hooks}?q=HTTPS://hooks7.example.com/done/1207"
        ),
        "the admin's search for an account's webhooks": lambda: operator.get(f"{hooks}?q=user3"),
        "the admin's webhook deliveries": lambda: operator.get(hooks),
    }
    print(json.dumps({name: read_whole(run) for name, run in reads.items()}))


if __name__ == "__main__":
    main()
