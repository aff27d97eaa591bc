"""API keys (the plain key is shown once at creation; only its SHA-256 is stored), the webhook secret, invitations,
used e-mail change links, folded names, addresses given at sign-up and not confirmed yet (and those another account
took), and the sessions that know whose they are."""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import sessions

# How long a revoked key's row stays: its owner's page lists it (when it was revoked, when it goes), and a program still
# sending it is told that it was revoked rather than that it is unknown. Then the workers' daily sweep deletes it
# (services.revoked_api_keys_delete): a script that made and revoked a key an hour kept 720 more rows a month, for good.
REVOKED_API_KEY_KEPT = timedelta(days=30)


def token_hash(secret: str) -> str:
    """What is stored of a secret (an API key's, an invitation's or an e-mail change link's token): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    # The visible start of the key ("bgs_" + 8 characters), unique, used to find
    # the row; the rest of the key is secret and only its hash is kept.
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def removed_after(self) -> datetime | None:
        """When the daily sweep deletes a revoked key (REVOKED_API_KEY_KEPT after it was revoked); None if in use."""
        return None if self.revoked_at is None else self.revoked_at + REVOKED_API_KEY_KEPT


class WebhookSecret(models.Model):
    """The key that signs an account's webhook deliveries (HMAC-SHA256); shown on the dashboard."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("webhook secret")
        verbose_name_plural = _("webhook secrets")

    def __str__(self) -> str:
        return gettext("webhook secret of %(user)s") % {"user": self.user}


class Invitation(models.Model):
    """A sign-up link for SIGNUP=invite: used once, then or after expires_at it opens nothing.

    Like API keys, only the token's SHA-256 is kept; the link is shown once, when made.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    note = models.CharField(_("note"), max_length=200, blank=True, help_text=_("Whom it is for, for your own records."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used by"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return self.note or gettext("invitation of %(created)s") % {"created": f"{self.created_at:%Y-%m-%d %H:%M}"}


class UsedEmailChangeLink(models.Model):
    """An e-mail change link that was confirmed. A link names the address it changes from, and a change and its way
    back make that the account's address again: kept here, each link works once. Only the token's SHA-256."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("used e-mail change link")
        verbose_name_plural = _("used e-mail change links")

    def __str__(self) -> str:
        return gettext("e-mail change link used %(used)s") % {"used": f"{self.used_at:%Y-%m-%d %H:%M}"}


class FoldedNames(models.Model):
    """An account's username and e-mail address as they are compared (accounts.folding), kept beside the user: whether
    a name is taken is one indexed look-up, and the database itself holds each address to one account, so two sign-ups
    or changes at once cannot both take it (a password reset by e-mail would open each account). Written whenever a
    user is saved (accounts.signals); a change made with QuerySet.update() must write it too
    (services.folded_names_save)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    username_key = models.CharField(max_length=64, db_index=True)
    email_key = models.CharField(max_length=64, blank=True)  # '' for an account without an address

    class Meta:
        verbose_name = verbose_name_plural = _("folded names")
        constraints = [
            models.UniqueConstraint(
                fields=["email_key"], condition=~models.Q(email_key=""), name="accounts_one_account_per_address"
            )
        ]

    def __str__(self) -> str:
        return gettext("folded names of %(user)s") % {"user": self.user}


class UnconfirmedAddress(models.Model):
    """The address an account was signed up with, until the link mailed to it is followed (accounts.confirmation):
    while it is the account's address (`email_key` is its FoldedNames.email_key), no password reset is mailed to it,
    and past the link's validity after `since` another sign-up may take it. An address set otherwise (an address
    change, confirmed by its link; the admin; createsuperuser; every account made before sign-ups were confirmed) has
    no row: it is confirmed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    email_key = models.CharField(max_length=64)  # accounts.folding.email_key of the address
    since = models.DateTimeField()

    class Meta:
        verbose_name = _("unconfirmed address")
        verbose_name_plural = _("unconfirmed addresses")

    def __str__(self) -> str:
        return gettext("unconfirmed address of %(user)s") % {"user": self.user}


class LostAddress(models.Model):
    """The address an account was signed up with and never confirmed, since another account took it
    (accounts.confirmation.abandoned_address_take): the account is told, on its page while it has no address and once
    at its next log-in, as it could not be by mail. Goes when the account has an address again."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    email = models.EmailField()  # as the account had it
    lost_at = models.DateTimeField()
    told_at_log_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("lost address")
        verbose_name_plural = _("lost addresses")

    def __str__(self) -> str:
        return gettext("address lost by %(user)s") % {"user": self.user}


class BrowserSession(AbstractBaseSession):
    """A log-in session (django.contrib.sessions' database engine, accounts.sessions) that knows whose it is and which
    browser holds it: the account page lists where its user is logged in, and logs out the others."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )  # None for a visitor's session
    user_agent = models.CharField(max_length=sessions.USER_AGENT_LENGTH, blank=True)
    logged_in_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        # Not the session key (AbstractBaseSession's): the confirmation of an account's deletion lists its sessions.
        return gettext("log-in session %(handle)s") % {"handle": self.handle}

    @classmethod
    def get_session_store_class(cls) -> type:
        return sessions.SessionStore

    @property
    def handle(self) -> str:
        """What a page may name it by: not the session key, which is the browser's cookie and logs in as its user."""
        return hashlib.sha256(self.session_key.encode()).hexdigest()[:20]
