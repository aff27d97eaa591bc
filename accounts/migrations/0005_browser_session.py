"""Sessions kept as accounts.models.BrowserSession (SESSION_ENGINE = "accounts.sessions"), each with its user: the
account page lists where its user is logged in. The sessions there are are copied over, so that nobody is logged out
by the upgrade; those logged in before it show no browser or time of log-in."""

from itertools import batched

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations, models
from django.utils import timezone

BATCH = 2000


def copy_sessions(apps, schema_editor):
    Session = apps.get_model("sessions", "Session")
    BrowserSession = apps.get_model("accounts", "BrowserSession")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    store = SessionStore()  # accounts.sessions signs as Django's database store does: their data reads the same
    live = Session.objects.filter(expire_date__gt=timezone.now()).order_by("pk")
    for sessions in batched(live.iterator(BATCH), BATCH):  # a large site's sessions, a few thousand at a time
        user_ids = [store.decode(session.session_data).get(SESSION_KEY) for session in sessions]
        known = {str(pk) for pk in User.objects.filter(pk__in=set(filter(None, user_ids))).values_list("pk", flat=True)}
        BrowserSession.objects.bulk_create(
            BrowserSession(
                session.session_key,
                session.session_data,
                session.expire_date,
                user_id=user_id if user_id in known else None,  # a deleted account's session logs nobody in
            )
            for session, user_id in zip(sessions, user_ids, strict=True)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_folded_names"),
        ("sessions", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="BrowserSession",
            fields=[
                (
                    "session_key",
                    models.CharField(max_length=40, primary_key=True, serialize=False, verbose_name="session key"),
                ),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                ("logged_in_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "session", "verbose_name_plural": "sessions", "abstract": False},
        ),
        migrations.RunPython(copy_sessions, migrations.RunPython.noop),
    ]
