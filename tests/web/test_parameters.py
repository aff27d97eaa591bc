"""removal.web.parameters: the JSON types each parameter takes, the same rule at every front door, refused in the
door's own error shape naming the parameter."""

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from removal.models import Batch, Item
from removal.web.parameters import NUMBERS, PARAMETERS, TEXTS, YES_NO, check_json_values
from tests.conftest import photo_bytes

# The wrong values each kind of parameter is sent: where a string is expected, every other JSON type.
WRONG: dict[str, list[Any]] = {
    "text": [[], ["https://example.com/a.png"], {}, {"url": "https://example.com/a.png"}, 7, 0, True, False],
    "yes/no": [[], ["true"], {}, {"value": True}],
    "number": [[], [5], {}, True, False],
}


def kind_of(name: str) -> str:
    return "yes/no" if name in YES_NO else "number" if name in NUMBERS else "text"


CASES = [(name, value) for name in sorted(PARAMETERS) for value in WRONG[kind_of(name)]]


def error_of(path: str, reply: Any) -> tuple[str, str]:
    """(message, remove.bg's code or '') of a 400 in the shape of the API at `path`."""
    assert reply.status_code == 400, reply.content
    assert reply["Content-Type"] == "application/json"
    body = reply.json()
    if path.startswith("/v1.0/"):
        return body["errors"][0]["title"], body["errors"][0]["code"]
    assert body["status"] == 400
    return body["error"], ""


@pytest.fixture
def door(request: pytest.FixtureRequest, api: Client, user: Any) -> str:
    """A path whose JSON body is read: PixLab's, remove.bg's, and the batch API's rerun (of a batch of one photo)."""
    if request.param != "rerun":
        return str(request.param)
    upload = SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")
    batch = api.post("/api/v1/batches", {"files": [upload]}).json()
    return f"/api/v1/batches/{batch['id']}/rerun"


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/bgremove", "/v1.0/removebg", "rerun"], indirect=True)
def test_a_value_of_a_type_its_parameter_does_not_take_is_a_400_naming_it(
    api: Client, door: str, settings: Any
) -> None:
    # `"bg_image_url": []` was read as no background, `["https://…"]` as the text "['https://…']", `"blob": [true]`
    # as no, `"key": []` as no key; a number or true as its Python text ("True").
    settings.RATELIMIT_ENABLE = False  # a few hundred calls
    batches, items = Batch.objects.count(), Item.objects.count()
    for name, value in CASES:
        reply = api.post(door, json.dumps({name: value}), content_type="application/json")
        message, code = error_of(door, reply)
        wanted = {"text": "a string", "yes/no": "true or false", "number": "a number or a string"}[kind_of(name)]
        assert message.startswith(f"{name}: must be {wanted}"), (name, value, message)
        assert code == ("invalid_" + name if door.startswith("/v1.0/") else "")
    assert (Batch.objects.count(), Item.objects.count()) == (batches, items)


def test_the_types_each_kind_of_parameter_takes() -> None:
    taken = {
        "bg_image_url": "https://example.com/a.png",
        "bg_color": None,  # null: not given, as the API writes an option not set ("bg_color": null)
        "img": None,
        "crop": True,
        "blob": 1,
        "semitransparency": "true",
        "shadow_opacity": 40,
        "crop_margin": 12.5,  # a number; its parser says it must be whole
        "type_level": 2,
        "anything_else": [{"is": "left alone"}],
    }
    check_json_values(taken)
    assert {"img", "key", "image_url", "image_file_b64", "callback_url", "name", "format", "roi"} <= TEXTS


@pytest.mark.django_db
def test_json_true_numbers_and_null_are_taken_where_the_parameter_takes_them(api: Client) -> None:
    upload = SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")
    batch = api.post("/api/v1/batches", {"files": [upload]}).json()
    body = {"crop": True, "add_shadow": True, "shadow_opacity": 30, "bg_color": None, "format": "webp", "roi": None}
    reply = api.post(f"/api/v1/batches/{batch['id']}/rerun", json.dumps(body), content_type="application/json")
    assert reply.status_code == 201, reply.content
    options = reply.json()["options"]
    assert (options["crop"], options["shadow_opacity"], options["bg_color"], options["format"]) == (
        True,
        30,
        None,
        "webp",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/bgremove", "/v1.0/removebg", "rerun"], indirect=True)
@pytest.mark.parametrize("how", ["json", "form", "multipart", "query"])
def test_a_parameter_given_twice_is_a_400(api: Client, door: str, how: str) -> None:
    # The last was kept without a word: {"format": "png", "format": "jpg"}, or format=png&format=jpg, made a JPEG.
    if how == "json":
        reply = api.post(door, '{"format": "png", "crop": false, "format": "jpg"}', content_type="application/json")
    elif how == "form":
        reply = api.post(door, "format=png&crop=false&format=jpg", content_type="application/x-www-form-urlencoded")
    elif how == "multipart":
        reply = api.post(door, {"format": ["png", "jpg"], "crop": "false"})
    else:
        reply = api.post(f"{door}?format=png&format=jpg", {"crop": "false"})
    assert error_of(door, reply)[0] == "the parameter 'format' is given 2 times; give it once"


@pytest.mark.django_db
@pytest.mark.parametrize("blob", ["maybe", "ture", "2"])
def test_a_blob_word_that_is_neither_yes_nor_no_is_a_400_and_queues_nothing(api: Client, blob: str) -> None:
    # It was read as no: a client that had mistyped true got JSON, and wrote it to its image file.
    upload = SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")
    reply = api.post("/bgremove", {"file": upload, "blob": blob})
    assert error_of("/bgremove", reply)[0] == f"blob: must be true or false, not {blob!r}"
    assert not Item.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "name"), [("/bgremove", "bg_color"), ("/bgremove", "format"), ("/v1.0/removebg", "type")]
)
def test_a_huge_value_is_quoted_only_in_part(api: Client, path: str, name: str) -> None:
    # A 2 MB value came back whole in the 400 that quoted it.
    reply = api.post(path, json.dumps({name: "x" * 2_000_000}), content_type="application/json")
    message, _ = error_of(path, reply)
    assert message.startswith(f"{name}: ") and message.endswith("…") and len(message) < 400
