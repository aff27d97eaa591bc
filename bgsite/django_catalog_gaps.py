"""Django's own messages, shown on the admin's pages, that its German or Spanish catalogs have not translated yet
(Django 6.1), so that those pages showed them in English. Marked here, makemessages keeps them in our catalogs, which
Django reads before its own (LOCALE_PATHS), and they are translated there. tests/test_django_catalog_gaps.py checks
that each is one Django still leaves untranslated: drop it from here once Django's catalogs translate it."""

from django.utils.translation import gettext_noop

ADMIN_MESSAGES = (
    gettext_noop("- Select an option -"),  # a choice field's empty choice
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),  # noqa: RUF001  (Django's)
    gettext_noop(
        "Are you sure you want to delete the %(object_name)s “%(escaped_object)s”? All of the following related "
        "items will be deleted:"
    ),
    gettext_noop("Disable password-based authentication"),
    gettext_noop("Disabled"),
    gettext_noop("Enabled"),
    gettext_noop("Pagination %(name)s"),
    gettext_noop("Pagination %(name)s entries"),  # a row's history's
    gettext_noop("Password-based authentication"),
    gettext_noop("Raw passwords are not stored, so there is no way to see the user’s password."),  # noqa: RUF001
    gettext_noop("Reset password"),
    gettext_noop("Run"),  # the list's action button
    gettext_noop("Search %(name)s"),
    gettext_noop(
        "Whether the user will be able to authenticate using a password or not. If disabled, they may still be able to "
        "authenticate using other backends, such as Single Sign-On or LDAP."
    ),
)
