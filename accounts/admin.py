"""The admin for API keys (never made there; their hash never shown), invitations, whose link is shown once, and
users, whose address is refused there as at sign-up when another account has it."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts import forms, services
from accounts.models import ApiKey, Invitation


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("name", "prefix", "user__username", "user__email")
    # The hash is never shown; keys are created by their owner, not here.
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
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


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    form = forms.AdminUserChangeForm
