"""Indexes for the tables that grow with use (1.4 million items and job records after a year of a busy server), each
for a read that went through a whole table:

- Item (batch, finished_at) and (finished_at): the account page's usage of the last 30 days;
- Item (created_at, id): the admin's list of items, newest first;
- Batch (owner, kind, created_at): a page of an API client's batches, past its /bgremove calls' one-image batches;
- django-tasks-db's running jobs (partial), which the workers' reaper reads every ITEM_LEASE_SECONDS / 4 in each
  worker process (services.jobs_requeue_lost; django-tasks-db indexes only the jobs ready to run), and its job
  records by the time they were queued, the admin's order for them (removal.admin.JobRecordAdmin). These two in SQL
  that PostgreSQL and SQLite both take.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("removal", "0014_webhook_delivery_error_template"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["batch", "finished_at"], name="item_batch_finished_idx"),
        ),
        migrations.AddIndex(model_name="item", index=models.Index(fields=["finished_at"], name="item_finished_idx")),
        migrations.AddIndex(
            model_name="item", index=models.Index(fields=["created_at", "id"], name="item_created_idx")
        ),
        migrations.AddIndex(
            model_name="batch",
            index=models.Index(fields=["owner", "kind", "created_at"], name="batch_owner_kind_created_idx"),
        ),
        migrations.RunSQL(
            "CREATE INDEX removal_running_jobs_idx ON django_tasks_database_dbtaskresult (started_at) "
            "WHERE status = 'RUNNING'",
            reverse_sql="DROP INDEX removal_running_jobs_idx",
        ),
        migrations.RunSQL(
            "CREATE INDEX removal_jobs_enqueued_idx ON django_tasks_database_dbtaskresult (enqueued_at)",
            reverse_sql="DROP INDEX removal_jobs_enqueued_idx",
        ),
    ]
