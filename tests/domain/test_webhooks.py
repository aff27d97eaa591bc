"""Webhooks: a batch with callback_url is POSTed a signed summary when it finishes, with retries."""

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import WebhookSecret
from accounts.services import webhook_secret_for, webhook_secret_rotate
from bgsite.networks import parse_networks
from removal import services
from removal.models import Batch, Item, WebhookDelivery
from removal.ops.worker import claim_next_job, run_job, run_ready_jobs
from removal.services import webhook_signature, webhooks
from tests.conftest import photo_bytes
from tests.web.test_batch_api import jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], list[Any]]]:
    """A local endpoint: (url, requests it got, status codes to answer with in turn, then 200; or, in their place,
    what to do before answering, a function returning the status)."""
    received: list[dict[str, Any]] = []
    answers: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            answer = answers.pop(0) if answers else 200
            self.send_response(answer() if callable(answer) else answer)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, answers
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    settings.FETCH_ALLOWED_NETWORKS = parse_networks(["127.0.0.1/32"])


def create(api: Any, url: str, count: int = 2) -> dict[str, Any]:
    files = [SimpleUploadedFile(f"p{index}.jpg", photo_bytes("coffee.png", size=(96, 64))) for index in range(count)]
    reply = api.post("/api/v1/batches", {"files": files, "callback_url": url})
    assert reply.status_code == 201, reply.content
    return reply.json()


def make_due(delivery: WebhookDelivery) -> None:
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now() - timedelta(seconds=1))


def test_finished_batch_is_posted_once_and_signed(api: Any, user: Any, receiver: Any, loopback_allowed: None) -> None:
    url, received, _ = receiver
    batch = create(api, url)
    run_ready_jobs()
    assert len(received) == 1
    request = received[0]
    payload = json.loads(request["body"])
    assert payload["event"] == "batch.finished"
    assert payload["batch"]["id"] == batch["id"] and payload["batch"]["counts"]["done"] == 2
    assert {item["status"] for item in payload["items"]} == {"done"}
    for item in payload["items"]:  # the coffee cup fills the frame: a sure cutout, not flagged
        assert item["confidence"] >= 0.6 and item["needs_review"] is False
    assert payload["batch"]["counts"]["needs_review"] == 0
    headers = request["headers"]
    expected = webhook_signature(webhook_secret_for(user=user), headers["X-Bgsite-Timestamp"], request["body"])
    assert headers["X-Bgsite-Signature"] == expected
    assert headers["X-Bgsite-Event"] == "batch.finished"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert run_ready_jobs() == 0 and len(received) == 1


def test_failures_are_retried_with_backoff_then_given_up(
    api: Any, receiver: Any, loopback_allowed: None, settings: Any
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    url, received, answers = receiver
    answers.extend([500, 503, 500])
    create(api, url, count=1)
    run_ready_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "answered HTTP 500")
    # and as a template and its values, which the account page shows in its reader's language
    assert (delivery.last_error_template, delivery.last_error_values) == ("answered HTTP %(status)s", {"status": "500"})
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.run_after > timezone.now() + timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS - 5)
    for _ in range(2):
        make_due(delivery)
        run_ready_jobs()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert len(received) == 3


def test_retry_succeeds(api: Any, receiver: Any, loopback_allowed: None) -> None:
    url, received, answers = receiver
    answers.append(502)
    create(api, url, count=1)
    run_ready_jobs()
    make_due(WebhookDelivery.objects.get())
    run_ready_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(received) == 2


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "localhost", "[::1]", "0"])
def test_callback_urls_to_our_network_are_refused_at_creation(api: Any, host: str) -> None:
    reply = api.post(
        "/api/v1/batches",
        {
            "files": [SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(64, 48)))],
            "callback_url": f"http://{host}:9/hook",
        },
    )
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("callback_url: the callback URL points at a non-public address (")


def test_callback_urls_are_ssrf_checked_again_on_delivery(
    api: Any, receiver: Any, loopback_allowed: None, settings: Any
) -> None:
    url, received, _ = receiver
    create(api, url, count=1)
    settings.FETCH_ALLOWED_NETWORKS = []  # the host's address is refused by the time the batch finishes
    run_ready_jobs()
    delivery = WebhookDelivery.objects.get()
    assert "non-public address" in delivery.last_error
    assert received == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "not a url", "https://example.com:0/x"])
def test_bad_callback_urls_are_refused_at_creation(api: Any, url: str) -> None:
    reply = api.post(
        "/api/v1/batches",
        {"files": [SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(64, 48)))], "callback_url": url},
    )
    assert reply.status_code == 400 and reply.json()["error"].startswith("callback_url:")


@pytest.mark.parametrize("url", ["http://ex ample.com/hook", "http://.com/hook", "http://\u2603.com/hook"])
def test_a_delivery_stored_with_a_url_no_request_can_be_sent_to_ends_failed_at_once(
    api: Any, receiver: Any, loopback_allowed: None, settings: Any, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    """A batch whose callback_url was taken before such URLs were refused at its creation (sixth probe): each delivery
    was tried WEBHOOK_MAX_ATTEMPTS times, "could not connect (InvalidURL)" each time, for hours of backoff."""
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    batch = create(api, receiver[0], count=1)
    Batch.objects.filter(pk=batch["id"]).update(callback_url=url)  # as stored then
    with caplog.at_level(logging.INFO, logger="removal.services.webhooks"):
        run_ready_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    reason = "the callback URL is not a valid URL; not tried again: no request can be sent to it"
    assert delivery.last_error == reason
    assert not DBTaskResult.objects.filter(status="READY").exists()  # no retry queued
    assert receiver[1] == []
    tried = f"webhook delivery {delivery.pk} of batch {batch['id']}"
    lines = [(record.levelname, record.getMessage()) for record in caplog.records if record.name.endswith("webhooks")]
    assert [level for level, _ in lines] == ["WARNING"]
    assert lines[0][1].startswith(tried) and lines[0][1].endswith(f"failed at attempt 1, gave up at once: {reason}")


def test_secret_rotation(user: Any) -> None:
    first = webhook_secret_for(user=user)
    assert first.startswith("whsec_") and webhook_secret_for(user=user) == first
    assert webhook_secret_rotate(user=user) != first


def test_dashboard_shows_the_secret_and_deliveries(
    client: Any, api: Any, user: Any, receiver: Any, loopback_allowed: None
) -> None:
    url, _, _ = receiver
    create(api, url, count=1)
    run_ready_jobs()
    client.force_login(user)
    page = client.get("/accounts/").content.decode()
    assert webhook_secret_for(user=user) in page
    assert "delivered" in page and "HTTP 200" in page
    # Scrolled sideways on a phone, nothing in it to focus: its box takes the focus, named by the section's heading.
    assert '<div class="table-wrap" tabindex="0" role="group" aria-labelledby="webhooks-title">' in page
    assert '<h2 id="webhooks-title">' in page
    old = webhook_secret_for(user=user)
    assert client.post("/accounts/webhook-secret/").status_code == 302
    assert webhook_secret_for(user=user) != old


def test_the_dashboard_writes_nothing(client: Any, user: Any) -> None:
    client.force_login(user)
    page = client.get("/accounts/").content.decode()
    assert "No secret yet" in page and not WebhookSecret.objects.filter(user=user).exists()
    assert client.post("/accounts/webhook-secret/").status_code == 302
    assert webhook_secret_for(user=user) in client.get("/accounts/").content.decode()


def test_an_improvement_that_finishes_is_posted_again(api: Any, receiver: Any, loopback_allowed: None) -> None:
    url, received, _ = receiver
    files = [jpeg("chelsea.jpg", "chelsea.png"), jpeg("rocket.jpg", "rocket.jpg")]  # sure, and flagged
    batch = api.post("/api/v1/batches", {"files": files, "callback_url": url}).json()
    run_ready_jobs()
    first = json.loads(received[0]["body"])
    assert first["batch"]["improvements"] == 0
    assert {item["filename"]: item["needs_review"] for item in first["items"]} == {
        "chelsea.jpg": False,
        "rocket.jpg": True,
    }

    assert api.post(f"/api/v1/batches/{batch['id']}/improve").status_code == 202
    run_ready_jobs()

    assert len(received) == 2
    second = json.loads(received[1]["body"])
    assert second["batch"]["improvements"] == 1 and second["batch"]["counts"]["done"] == 2
    qualities = {item["filename"]: item["quality"] for item in second["items"]}
    assert qualities == {"chelsea.jpg": "fast", "rocket.jpg": "best"}
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2
    assert run_ready_jobs() == 0 and len(received) == 2  # once per finish, not again


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("path", "status", "error"),
    [("/endless", 200, ""), ("/redirect", 302, "answered HTTP 302"), ("/head", None, "did not answer within 1 s")],
)
def test_a_receiver_that_never_finishes_its_reply_holds_no_worker(
    api: Any, stalling_host: str, loopback_allowed: None, monkeypatch: Any, path: str, status: Any, error: str
) -> None:
    """A reply whose body never ended was read whole (230 MB a second in the worker, until it ran out of memory), and
    one sent a byte now and then held the worker thread for good: its status is all a delivery reads, within its time
    limit (fifth probe)."""
    limits = webhooks._webhook_limits()
    monkeypatch.setattr(webhooks, "_webhook_limits", lambda: dataclasses.replace(limits, timeout_seconds=1))
    create(api, f"http://{stalling_host}{path}", count=1)
    started = time.monotonic()
    run_ready_jobs()
    assert time.monotonic() - started < 20
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, status, error)


def test_deliveries_wait_while_images_are_ready(api: Any, receiver: Any, loopback_allowed: None) -> None:
    """Deliveries share the workers with cutouts and a receiver may stall each attempt for 10 s: at the same priority
    as uploads, eight stalling receivers held another user's one photo 79 s. They go after every ready image."""
    url, received, _ = receiver
    create(api, url, count=1)
    assert run_job_named("removal.tasks.process_item")  # the batch finished: its delivery is queued
    photo = SimpleUploadedFile("next.jpg", photo_bytes("chelsea.png", size=(96, 64)))
    assert api.post("/api/v1/batches", {"files": [photo]}).status_code == 201  # someone's next, after the delivery
    job = claim_next_job("test")
    assert job is not None and job.task_path == "removal.tasks.process_item"
    run_job(job, "test")
    run_ready_jobs()
    assert len(received) == 1


def run_job_named(task_path: str) -> bool:
    job = claim_next_job("test")
    assert job is not None and job.task_path == task_path, job and job.task_path
    run_job(job, "test")
    return True


def test_a_failed_delivery_is_logged_by_the_receivers_origin_alone(
    api: Any, receiver: Any, loopback_allowed: None, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An INFO line per failed attempt, a WARNING when it gives up; the URL's path and query may hold a token."""
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    url, _, answers = receiver
    answers.extend([500, 502])
    origin = url.removesuffix("/hook")
    batch = create(api, url.replace("://", "://hook-user:pa55word@") + "?token=s3cr3t-token", count=1)
    with caplog.at_level(logging.INFO, logger="removal.services.webhooks"):
        run_ready_jobs()
        make_due(WebhookDelivery.objects.get())
        run_ready_jobs()
    delivery = WebhookDelivery.objects.get()
    lines = [(record.levelname, record.getMessage()) for record in caplog.records if record.name.endswith("webhooks")]
    tried = f"webhook delivery {delivery.pk} of batch {batch['id']} to {origin}"
    assert lines == [
        (
            "INFO",
            f"{tried} failed at attempt 1; trying again in {settings.WEBHOOK_RETRY_SECONDS:g} s: answered HTTP 500",
        ),
        ("WARNING", f"{tried} failed at attempt 2, the last; gave up: answered HTTP 502"),
    ]
    for secret in ("s3cr3t-token", "pa55word", "hook-user"):
        assert secret not in caplog.text


def test_a_deactivated_accounts_deliveries_are_held_and_sent_once_it_is_active_again(
    api: Any, user: Any, receiver: Any, loopback_allowed: None, settings: Any
) -> None:
    """A batch finished just before the account was made inactive in the admin: its delivery's job ran meanwhile and
    did nothing, leaving it pending with no job, never to be sent. Held, it goes once the account is active again,
    as the account's waiting images go on then, and their batch's webhook with them."""
    url, received, _ = receiver
    finished = create(api, url, count=1)
    run_job(claim_next_job("w"), "w")  # its image: done, its delivery queued
    upload = SimpleUploadedFile("q.jpg", photo_bytes("coffee.png", size=(80, 64)))  # not the first's: no reuse
    waiting = api.post("/api/v1/batches", {"files": [upload], "callback_url": url}).json()
    user.is_active = False
    user.save()

    run_ready_jobs()  # the delivery, and the other batch's image, which waits

    held = WebhookDelivery.objects.get()
    assert (str(held.batch_id), held.status, held.attempts, received) == (finished["id"], "held", 0, [])
    assert webhooks.webhooks_resume_held() == 0  # not while the account is inactive
    user.is_active = True
    user.save()
    assert webhooks.webhooks_resume_held() == 1 and webhooks.webhooks_resume_held() == 0
    Item.objects.update(queued_at=timezone.now() - timedelta(seconds=settings.ITEM_LEASE_SECONDS + 1))
    assert services.items_requeue_stale() == 1  # the image that waited, as the reaper finds it a lease later
    run_ready_jobs()

    sent = sorted(json.loads(request["body"])["batch"]["id"] for request in received)
    assert sent == sorted([finished["id"], waiting["id"]])
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


@pytest.mark.django_db(transaction=True)  # the receiver deletes the batch from its own thread, on its own connection
def test_a_batch_deleted_while_its_webhook_is_being_posted_ends_the_delivery_without_an_error(
    api: Any, receiver: Any, loopback_allowed: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The attempt's outcome was saved with delivery.save(), which inserted the deleted row again: the database
    refused it (FOREIGN KEY constraint failed), and the job failed with a traceback at ERROR (seen when a program
    deleted each batch as soon as it had made it)."""
    url, received, answers = receiver
    batch = create(api, url, count=1)

    def delete_the_batch() -> int:
        services.batch_delete(batch=Batch.objects.get(pk=batch["id"]))
        return 200

    answers.append(delete_the_batch)
    with caplog.at_level(logging.INFO):
        run_ready_jobs()
    assert len(received) == 1  # it was posted, then its batch was gone
    assert not WebhookDelivery.objects.exists() and not Batch.objects.filter(pk=batch["id"]).exists()
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert f"of batch {batch['id']} to " in caplog.text and "its batch was deleted during attempt 1" in caplog.text
    assert not DBTaskResult.objects.filter(status="FAILED").exists()
