"""The addresses given at sign-up, never confirmed and taken by another account (accounts.models.LostAddress), so that
the account that had one is told. None for the addresses taken before: which accounts lost one is not known."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_address_confirmation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LostAddress",
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
                ("email", models.EmailField(max_length=254)),
                ("lost_at", models.DateTimeField()),
                ("told_at_log_in", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
