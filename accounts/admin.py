"""The admin for API keys (never made there; their hash never shown), invitations, whose link is shown once, and
users, whose address is refused there as at sign-up when another account has it, whose new password or address is told
to the account as when its owner sets it, and whose address is shown confirmed or not (and may be confirmed there).
Users' and groups' permissions are named in the reader's language (accounts.auth_names)."""

import json
from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import ManyToManyField, Model, QuerySet
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import confirmation, forms, mails, selectors, services
from accounts.auth_names import PermissionsField, links_renamed, permission_names
from accounts.models import ApiKey, Invitation
from accounts.password_views import RedirectThenMail, password_changed
from bgsite.admin_history import HistoryInReadersLanguage


@admin.register(ApiKey)
class ApiKeyAdmin(HistoryInReadersLanguage):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("name", "prefix", "user__username", "user__email")
    # The hash is never shown; keys are created by their owner, not here.
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(HistoryInReadersLanguage):
    """Sign-up links for SIGNUP=invite. Adding one shows its link once; only its hash is kept."""

    list_display = ("__str__", "created_by", "created_at", "expires_at", "used_at", "used_by")
    list_filter = ("used_at", "expires_at")
    fields = ("note", "created_by", "created_at", "expires_at", "used_at", "used_by")
    readonly_fields = ("created_by", "created_at", "expires_at", "used_at", "used_by")

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        obj.created_by = request.user  # type: ignore[assignment]
        token = services.invitation_token_set(invitation=obj)
        super().save_model(request, obj, form, change)
        link = request.build_absolute_uri(services.invitation_path(token))
        message = _("Send this sign-up link; it is shown only now, works once and expires on %(date)s: %(link)s")
        self.message_user(
            request, message % {"date": f"{obj.expires_at:%Y-%m-%d %H:%M} UTC", "link": link}, messages.WARNING
        )


class AddressConfirmedFilter(admin.SimpleListFilter):
    """Accounts with a confirmed address, or with one not confirmed yet (none without an address)."""

    title = gettext_lazy("address confirmed")
    parameter_name = "address_confirmed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", gettext_lazy("Confirmed")), ("no", gettext_lazy("Not confirmed"))]  # type: ignore[list-item]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.exclude(email="").filter(~selectors.address_unconfirmed_column())
        if self.value() == "no":
            return queryset.filter(selectors.address_unconfirmed_column())
        return queryset


class PermissionsInReadersLanguage(HistoryInReadersLanguage):
    """A user's or a group's permissions in the reader's language: in the picker, where a reader who may only view the
    row is shown them instead (Django's list there reads each permission's English name from the database), and among
    what deleting it deletes, with its groups or its members (accounts.auth_names.links_renamed); its history too."""

    permissions_field: str  # the many-to-many field to Permission

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest | None = None, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        if db_field.name == self.permissions_field:
            kwargs["form_class"] = PermissionsField
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[arg-type]  # as GroupAdmin's

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [(name, {**options, "fields": list(map(self._shown, options["fields"]))}) for name, options in fieldsets]

    def _shown(self, field: Any) -> Any:
        """What a reader who may only view the row is shown for `field`: the permissions, named here."""
        return "permissions_named" if field == self.permissions_field else field

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        to_delete, counts, permissions_needed, protected = super().get_deleted_objects(objs, request)
        return (*links_renamed(self.model, objs, to_delete, counts), permissions_needed, protected)

    @admin.display(description=Permission._meta.verbose_name_plural)
    def permissions_named(self, obj: Model) -> str:
        return permission_names(getattr(obj, self.permissions_field).select_related("content_type"))


admin.site.unregister(Group)


@admin.register(Group)
class NamedGroupAdmin(PermissionsInReadersLanguage, GroupAdmin):
    """Django's group admin, its permissions in the reader's language."""

    permissions_field = "permissions"


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(PermissionsInReadersLanguage, UserAdmin):
    """Django's user admin. A password or an address set here is told to the account's address (the address it had),
    as the site's own change does (accounts.mails), once the reply has gone, in the site's language (LANGUAGE_CODE:
    no account stores one, and the admin's is not its owner's); a new password logs out the account's browsers.
    Without it, a user whose password or address an admin had changed, on request or not, was told nothing."""

    form = forms.AdminUserChangeForm
    change_password_form = forms.AdminPasswordChangeForm
    permissions_field = "user_permissions"
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "address_confirmed")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups", AddressConfirmedFilter)
    readonly_fields = ("address_confirmed",)
    fieldsets = tuple(
        (name, {**options, "fields": (*options["fields"], "address_confirmed")})
        if "email" in options["fields"]
        else (name, options)
        for name, options in UserAdmin.fieldsets or ()
    )
    actions = ("address_confirm",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).annotate(address_unconfirmed=selectors.address_unconfirmed_column())

    @admin.display(boolean=True, description=gettext_lazy("address confirmed"), ordering="address_unconfirmed")
    def address_confirmed(self, user: User) -> bool | None:
        """Confirmed by the link mailed to it, set otherwise than at sign-up, or confirmed here; none without one."""
        if not user.email:
            return None
        unconfirmed = getattr(user, "address_unconfirmed", None)  # annotated by get_queryset
        return not (selectors.address_unconfirmed(user) if unconfirmed is None else unconfirmed)

    @admin.action(description=gettext_lazy("Mark the address as confirmed"), permissions=["change"])
    def address_confirm(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """For an owner who cannot open the link (it never came) but has shown support the address is theirs: a
        password reset can then be mailed to it, and no other sign-up takes it. Logged in each account's history."""
        confirmed = confirmation.addresses_confirm_by_staff(users=queryset)
        LogEntry.objects.log_actions(
            user_id=cast(int, request.user.pk),
            queryset=User.objects.filter(pk__in=confirmed),
            action_flag=CHANGE,
            change_message=json.dumps([{"changed": {"fields": ["address confirmed"]}}]),  # shown translated
        )
        count = len(confirmed)
        message = ngettext("%(count)d address marked as confirmed.", "%(count)d addresses marked as confirmed.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        before = self.get_object(request, unquote(id)) if request.method == "POST" else None
        response = super().user_change_password(request, id, form_url)
        after = _saved(before, response)
        if before is None or after is None or after.password == before.password:
            return response
        keeping = request.session.session_key if after.pk == request.user.pk else None  # the admin's own, kept
        with translation.override(settings.LANGUAGE_CODE):
            notice = password_changed(request, after, keeping=keeping)
        # A password taken away (log-in by password disabled) cannot be reset from the notice's link: none sent.
        return RedirectThenMail(response["Location"], send=notice if after.has_usable_password() else mails.no_notice)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        before = self.get_object(request, unquote(object_id)) if request.method == "POST" else None
        response = super().change_view(request, object_id, form_url, extra_context)
        after = _saved(before, response)
        if before is None or after is None or after.email == before.email or not mails.notices_reach(before):
            return response  # an address given at sign-up and never confirmed may be a stranger's: not told
        with translation.override(settings.LANGUAGE_CODE):
            notice = mails.email_changed_notice(user=after, old_email=before.email, host=request.get_host())
        return RedirectThenMail(response["Location"], send=notice)


def _saved(before: User | None, response: HttpResponse) -> User | None:
    """The account as saved, after a form of it was posted and the admin redirected (its way of saying it saved)."""
    if before is None or response.status_code != 302:
        return None
    return User.objects.filter(pk=before.pk).first()
