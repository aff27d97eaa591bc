from django.urls import path, re_path

from removal.web.consumers import BatchProgressConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/batches/<uuid:batch_id>", BatchProgressConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
