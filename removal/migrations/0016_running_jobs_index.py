"""An index of django-tasks-db's running jobs, which the workers' reaper reads every ITEM_LEASE_SECONDS / 4 in every
worker process (services.jobs_requeue_lost): without it each pass read the whole table of job records, one a
processed image, 0.35 s at 1.4 million. django-tasks-db indexes only the jobs ready to run. Partial, in SQL that
PostgreSQL and SQLite both take: a handful of rows, whatever the table holds."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("removal", "0015_item_finished_indexes"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX removal_running_jobs_idx ON django_tasks_database_dbtaskresult (started_at) "
            "WHERE status = 'RUNNING'",
            reverse_sql="DROP INDEX removal_running_jobs_idx",
        )
    ]
