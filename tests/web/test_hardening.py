"""What outside clients and a hostile probe found (issue 14): no 5xx from input, tighter
edges (origins, addresses, body sizes, HSTS) and remove.bg fidelity."""

import base64
import io
import json
import socket
import time
from typing import Any

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings, strategies
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from removal.models import Batch, Item
from removal.web.body_limit import max_fields_bytes
from removal.web.parameters import JSON_MAX_DEPTH
from tests.conftest import LiveServer, error_text, photo_bytes

JSON_ENDPOINTS = ["/bgremove", "/api/v1/bgremove", "/v1.0/removebg"]
DEEP = "[" * 5000 + "]" * 5000


def jpeg(name: str = "a.jpg") -> Any:
    return SimpleUploadedFile(name, photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")


# --- 1. JSON bodies: depth and size bounded before parsing --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [DEEP, '{"img": ' + "[" * 40 + "]" * 40 + "}"])
def test_deeply_nested_json_is_a_400_in_the_apis_shape(api: Client, path: str, body: str) -> None:
    reply = api.post(path, body, content_type="application/json")
    assert reply.status_code == 400
    assert f"more than {JSON_MAX_DEPTH} deep" in error_text(path, reply)


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_brackets_inside_json_strings_do_not_count(api: Client, path: str) -> None:
    reply = api.post(path, json.dumps({"img": "[" * 100 + '"{'}), content_type="application/json")
    assert reply.status_code == 400 and "deep" not in error_text(path, reply)


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_oversized_json_is_a_413_or_removebgs_file_too_large(api: Client, path: str) -> None:
    """Over the path's bound (max_fields_bytes): 2.5 MB, and at remove.bg's a base64 image besides."""
    reply = api.post(path, json.dumps({"img": "x" * max_fields_bytes(path)}), content_type="application/json")
    assert reply.status_code == (400 if path.startswith("/v1.0/") else 413)
    assert "too large" in error_text(path, reply)


json_values = strategies.recursive(
    strategies.none() | strategies.booleans() | strategies.integers() | strategies.floats() | strategies.text(),
    lambda children: strategies.lists(children, max_size=3) | strategies.dictionaries(strategies.text(), children),
    max_leaves=20,
)
FIELDS = ["img", "image_url", "image_file_b64", "bg_image", "bg_image_url", "format", "size", "bg_color", "blob"]


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=strategies.sampled_from(JSON_ENDPOINTS),
    body=strategies.dictionaries(strategies.sampled_from(FIELDS), json_values, max_size=4) | json_values,
    depth=strategies.integers(0, 3000),
)
def test_any_json_body_gets_no_5xx(api: Client, path: str, body: Any, depth: int) -> None:
    text = json.dumps(body) if depth < 5 else "[" * depth + json.dumps(body) + "]" * depth
    reply = api.post(path, text, content_type="application/json")
    assert reply.status_code < 500, reply.content[:300]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*JSON_ENDPOINTS, "/api/v1/batches"])
@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_too_many_form_fields_is_a_400_saying_so(api: Client, settings: Any, path: str, encoding: str) -> None:
    """Django's bound on form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS) answered "bad request" and nothing more."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"field{number}": "x" for number in range(6)}
    if encoding == "multipart":
        reply = api.post(path, {**fields, "image_file": jpeg()})
    else:
        form = "&".join(f"{name}=x" for name in fields)
        reply = api.post(path, form, content_type="application/x-www-form-urlencoded")
    assert reply.status_code == 400
    assert "more than 5 form fields" in error_text(path, reply)


# --- 2. Unparseable URLs: a 400 naming the field ------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, field",
    [
        ("/bgremove", "img"),
        ("/bgremove", "bg_image"),
        ("/v1.0/removebg", "image_url"),
        ("/v1.0/removebg", "bg_image_url"),
        ("/api/v1/batches", "callback_url"),
        ("/api/v1/batches", "bg_image"),
    ],
)
def test_unparseable_url_is_a_400_naming_the_field(api: Client, path: str, field: str) -> None:
    data: dict[str, Any] = {field: "http://[::"}
    if path == "/api/v1/batches" or field not in ("img", "image_url"):
        data["files" if path == "/api/v1/batches" else "image_file"] = jpeg()
    reply = api.post(path, data)
    assert reply.status_code == 400
    assert error_text(path, reply).startswith(f"{field}: ")
    assert "not a valid URL" in error_text(path, reply)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    target=strategies.sampled_from([("/bgremove", "img"), ("/v1.0/removebg", "image_url"), ("/bgremove", "bg_image")]),
    url=strategies.text(max_size=40).map(lambda tail: "http://" + tail)
    | strategies.from_regex(r"\Ahttps?://\[[0-9a-f:.%]{0,20}\]?(:[0-9]{0,7})?/?\Z"),
)
def test_any_url_field_gets_no_5xx(api: Client, target: tuple[str, str], url: str) -> None:
    path, field = target
    reply = api.post(path, json.dumps({field: url, "img": "http://[::"}), content_type="application/json")
    assert reply.status_code < 500, reply.content[:300]


@pytest.mark.django_db
def test_a_parameter_holding_a_nul_or_a_lone_surrogate_is_a_400_naming_it(api: Client) -> None:
    """PostgreSQL's text columns refuse NUL, and UTF-8 cannot encode a lone surrogate (a JSON body's \\ud800)."""
    nul = api.post("/api/v1/batches", {"files": [jpeg()], "callback_url": "https://example.com/\x00"})
    assert nul.status_code == 400 and "'callback_url'" in error_text("/api/v1/batches", nul)
    made = api.post("/api/v1/batches", {"files": [jpeg()]}).json()
    surrogate = json.dumps({"callback_url": "https://example.com/?a=\ud800"})
    rerun = api.post(f"/api/v1/batches/{made['id']}/rerun", surrogate, content_type="application/json")
    assert rerun.status_code == 400 and "lone surrogate" in error_text("/api/v1/batches", rerun)
    removebg = api.post("/v1.0/removebg", {"image_file": jpeg(), "type\x00": "auto"})
    assert removebg.status_code == 400 and "NUL" in error_text("/v1.0/removebg", removebg)
    assert Batch.objects.count() == 1


# --- 3. Unknown paths and wrong methods: the API's JSON, not HTML --------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path, status",
    [
        ("get", "/api/v1/nothing-here", 404),
        ("get", "/api/nope", 404),
        ("post", "/api/v1/batches/x/y/z", 404),
        ("get", "/v1.0/nothing-here", 400),  # remove.bg answers a missing thing as invalid_parameter
        ("get", "/v1.0", 400),
        ("get", "/api", 404),
        ("get", "/v1.0/removebg", 405),
        ("post", "/v1.0/account", 405),
        ("put", "/bgremove", 405),
        ("delete", "/api/v1/batches", 405),
        ("post", "/api/v1/models", 405),
        ("delete", "/api/schema", 405),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_in_the_apis_shape(
    api: Client, method: str, path: str, status: int
) -> None:
    reply = getattr(api, method)(path)
    assert reply.status_code == status
    assert reply["Content-Type"] == "application/json"
    assert error_text(path, reply)


def test_an_unknown_path_says_where_to_look(api: Client) -> None:
    assert error_text("/api/v1/nothing", api.get("/api/v1/nothing")).endswith("; see /api/docs")
    for path in ("/v1.0/nothing", "/v1.0"):
        assert error_text(path, api.get(path)).endswith(
            "remove.bg's are POST /v1.0/removebg and GET /v1.0/account"  # /api/docs has none of them
        )


def test_unknown_page_paths_keep_djangos_page(client: Client, db: Any) -> None:
    reply = client.get("/no-such-page")
    assert reply.status_code == 404 and reply["Content-Type"].startswith("text/html")


# --- 6. Embedded-IPv4 IPv6 forms are judged by their IPv4 address: tests/domain/test_fetch.py ----
# --- 11, 13. remove.bg credits and inputs (test client) ----------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "fields", "status"),
    [
        ("/bgremove", {"file": "photo", "bg_image": "url"}, 429),
        ("/api/v1/batches", {"files": "photo", "bg_image": "url"}, 429),
        ("/v1.0/removebg", {"image_file": "photo", "bg_image_url": "url"}, 402),
    ],
)
def test_a_caller_out_of_credits_makes_the_server_fetch_no_background(
    api: Client, settings: Any, path: str, fields: dict[str, str], status: int
) -> None:
    """The quota is checked before a bg_image URL is fetched: a host that cannot be found would answer 400."""
    settings.DAILY_IMAGE_QUOTA = 1
    assert api.post("/api/v1/batches", {"files": [jpeg()]}).status_code == 201
    values = {"photo": jpeg(), "url": "http://background.invalid/sky.jpg"}
    reply = api.post(path, {name: values[value] for name, value in fields.items()})
    assert reply.status_code == status, reply.content


@pytest.mark.django_db
def test_out_of_credits_is_402_insufficient_credits(api: Client, settings: Any) -> None:
    settings.DAILY_IMAGE_QUOTA = 1
    assert api.post("/api/v1/batches", {"files": [jpeg()], "size": "preview"}).status_code == 201
    account = api.get("/v1.0/account").json()["data"]["attributes"]
    assert account["credits"]["total"] == 0.75
    # remove.bg types free_calls as an integer; bgsite has none: every call is paid from the credits.
    assert account["api"]["free_calls"] == 0 and isinstance(account["api"]["free_calls"], int)
    reply = api.post("/v1.0/removebg", {"image_file": jpeg(), "size": "full"})
    assert reply.status_code == 402
    assert reply.json()["errors"][0]["code"] == "insufficient_credits"
    assert "0.75 left today, 1 asked" in reply.json()["errors"][0]["title"]


@pytest.mark.django_db
def test_bad_format_error_lists_auto(api: Client) -> None:
    reply = api.post("/v1.0/removebg", {"image_file": jpeg(), "format": "bmp"})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["title"] == "format: must be one of png, webp, jpg, gif, zip, auto, not 'bmp'"


@pytest.mark.django_db
def test_image_file_and_image_url_together_is_a_400(api: Client) -> None:
    reply = api.post("/v1.0/removebg", {"image_file": jpeg(), "image_url": "https://example.com/a.jpg"})
    assert reply.status_code == 400
    assert reply.json()["errors"] == [
        {"title": "send the image one way only, not image_file and image_url together", "code": "multiple_sources"}
    ]


# --- live: websockets, raw sockets, HSTS, remove.bg replies --------------------------------


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("hardening")


@pytest.fixture(scope="module")
def batch_id(embedded_server: LiveServer, key: str) -> str:
    reply = requests.post(
        f"{embedded_server.url}/api/v1/batches",
        files={"files": ("a.jpg", photo_bytes("astronaut.png", size=(64, 48)))},
        headers={"X-Api-Key": key},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


@pytest.mark.live
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",
        "https://127.0.0.1:{port}",
        "http://localhost:1234",
        "chrome-extension://127.0.0.1",
        "http://evil.example@127.0.0.1:{port}",
        "null",
    ],
)
def test_websocket_refuses_other_origins_on_the_same_host(
    embedded_server: LiveServer, key: str, batch_id: str, origin: str
) -> None:
    headers = {"X-Api-Key": key, "Origin": origin.format(port=embedded_server.port)}
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{embedded_server.ws_url}/ws/batches/{batch_id}", additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == 403


@pytest.mark.live
def test_websocket_accepts_the_sites_own_origin(embedded_server: LiveServer, key: str, batch_id: str) -> None:
    headers = {"X-Api-Key": key, "Origin": embedded_server.url}
    with connect(f"{embedded_server.ws_url}/ws/batches/{batch_id}", additional_headers=headers) as socket_:
        assert json.loads(socket_.recv(timeout=10))["event"] == "snapshot"


@pytest.mark.live
def test_websocket_ignores_what_clients_send(embedded_server: LiveServer, key: str, batch_id: str) -> None:
    url = f"{embedded_server.ws_url}/ws/batches/{batch_id}"
    with connect(url, additional_headers={"X-Api-Key": key}) as socket_:
        assert json.loads(socket_.recv(timeout=10))["event"] == "snapshot"
        socket_.send("not json {")
        socket_.send(b"\x00\x01binary")
        socket_.send('{"valid": "json"}')
        socket_.ping().wait(timeout=5)  # still open: the server answers pings after all three
        reply = requests.post(
            f"{embedded_server.url}/api/v1/batches/{batch_id}/files",
            files={"files": ("b.jpg", photo_bytes("chelsea.png", size=(64, 48)))},
            headers={"X-Api-Key": key},
            timeout=30,
        )
        assert reply.status_code == 201
        assert json.loads(socket_.recv(timeout=30))["event"] != "snapshot"  # events still flow


def announce_body(server: LiveServer, path: str, headers: str, send_bytes: int) -> tuple[bytes, float]:
    """Send a request head and `send_bytes` of body over a raw socket; the reply's head and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}\r\n".encode())
        try:
            for _ in range(send_bytes // 65536):
                raw.sendall(b"\x00" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = raw.recv(65536)
            if not chunk:
                break
            reply += chunk
        while len(reply) < 4096 and (chunk := raw.recv(65536)):
            reply += chunk
    return reply, time.monotonic() - started


@pytest.mark.live
@pytest.mark.parametrize(
    "path, announced",
    [("/bgremove", 300_000_000), ("/v1.0/removebg", 300_000_000), ("/api/v1/batches", 3_000_000_000)],
)
def test_an_oversized_upload_is_refused_from_its_content_length(
    embedded_server: LiveServer, key: str, path: str, announced: int
) -> None:
    head = f"X-Api-Key: {key}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {announced}\r\n"
    reply, seconds = announce_body(embedded_server, path, head, 0)
    assert seconds < 5
    status = 400 if path.startswith("/v1.0/") else 413
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
    assert b"the request body is larger than" in reply and b" MB" in reply


@pytest.mark.live
def test_a_chunked_body_is_cut_off_once_past_the_limit(embedded_server: LiveServer, key: str) -> None:
    chunk = b"\x00" * 1_000_000
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", embedded_server.port), timeout=30) as raw:
        raw.sendall(
            f"POST /bgremove HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(300):  # 300 MB if the server kept reading
                raw.sendall(framed)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = raw.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert time.monotonic() - started < 60


@pytest.mark.live
def test_a_full_batch_request_still_passes(embedded_server: LiveServer, key: str) -> None:
    # 100 files (MAX_FILES_PER_REQUEST) of 400 kB: 40 MB, more than any single-image request may carry.
    big = photo_bytes("coffee.png", size=(1200, 900), fmt="PNG")[:400_000]
    files = [("files", (f"{index}.png", big)) for index in range(100)]
    reply = requests.post(f"{embedded_server.url}/api/v1/batches", files=files, headers={"X-Api-Key": key}, timeout=120)
    assert reply.status_code in (201, 400), reply.text[:300]  # truncated PNGs may be refused, but not as too large
    assert "request body is larger" not in reply.text


@pytest.mark.live
def test_hsts_is_off_by_default_and_a_setting(server_factory: Any, embedded_server: LiveServer) -> None:
    https = {"X-Forwarded-Proto": "https"}  # uvicorn trusts it from 127.0.0.1, as from a local proxy
    assert "Strict-Transport-Security" not in requests.get(f"{embedded_server.url}/healthz", headers=https).headers
    server = server_factory(HSTS_SECONDS="31536000", EMBEDDED_WORKERS="0")
    server.start()
    try:
        reply = requests.get(f"{server.url}/healthz", headers=https, timeout=10)
        assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Strict-Transport-Security" not in requests.get(f"{server.url}/healthz", timeout=10).headers
    finally:
        server.stop()


@pytest.mark.live
def test_removebg_rate_limit_headers_on_every_reply(server_factory: Any) -> None:
    server = server_factory(RATE_LIMIT_PER_KEY="3/h")
    server.start()
    try:
        key = server.create_user("ratelimited")
        replies = [
            requests.post(
                f"{server.url}/v1.0/removebg",
                files={"image_file": ("a.jpg", photo_bytes("astronaut.png", size=(64, 48)))},
                data={"size": "preview"},
                headers={"X-Api-Key": key},
                timeout=60,
            ),
            requests.post(f"{server.url}/v1.0/removebg", data={"format": "bmp"}, headers={"X-Api-Key": key}),
            requests.get(f"{server.url}/v1.0/account", headers={"X-Api-Key": key}),
            requests.post(f"{server.url}/v1.0/removebg", headers={"X-Api-Key": key}),
        ]
    finally:
        server.stop()
    assert [reply.status_code for reply in replies] == [200, 400, 200, 429]
    now = time.time()
    for reply, remaining in zip(replies, ["2", "1", "0", "0"], strict=True):
        # As a remove.bg client reads them:
        assert reply.headers["X-RateLimit-Limit"] == "3"
        assert reply.headers["X-RateLimit-Remaining"] == remaining
        assert now - 5 < int(reply.headers["X-RateLimit-Reset"]) <= now + 3601
        assert reply.headers["RateLimit-Remaining"] == remaining
    assert replies[0].headers["X-Credits-Charged"] == "0.25"
    assert replies[3].json()["errors"][0]["code"] == "rate_limit_exceeded"


@pytest.mark.live
@pytest.mark.parametrize(
    "data, expected",
    [({}, "PNG"), ({"bg_color": "00ff00"}, "JPEG"), ({"bg_color": "00ff0080"}, "PNG"), ({"format": "auto"}, "PNG")],
)
def test_removebg_format_auto_is_jpeg_without_transparency(
    embedded_server: LiveServer, key: str, data: dict[str, str], expected: str
) -> None:
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": ("a.jpg", photo_bytes("astronaut.png", size=(96, 72)))},
        data=data,
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == f"image/{expected.lower()}"
    assert reply.headers["X-Credits-Charged"] == "0.25"  # no size named: remove.bg's preview
    with Image.open(__import__("io").BytesIO(reply.content)) as image:
        assert image.format == expected


@pytest.mark.django_db
def test_credits_charged_and_account_agree(api: Client, settings: Any) -> None:
    settings.DAILY_IMAGE_QUOTA = 10
    api.post("/api/v1/batches", {"files": [jpeg(), jpeg()], "size": "preview"})
    api.post("/api/v1/batches", {"files": [jpeg()]})
    assert Item.objects.count() == 3 and Batch.objects.count() == 2
    assert api.get("/v1.0/account").json()["data"]["attributes"]["credits"]["total"] == 8.5


@pytest.mark.live
@pytest.mark.parametrize("filename", [None, ""], ids=["no filename", "empty filename"])
def test_removebg_takes_an_image_file_part_without_a_filename(
    embedded_server: LiveServer, key: str, filename: str | None
) -> None:
    """Some HTTP libraries send the file part without a filename: its bytes are still the image.
    A UTF-8 text field in the same request keeps its characters."""
    photo = photo_bytes("chelsea.png", size=(120, 90))
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": (filename, photo, "image/jpeg")},
        data={"size": "auto", "type": "animal", "bg_color": "white"},
        headers={"X-Api-Key": key, "Accept": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text[:300]
    assert reply.headers["X-Type"] == "animal"
    result = base64.b64decode(reply.json()["data"]["result_b64"])
    with Image.open(io.BytesIO(result)) as cutout:
        assert cutout.size == (120, 90)
        assert cutout.format == "JPEG"  # format=auto with an opaque bg_color
    bad_format = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": (filename, photo, "image/jpeg")},
        data={"format": "pngé"},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert bad_format.status_code == 400
    assert bad_format.json()["errors"][0]["title"].endswith("not 'pngé'")  # UTF-8 text fields read as UTF-8


@pytest.mark.live
def test_removebg_takes_a_bg_image_file_part_without_a_filename(embedded_server: LiveServer, key: str) -> None:
    red = io.BytesIO()
    Image.new("RGB", (120, 90), (255, 0, 0)).save(red, "JPEG")
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={
            "image_file": (None, photo_bytes("chelsea.png", size=(120, 90)), "image/jpeg"),
            "bg_image_file": (None, red.getvalue(), "image/jpeg"),
        },
        data={"format": "png"},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text[:300]
    with Image.open(io.BytesIO(reply.content)) as cutout:
        red_corner = cutout.convert("RGBA").getpixel((0, 0))
    assert red_corner[0] > 240 and red_corner[1] < 15 and red_corner[3] == 255, red_corner
