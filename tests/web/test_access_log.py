"""API keys never reach the logs, whichever way they are sent."""

import logging
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import LiveServer, photo_bytes

pytestmark = pytest.mark.live


def test_keys_are_redacted_from_the_access_log(embedded_server: LiveServer) -> None:
    key = embedded_server.create_user("logged")
    secret = key.split("_", 2)[2]
    requests.get(f"{embedded_server.url}/api/v1/batches", params={"key": key, "page": "1"}, timeout=10)
    requests.get(f"{embedded_server.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=10)
    requests.post(
        f"{embedded_server.url}/bgremove",
        params={"key": key},
        files={"file": ("a.jpg", photo_bytes("chelsea.png", size=(64, 48)))},
        timeout=60,
    )
    requests.get(f"{embedded_server.url}/api/v1/batches", params={"key": key + "wrong"}, timeout=10)
    log = embedded_server.log()
    assert '"GET /api/v1/batches?key=[redacted]&page=1" 200' in log
    assert '"POST /bgremove?key=[redacted]" 200' in log
    assert '"GET /api/v1/batches?key=[redacted]" 401' in log
    assert secret not in log


def test_an_upload_refused_before_it_is_read_is_logged_too(embedded_server: LiveServer) -> None:
    """The ASGI door answers a body over the limits before Django (and its access log) sees the request."""
    key = embedded_server.create_user("refused-unread")
    too_large = b"\xff" * 26_000_000  # one part over MAX_UPLOAD_BYTES: refused as it streams in
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        params={"key": key},
        files={"image_file": ("big.jpg", too_large)},
        timeout=60,
    )
    assert reply.status_code == 400, reply.text
    log = embedded_server.log()
    assert '"POST /v1.0/removebg?key=[redacted]" 400 refused unread' in log
    assert key.split("_", 2)[2] not in log


def test_a_url_parameter_is_logged_without_its_signature_or_password(embedded_server: LiveServer) -> None:
    """/bgremove's `img` may be a presigned link: its query string is a key to the user's file."""
    key = embedded_server.create_user("presigned")
    img = "https://user:hunter2@127.0.0.1:9/photo.jpg?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=5ecret5ig"
    reply = requests.get(f"{embedded_server.url}/bgremove", params={"key": key, "img": img}, timeout=30)
    assert reply.status_code == 400, reply.text
    log = embedded_server.log()
    assert "img=https://127.0.0.1:9/photo.jpg?[redacted]" in unquote(log)
    for secret in ("5ecret5ig", "AKIDEXAMPLE", "hunter2"):
        assert secret not in log


@pytest.mark.django_db
def test_a_refusal_in_the_servers_words_says_why_and_a_4xx_does_not(
    api: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Which limit a 429 was, or what was busy for a 503, for an operator asked; a 400 may quote a file's name."""
    settings.MAX_WAITING_CUTOUTS = 0
    with caplog.at_level(logging.INFO, logger="bgsite.access"):
        busy = api.post("/v1.0/removebg", {"image_url": "https://example.com/a.jpg"})
        refused = api.post("/api/v1/batches", {"files": SimpleUploadedFile("ann@example.com.jpg", b"not an image")})
    assert (busy.status_code, refused.status_code) == (503, 400)
    busy_line, refused_line = (record.getMessage() for record in caplog.records if record.name == "bgsite.access")
    assert busy_line.endswith(f"ms: {busy.json()['errors'][0]['title']}")
    assert refused_line.endswith('"POST /api/v1/batches" 400 ' + refused_line.rsplit(" ", 1)[1])
    assert "ann@example.com" not in caplog.text


@pytest.mark.django_db
def test_a_probes_success_is_a_debug_line_and_its_failure_info(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The container's health check polls /healthz every 30 s (compose: every 5 s): 2,880 lines a day of nothing."""
    with caplog.at_level(logging.DEBUG, logger="bgsite.access"):
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 404  # off: no token, no network allowed
    lines = [record for record in caplog.records if record.name == "bgsite.access"]
    levels = [(record.levelname, record.getMessage().split('"')[1]) for record in lines]
    assert levels == [("DEBUG", "GET /healthz"), ("INFO", "GET /metrics")]


@pytest.mark.django_db
def test_links_that_open_an_account_are_logged_without_their_token(
    client: Any, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A password reset's link, an e-mail change's and an invitation log in, change the address or make an account
    for whoever has them: an access line wrote them whole, for anyone who reads the logs."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts import email_changes

    reset = default_token_generator.make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    change = email_changes.email_change_token(user=user, new_email="new@example.com")
    with caplog.at_level(logging.INFO, logger="bgsite.access"):
        assert client.get(f"/accounts/password/reset/{uid}/{reset}/").status_code == 302
        assert client.get(f"/accounts/email/confirm/{change}/").status_code == 200
        client.get("/accounts/signup/", {"invitation": "an-invitation-token"})
    lines = [record.getMessage() for record in caplog.records if record.name == "bgsite.access"]
    assert f'"GET /accounts/password/reset/{uid}/[redacted]/" 302' in lines[0]
    assert '"GET /accounts/email/confirm/[redacted]/" 200' in lines[1]
    assert '"GET /accounts/signup/?invitation=[redacted]"' in lines[2]
    for secret in (reset, change, "an-invitation-token"):
        assert secret not in caplog.text
