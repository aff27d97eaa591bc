"""The account pages under /accounts/: sign-up, log-in and out, password change and reset (Django's views with
this site's forms), the confirmation of the address given at sign-up, the change of e-mail address, account deletion,
API keys, the webhook secret and logging out the account's other browsers."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import forms, password_views, views
from bgsite.allowed_methods import PAGE_HANDLERS

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", password_views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", password_views.LogoutWithNotice.as_view(), name="logout"),
    path("password/", password_views.ThrottledPasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(http_method_names=PAGE_HANDLERS),
        name="password_change_done",
    ),
    # A forgotten password: Django's reset views, the link sent by e-mail (EMAIL_URL).
    path(
        "password/reset/",
        password_views.ThrottledPasswordResetView.as_view(form_class=forms.PasswordResetForm),
        name="password_reset",
    ),
    path("password/reset/sent/", password_views.PasswordResetSent.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        password_views.PasswordResetConfirmWithNotice.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(http_method_names=PAGE_HANDLERS),
        name="password_reset_complete",
    ),
    path("email/", views.email_change, name="email_change"),
    path("email/confirm/<str:token>/", views.email_change_confirm, name="email_change_confirm"),
    path("email/verify/", views.address_confirmation_send, name="address_confirmation_send"),
    path("email/verify/<str:token>/", views.address_confirm, name="address_confirm"),
    path("delete/", views.account_delete, name="account-delete"),
    path("keys/", views.api_key_create, name="api-key-create"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("browsers/log-out/", views.browsers_log_out, name="browsers-log-out"),
    path("browsers/<str:handle>/log-out/", views.browser_log_out, name="browser-log-out"),
    path("webhook-secret/", views.webhook_secret_rotate, name="webhook-secret-rotate"),
]
