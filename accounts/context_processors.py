"""What every page needs from accounts: whether the sign-up links are shown."""

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, str]:
    """`signup_mode`: open, closed or invite (settings.SIGNUP); pages link to sign-up only when open."""
    return {"signup_mode": settings.SIGNUP}
