"""ASGI entry point: HTTP, the progress websocket, and the lifespan that runs embedded workers."""

import os

from bgsite.asgi_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bgsite.settings")
django_http = get_asgi_application()

from asgi_correlation_id import CorrelationIdMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from channels.sessions import CookieMiddleware  # noqa: E402

from accounts.auth import BrowserOriginValidator  # noqa: E402
from bgsite.log_context import REQUEST_ID_HEADER, acceptable_request_id, new_request_id  # noqa: E402
from removal.ops.lifespan import EmbeddedWorkers  # noqa: E402
from removal.web.body_limit import BodySizeLimit  # noqa: E402
from removal.web.routing import websocket_urlpatterns  # noqa: E402

routed = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_http),
        # No AuthMiddlewareStack: it reads the session's user on a connection of its own for every handshake, in the
        # one thread all websockets share; the consumer reads it (accounts.auth.caller_of_websocket) on a kept one.
        "websocket": BrowserOriginValidator(CookieMiddleware(URLRouter(websocket_urlpatterns))),
        "lifespan": EmbeddedWorkers(),
    }
)
# Outermost: every reply carries the request's id, those refused before Django too (bgsite/log_context.py).
application = CorrelationIdMiddleware(
    routed, header_name=REQUEST_ID_HEADER, generator=new_request_id, validator=acceptable_request_id
)
