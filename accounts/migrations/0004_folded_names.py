"""Each account's folded names (accounts.models.FoldedNames), filled for the accounts there are. An installation
whose accounts share an address (made before sign-up checked addresses this way, or in the admin) stops here with
their list: which of them a reset mail for that address should reach is the operator's call (docs/deploy.md,
upgrade notes)."""

from collections import defaultdict

import django.db.models.deletion
from django.conf import settings
from django.core.management.base import CommandError
from django.db import migrations, models

from accounts import folding

LISTED = 20
BATCH = 2000


def fill_folded_names(apps, schema_editor):
    User = apps.get_model(settings.AUTH_USER_MODEL)
    FoldedNames = apps.get_model("accounts", "FoldedNames")
    users = User.objects.order_by("pk").values_list("pk", "username", "email")
    by_address = defaultdict(list)  # first the addresses only, so that nothing is written where some are shared
    for pk, username, email in users.iterator(BATCH):
        if email:
            by_address[folding.email_key(email)].append((pk, username, email))
    shared = [accounts for accounts in by_address.values() if len(accounts) > 1]
    if shared:
        raise CommandError(_shared_addresses_told(shared))
    del by_address
    names = []
    for pk, username, email in users.iterator(BATCH):
        names.append(
            FoldedNames(user_id=pk, username_key=folding.username_key(username), email_key=folding.email_key(email))
        )
        if len(names) == BATCH:
            FoldedNames.objects.bulk_create(names)
            names = []
    FoldedNames.objects.bulk_create(names)


def _shared_addresses_told(shared):
    lines = [
        f"{len(shared)} e-mail address(es) belong to more than one account; from this release an address opens one "
        "account only (a password reset by e-mail opened each). Give every account but one of each its own address, "
        "or none, then run `manage.py migrate` again:"
    ]
    for accounts in shared[:LISTED]:
        lines.append("  " + ", ".join(f"{email!r} (account {username!r}, id {pk})" for pk, username, email in accounts))
    if len(shared) > LISTED:
        lines.append(f"  and {len(shared) - LISTED} more.")
    lines.append(
        "For example, to clear account 12's address: python manage.py shell -c \"from django.contrib.auth.models "
        "import User; User.objects.filter(pk=12).update(email='')\". Nothing was changed."
    )
    return "\n".join(lines)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_used_email_change_link"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="FoldedNames",
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
                ("username_key", models.CharField(db_index=True, max_length=64)),
                ("email_key", models.CharField(blank=True, max_length=64)),
            ],
            options={
                "verbose_name_plural": "folded names",
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("email_key", ""), _negated=True),
                        fields=("email_key",),
                        name="accounts_one_account_per_address",
                    )
                ],
            },
        ),
        migrations.RunPython(fill_folded_names, migrations.RunPython.noop, elidable=False),
    ]
