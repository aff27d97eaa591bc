"""Django's createsuperuser, refusing an e-mail address that another account has, as it refuses a taken username.

One account per address is held by the database (accounts.models.FoldedNames, written when a user is saved): the
command saved the user, then its folded names failed, an IntegrityError traceback and an account left without them.
"""

import os
from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.core.management.base import CommandError

from accounts import selectors

# Django's words for a taken username, for the address.
ADDRESS_TAKEN = "Error: That e-mail address is already taken by another account."


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        given = options.get("email")
        if not options["interactive"]:
            given = given or os.environ.get("DJANGO_SUPERUSER_EMAIL")
        if given and selectors.email_taken(given):
            raise CommandError(ADDRESS_TAKEN)
        super().handle(*args, **options)

    def get_input_data(self, field: Any, message: str, default: Any = None) -> Any:
        """The value typed at a prompt; an address another account has is refused there, and asked for again."""
        value = super().get_input_data(field, message, default)
        if field.name == "email" and value and selectors.email_taken(value):
            self.stderr.write(ADDRESS_TAKEN)
            return None
        return value
