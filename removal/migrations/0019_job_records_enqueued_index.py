"""An index of django-tasks-db's job records by the time they were queued, the admin's order for them
(removal.admin.JobRecordAdmin): it sorted every record kept, one an image processed, 0.8 s at 1.4 million. In SQL
that PostgreSQL and SQLite both take, as 0016."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("removal", "0018_batch_owner_kind_created_index")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX removal_jobs_enqueued_idx ON django_tasks_database_dbtaskresult (enqueued_at)",
            reverse_sql="DROP INDEX removal_jobs_enqueued_idx",
        )
    ]
