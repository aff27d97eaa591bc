"""The addresses given at sign-up and not confirmed yet (accounts.models.UnconfirmedAddress). None is added for the
accounts there are: their addresses count as confirmed, as a password reset could be mailed to them before, and
marking them unconfirmed would take that from every account, including the operator's, at the upgrade."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_browser_session"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UnconfirmedAddress",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("email_key", models.CharField(max_length=64)),
                ("since", models.DateTimeField()),
            ],
        ),
    ]
