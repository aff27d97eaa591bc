"""Uploads of one image each from QUEUE_RACERS accounts at once into a queue with room for one fewer
(MAX_QUEUED_ITEMS = QUEUE_RACERS - 1), on the database the environment names (DATABASE_URL, else SQLite in DATA_DIR):
each in a thread with a connection of its own, as a request's view runs them (limits.check_new_work, then
services.batch_submit). Each waits after every count of the server-wide queue until the others have counted too (or,
where they cannot count before its transaction ends, for a moment). Prints, as JSON, what each got and the images
queued then.

    DATA_DIR=/tmp/x MAX_QUEUED_ITEMS=2 python -m tests.ops.queue_race
"""

import contextlib
import json
import threading
from typing import Any

import django

QUEUE_RACERS = 3
ALL_COUNTED_WAIT_SECONDS = 3


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection

    from removal import selectors, services
    from removal.cutout.options import Options
    from removal.errors import ApiError
    from removal.ops import limits
    from tests.conftest import photo_bytes

    assert settings.MAX_QUEUED_ITEMS == QUEUE_RACERS - 1, "run with MAX_QUEUED_ITEMS=2"
    photo = photo_bytes("coffee.png", size=(64, 48))
    users = [User.objects.create_user(f"racer{number}") for number in range(QUEUE_RACERS)]
    all_counted = threading.Barrier(QUEUE_RACERS, timeout=ALL_COUNTED_WAIT_SECONDS)
    outcomes: list[str] = []

    def after_each_count_of_the_queue(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if sql.startswith("SELECT COUNT(") and 'FROM "removal_item" WHERE "removal_item"."status" = ' in sql:
            # Broken where the others wait for this one's transaction, unable to count before it ends.
            with contextlib.suppress(threading.BrokenBarrierError):
                all_counted.wait()
        return result

    def upload(user: Any) -> None:
        try:
            with connection.execute_wrapper(after_each_count_of_the_queue):
                limits.check_new_work(user, images=1, options=Options())
                upload = SimpleUploadedFile("a.jpg", photo, content_type="image/jpeg")
                services.batch_submit(owner=user, files=[upload], options=Options())
            outcomes.append("queued")
        except ApiError as refused:
            outcomes.append(f"{refused.status} {refused}")
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"outcomes": sorted(outcomes), "queued": selectors.queued_count()}))


if __name__ == "__main__":
    main()
