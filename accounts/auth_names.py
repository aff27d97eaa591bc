"""Django's auth rows named in the reader's language, where the admin shows them in English.

Permissions: Django writes a permission's name into the database in English when migrate makes it ("Can add batch"),
and shows that name wherever it shows a permission (str(permission)); here a permission Django made for a model is
named again from the model's names and the action, all translated, and one a model declares in its Meta.permissions by
the name declared there (translated where that is gettext_lazy).

The links between users, groups and permissions (the rows of their many-to-many tables): deleting a user or a group
lists them by their tables' English names ("User-group relationship: User_groups object (1)"); here each is named by
what it links."""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Model
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy, gettext_noop

if TYPE_CHECKING:  # django-stubs' name for a lazy message; not installed to run
    from django_stubs_ext import StrPromise

# What each of Django's default permissions (Meta.default_permissions) allows.
ACTIONS = {
    "add": gettext_noop("Can add %(model)s"),
    "change": gettext_noop("Can change %(model)s"),
    "delete": gettext_noop("Can delete %(model)s"),
    "view": gettext_noop("Can view %(model)s"),
}


def permission_name(permission: Permission) -> str:
    """Named as str(permission) names it, "<app> | <model> | <what it allows>", in the active language."""
    model = permission.content_type.model_class()
    if model is None:  # a model no longer installed: its row's words are all there are
        return str(permission)
    return f"{permission.content_type} | {_allowed(permission, model)}"


def permission_names(permissions: Iterable[Permission]) -> str:
    """One permission a line, as a permission field a reader may only view shows them."""
    return "\n".join(permission_name(permission) for permission in permissions)


def _allowed(permission: Permission, model: type[Model]) -> str:
    opts = model._meta
    for action in opts.default_permissions:
        if action in ACTIONS and permission.codename == get_permission_codename(action, opts):
            return gettext(ACTIONS[action]) % {"model": opts.verbose_name}
    declared = dict(opts.permissions).get(permission.codename)
    return str(declared) if declared is not None else permission.name


class PermissionsField(forms.ModelMultipleChoiceField):
    """The admin's permission picker, each permission named by permission_name."""

    def label_from_instance(self, obj: Model) -> str:
        return permission_name(obj)  # type: ignore[arg-type]  # the field's queryset is of permissions


# Each link table: its row's name, its name and plural, in the reader's language.
LINKS: "dict[type[Model], tuple[Callable[[Any], str], StrPromise, StrPromise]]" = {
    User.groups.through: (
        lambda link: gettext("%(user)s in %(group)s") % {"user": link.user, "group": link.group},
        gettext_lazy("group membership"),
        gettext_lazy("group memberships"),
    ),
    User.user_permissions.through: (
        lambda link: permission_name(link.permission),
        gettext_lazy("permission of a user"),
        gettext_lazy("permissions of users"),
    ),
    Group.permissions.through: (
        lambda link: permission_name(link.permission),
        gettext_lazy("permission of a group"),
        gettext_lazy("permissions of groups"),
    ),
}


def links_renamed(
    model: type[Model], rows: Iterable[Model], to_delete: list[Any], counts: dict[str, int]
) -> tuple[list[Any], dict[str, int]]:
    """What deleting `rows` (of `model`) deletes and its count of each kind, as ModelAdmin.get_deleted_objects lists
    them, with each link to one of `rows` named in the reader's language where Django named it in English."""
    names = {}
    for link_table, (link_name, table_name, _) in LINKS.items():
        for field in (field.name for field in link_table._meta.fields if field.related_model is model):
            for link in link_table._default_manager.filter(**{f"{field}__in": rows}):
                names[f"{capfirst(link_table._meta.verbose_name)}: {link}"] = (
                    f"{capfirst(table_name)}: {link_name(link)}"
                )
    plurals = {str(link_table._meta.verbose_name_plural): str(plural) for link_table, (*_, plural) in LINKS.items()}
    return _renamed(to_delete, names), {plurals.get(str(kind), str(kind)): count for kind, count in counts.items()}


def _renamed(listed: list[Any], names: dict[str, str]) -> list[Any]:
    return [_renamed(item, names) if isinstance(item, list) else names.get(item, item) for item in listed]
