"""Which request or job a log line belongs to: the request's id, and the batch and item a worker is on.

Every HTTP request and websocket gets an id through asgi-correlation-id's ASGI middleware (bgsite/asgi.py), which
wraps everything, the ASGI door's own refusals (removal.web.body_limit.BodySizeLimit) included (bgsite.server gives
the heads it refuses before the app, 408, 414 and 431, theirs the same way): the client's
X-Request-ID when it is a sane one (`acceptable_request_id`), else a new one. Every reply carries it back in
X-Request-ID, and the API's error bodies in `request_id`. The id lives in a context variable, which asgiref copies
into the threads that run a request's synchronous code. A job runs in a worker thread: removal.tasks names its item
(and the request that queued it) with `job_context`, and the item's batch once it is known.

`LogContext`, a filter on the console handler (bgsite/logging_config.py), puts them on each record: `request_id`,
`batch_id` and `item_id` (those known), and `context`, the plain format's " [request_id=… item_id=…]".
"""

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# What a client's (or its proxy's) X-Request-ID may be to be taken as it is: a UUID, nginx's $request_id, a trace
# id. Bounded and without spaces or quotes, so that it reads as one word in a log line and cannot forge one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._~:;=+/@-]{1,128}")

_batch_id: ContextVar[str] = ContextVar("batch_id", default="")
_item_id: ContextVar[str] = ContextVar("item_id", default="")
FIELDS = ("request_id", "batch_id", "item_id")


def acceptable_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def _request_id_variable() -> ContextVar[str | None]:
    """asgi-correlation-id's context variable. Imported here: its package loads Starlette (45 ms of CPU), which a
    process that serves no request (a manage.py command) does not need; it loads with the first log line or job."""
    from asgi_correlation_id import correlation_id

    return correlation_id


def current_request_id() -> str:
    """The id of the request (or of the request that queued the job) this code runs for; "" outside of one."""
    return _request_id_variable().get() or ""


def request_id_field() -> dict[str, str]:
    """{"request_id": …} for an error body, for the user to quote; {} outside of a request."""
    return {"request_id": request_id} if (request_id := current_request_id()) else {}


@contextmanager
def job_context(*, item_id: str = "", request_id: str = "") -> Iterator[None]:
    """The log lines of a job name its item, and the request that queued it, until it ends."""
    item_token, batch_token = _item_id.set(str(item_id)), _batch_id.set("")
    request_token = _request_id_variable().set(request_id or None)
    try:
        yield
    finally:
        _item_id.reset(item_token)
        _batch_id.reset(batch_token)  # and so the batch name_batch gave
        _request_id_variable().reset(request_token)


def name_batch(batch_id: object) -> None:
    """The job's later log lines name `batch_id` too (its item's batch, known once the item is read)."""
    _batch_id.set(str(batch_id))


class LogContext(logging.Filter):
    """Puts the request id and the job's batch and item on every record (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        known = {
            name: value
            for name, value in zip(FIELDS, (current_request_id(), _batch_id.get(), _item_id.get()), strict=True)
            if value
        }
        record.__dict__.update(known)  # only those it has: a JSON line leaves out the others
        named = " ".join(f"{name}={value}" for name, value in known.items())
        record.context = f" [{named}]" if named else ""
        return True
