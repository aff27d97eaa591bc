"""What a hostile user found at the front doors (issue 22), through Django's test client.

Browser sessions are counted and cannot spend credits from another site; every front
door refuses the same files at once; error texts say what happened; the waiting room
of the synchronous endpoints answers 503 at once when it is full.
"""

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.utils import timezone
from PIL import Image

from accounts.auth import CsrfFailed, user_for_api_request
from removal.models import Batch, DailyUsage, Item
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def jpeg(name: str = "a.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")


def signed_in(user: Any, *, enforce_csrf: bool = False) -> tuple[Client, str]:
    """A browser's client, signed in as `user`, and its CSRF token (also set as its cookie)."""
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    token = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = token
    return client, token


# --- item 1: sessions ------------------------------------------------------------


def test_get_bgremove_with_only_a_session_is_refused_and_processes_nothing(user: Any) -> None:
    client, _ = signed_in(user)
    for _ in range(3):
        reply = client.get(
            "/bgremove", {"img": "https://example.com/a.jpg", "blob": "1"}, HTTP_SEC_FETCH_SITE="cross-site"
        )
        assert reply.status_code == 403
        assert reply.json()["error"].startswith("GET /bgremove with a browser session is refused")
        assert "use an API key" in reply.json()["error"]
    assert not Batch.objects.exists()


def test_session_calls_are_rate_limited_like_key_calls(user: Any, settings: Any) -> None:
    settings.RATE_LIMIT_PER_USER = "4/h"
    client, token = signed_in(user, enforce_csrf=True)
    replies = [client.get("/api/v1/batches") for _ in range(3)]
    replies.append(client.post("/api/v1/batches", {"files": [jpeg()]}, HTTP_X_CSRFTOKEN=token))
    assert [reply.status_code for reply in replies] == [200, 200, 200, 201]
    assert [reply["RateLimit-Remaining"] for reply in replies] == ["3", "2", "1", "0"]
    refused = client.get("/api/v1/batches")
    assert refused.status_code == 429
    assert "rate limit of 4/h per API user exceeded" in refused.json()["error"]
    assert 0 < int(refused["Retry-After"]) <= 3600


def test_stored_file_downloads_are_not_counted(api: Any, settings: Any) -> None:
    settings.RATE_LIMIT_PER_KEY = "2/h"
    created = api.post("/api/v1/batches", {"files": [jpeg()]}).json()
    original = created["items"][0]["original"]
    assert all(api.get(original).status_code == 200 for _ in range(5))
    assert api.get("/api/v1/batches").status_code == 200
    assert api.get("/api/v1/batches").status_code == 429


def test_csrf_refusal_says_what_failed(user: Any) -> None:
    client, token = signed_in(user, enforce_csrf=True)
    foreign = client.post(
        "/api/v1/batches", {"files": [jpeg()]}, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.example"
    )
    assert foreign.status_code == 403
    error = foreign.json()["error"]
    assert error.startswith("CSRF check failed: Origin checking failed - https://evil.example does not match")
    assert "X-CSRFToken" not in error
    missing = client.post("/api/v1/batches", {"files": [jpeg()]})
    assert missing.status_code == 403
    assert missing.json()["error"] == (
        "CSRF check failed: CSRF token missing. (send the X-CSRFToken header with the csrftoken cookie's value)"
    )
    assert not Batch.objects.exists()


def test_a_session_may_post_to_bgremove_with_the_token(user: Any, settings: Any) -> None:
    settings.MAX_WAITING_CUTOUTS = 0  # refused after authentication: no image is processed
    client, token = signed_in(user, enforce_csrf=True)
    request = RequestFactory().post("/bgremove", HTTP_X_CSRFTOKEN=token)
    request.user, request.COOKIES["csrftoken"] = user, token
    assert user_for_api_request(request, spends_credits=True) == user
    request.method = "GET"
    with pytest.raises(CsrfFailed):
        user_for_api_request(request, spends_credits=True)
    assert client.post("/bgremove", {"img": "https://example.com/a.jpg"}, HTTP_X_CSRFTOKEN=token).status_code == 503


# --- item 4: one rule for animations at every front door --------------------------


def many_frames_gif(frames: int) -> bytes:
    images = [Image.new("L", (8, 8), index * 37 % 256) for index in range(frames)]  # each unlike the one before
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=20)
    return buffer.getvalue()


def test_batch_refuses_an_animation_with_too_many_frames_at_once(api: Any, settings: Any) -> None:
    gif = SimpleUploadedFile("long.gif", many_frames_gif(settings.MAX_ANIMATION_FRAMES + 1))
    reply = api.post("/api/v1/batches", {"files": [gif, jpeg()]})
    assert reply.status_code == 201
    body = reply.json()
    assert [item["filename"] for item in body["items"]] == ["a.jpg"]
    limit = settings.MAX_ANIMATION_FRAMES
    assert body["rejected"] == [
        {"filename": "long.gif", "error": f"the animation has {limit + 1} frames; the limit is {limit}"}
    ]
    # As a still (jpg takes the first frame) the same file is fine.
    still = api.post(
        "/api/v1/batches", {"files": [SimpleUploadedFile("long.gif", gif.file.getvalue())], "format": "jpg"}
    )
    assert still.status_code == 201 and still.json()["rejected"] == []


# --- item 5: error texts -----------------------------------------------------------


@pytest.mark.parametrize(
    # a /store link with no scheme was a stored image's whatever came before its path (7th hostile probe)
    "img",
    ["x", "foo.jpg", "example.com/a.jpg", "other-host/api/v1/store/0d6f3c5e-8a0b-4c1e-9a51-3f0e7f6b2d14"],
)
def test_img_that_is_no_url_nor_stored_id_says_so(api: Any, img: str) -> None:
    reply = api.get("/bgremove", {"img": img})
    assert reply.status_code == 400
    assert reply.json()["error"] == (
        f"img: {img!r} is neither an image URL nor an id or link returned by /store "
        "(a URL starts with https:// or http://)"
    )


def test_malformed_multipart_is_a_400_that_says_so(api: Any) -> None:
    reply = api.generic("POST", "/api/v1/batches", b"zzz", content_type="multipart/form-data")
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("the multipart/form-data body could not be read (Invalid boundary")


# --- item 8: remove.bg's account ------------------------------------------------------


def test_account_counts_each_credit_once_as_removebg_cli_adds_free_calls_to_credits(
    client: Client, user: Any, api_key: str, settings: Any
) -> None:
    """PyPI's removebg-cli (1.0.0) asks as here and shows `free_calls + credits.total` as what is left: remove.bg's
    free calls are a pool beside the credits. It showed 4.75 here (free_calls held the same credits again)."""
    settings.DAILY_IMAGE_QUOTA = 3
    DailyUsage.objects.create(owner=user, day=timezone.now().date(), images=1, previews=1)  # a preview today
    reply = client.get("/v1.0/account", headers={"X-Api-Key": api_key})
    attributes = reply.json()["data"]["attributes"]
    assert attributes["credits"]["total"] == 2.75
    assert attributes["api"]["free_calls"] + attributes["credits"]["total"] == 2.75
    assert isinstance(attributes["api"]["free_calls"], int)  # remove.bg types it as an integer


# --- back-pressure -------------------------------------------------------------------


def test_full_waiting_room_answers_503_at_once_and_batches_still_queue(
    client: Client, api_key: str, settings: Any
) -> None:
    from removal.ops import metrics

    settings.MAX_WAITING_CUTOUTS = 0
    headers = {"X-Api-Key": api_key}
    refused_before = metrics.SYNC_CALLS_REFUSED.labels("/bgremove")._value.get()
    pixlab = client.post("/bgremove", {"file": jpeg()}, headers=headers)
    assert pixlab.status_code == 503 and pixlab["Retry-After"] == "2"
    assert pixlab.json() == {
        "status": 503,
        "error": "the service is busy: 0 calls are waiting for their cutout; retry in 2 s, "
        "or send many images through the batch API, which queues them",
    }
    assert pixlab["RateLimit-Remaining"]  # the caller still learns where it stands
    removebg = client.post("/v1.0/removebg", {"image_file": jpeg()}, headers=headers)
    assert removebg.status_code == 503 and removebg["Retry-After"] == "2"
    assert removebg.json()["errors"][0]["code"] == "service_unavailable"
    assert removebg["X-RateLimit-Remaining"]
    assert not Item.objects.exists(), "nothing was queued for a refused call"
    assert metrics.SYNC_CALLS_REFUSED.labels("/bgremove")._value.get() == refused_before + 1
    queued = client.post("/api/v1/batches", {"files": [jpeg(), jpeg()]}, headers=headers)
    assert queued.status_code == 201, queued.content
