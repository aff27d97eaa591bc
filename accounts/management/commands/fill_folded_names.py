"""`manage.py fill_folded_names`: the folded names of the accounts made without save(), which the check accounts.W001
finds."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors, services


class Command(BaseCommand):
    help = (
        "Write the folded names (accounts.FoldedNames) of the accounts made without save(): bulk_create, raw SQL. "
        "`manage.py check --database default` says when some have none."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        missing = selectors.users_without_folded_names().count()
        refused = services.folded_names_fill()
        self.stdout.write(f"{missing - len(refused)} account(s) given their folded names.")
        if refused:
            listed = ", ".join(f"{user.email!r} (account {user.username!r}, id {user.pk})" for user in refused)
            raise CommandError(
                f"{len(refused)} account(s) have an e-mail address another account has already: {listed}. Give each "
                'its own address or none (python manage.py shell -c "from django.contrib.auth.models import User; '
                "User.objects.filter(pk=12).update(email='')\"), then run this command again."
            )
