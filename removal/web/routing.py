"""The websocket paths: a batch's live progress (consumers.BatchProgressConsumer); any other path is closed with
4404. bgsite/asgi.py routes websockets here."""

from django.urls import path, re_path

from removal.web.consumers import BatchProgressConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/batches/<uuid:batch_id>", BatchProgressConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
