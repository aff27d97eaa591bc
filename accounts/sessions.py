"""The session engine (SESSION_ENGINE): Django's database sessions, kept in accounts.models.BrowserSession with the
user they log in, the browser's User-Agent and when it logged in, read from the session's own data at each save."""

from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.utils.dateparse import parse_datetime

if TYPE_CHECKING:
    from accounts.models import BrowserSession

# Written into the session at log-in (accounts.signals), copied into its row's columns.
USER_AGENT_KEY = "_browser_user_agent"
LOGGED_IN_AT_KEY = "_browser_logged_in_at"
USER_AGENT_LENGTH = 300


class SessionStore(DatabaseStore):
    @classmethod
    def get_model_class(cls) -> "type[BrowserSession]":
        from accounts.models import BrowserSession  # accounts.models reads this module's names

        return BrowserSession

    def create_model_instance(self, data: dict[str, Any]) -> "BrowserSession":
        session = cast("BrowserSession", super().create_model_instance(data))
        session.user_id = data.get(SESSION_KEY)
        session.user_agent = data.get(USER_AGENT_KEY, "")
        session.logged_in_at = parse_datetime(data.get(LOGGED_IN_AT_KEY, ""))
        return session
