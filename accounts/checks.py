"""System checks of the accounts' data, run by `manage.py check --database default` and before `migrate`."""

from typing import Any

from django.core import checks
from django.db import DatabaseError

from accounts import selectors


@checks.register(checks.Tags.database)
def folded_names_complete(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Accounts saved without save() (bulk_create, raw SQL) have no folded names: a password reset does not find
    them, and another account can take their username or address."""
    if not databases or "default" not in databases:
        return []
    try:
        missing = selectors.users_without_folded_names().count()
    except DatabaseError:  # not migrated yet: accounts.0004 writes them all
        return []
    if not missing:
        return []
    return [
        checks.Warning(
            f"{missing} account(s) have no folded names (made without save(): bulk_create, raw SQL): a password "
            "reset does not find them, and another account can take their username or e-mail address",
            hint="Run `python manage.py fill_folded_names` (docs/deploy.md, upgrade notes).",
            id="accounts.W001",
        )
    ]
