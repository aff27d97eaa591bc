"""The pages, e-mails and account pages in English, German, Spanish and French; the API stays English."""

import re
import uuid
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from removal.models import Batch, WebhookDelivery
from tests.conftest import make_item, photo_bytes

pytestmark = pytest.mark.django_db

# Each language's heading of the first screen, the upload page and the log-in page.
HEADINGS = {
    "en": ("Remove the background from your photos", "Remove backgrounds", "Log in"),
    "de": ("Entfernen Sie den Hintergrund Ihrer Fotos", "Hintergründe entfernen", "Anmelden"),
    "es": ("Quita el fondo de tus fotos", "Quitar fondos", "Iniciar sesión"),
    "fr": ("Supprimez l\u2019arrière-plan de vos photos", "Supprimer les arrière-plans", "Se connecter"),
}


def heading(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match is not None
    return match.group(1).strip()


@pytest.mark.parametrize("language", HEADINGS)
def test_accept_language_chooses_the_pages_language(client: Any, user: Any, language: str) -> None:
    landing, upload, login = HEADINGS[language]
    headers = {"Accept-Language": f"{language};q=0.9, en;q=0.5"}
    first_screen = client.get("/", headers=headers).content.decode()
    assert heading(first_screen) == landing and f'<html lang="{language}">' in first_screen
    assert heading(client.get("/accounts/login/", headers=headers).content.decode()) == login
    client.force_login(user)
    assert heading(client.get("/", headers=headers).content.decode()) == upload


def test_the_picker_remembers_the_choice_over_accept_language(client: Any) -> None:
    chosen = client.post("/i18n/setlang/", {"language": "fr", "next": "/accounts/login/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/accounts/login/"
    assert chosen.cookies["django_language"].value == "fr"
    assert chosen.cookies["django_language"]["max-age"] == 365 * 24 * 3600
    page = client.get("/accounts/login/", headers={"Accept-Language": "de"}).content.decode()
    assert heading(page) == "Se connecter"
    assert '<option value="fr" lang="fr" selected>Français</option>' in page


def test_the_javascript_catalog_follows_the_language(client: Any) -> None:
    catalog = client.get("/jsi18n/", headers={"Accept-Language": "es"}).content.decode()
    spanish = (
        r'"%\(done\)s of %\(total\)s done": \[\s*'
        r'"%\(done\)s de %\(total\)s terminada",\s*"%\(done\)s de %\(total\)s terminadas",'
    )
    assert re.search(spanish, catalog)
    assert "const v = n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2;" in catalog  # Spanish's three forms


def test_api_errors_stay_english(client: Any) -> None:
    reply = client.get("/api/v1/batches", headers={"Accept-Language": "de"})
    assert reply.status_code == 401
    assert reply.json()["error"].startswith("authentication required")


def test_numbers_and_dates_are_written_the_languages_way(client: Any, user: Any) -> None:
    make_item(Batch.objects.create(owner=user), processing_ms=1500)
    client.force_login(user)
    today = timezone.now().date()
    german = client.get("/accounts/", headers={"Accept-Language": "de"}).content.decode()
    english = client.get("/accounts/", headers={"Accept-Language": "en"}).content.decode()
    assert "<td>1,5 s</td>" in german and f"<td>{today:%d.%m.%Y}</td>" in german
    assert "<td>1.5 s</td>" in english and f"<td>{today:%m/%d/%Y}</td>" in english


def test_the_reset_mail_is_written_in_the_visitors_language(client: Any, user: Any) -> None:
    reply = client.post("/accounts/password/reset/", {"email": "alice@example.com"}, headers={"Accept-Language": "de"})
    assert reply.status_code == 302
    (message,) = mail.outbox
    assert message.subject == "Setzen Sie Ihr bgsite-Passwort auf testserver zurück"
    assert message.body.startswith("Hallo alice,") and "http://testserver/accounts/password/reset/" in message.body


def test_the_picker_names_each_language_in_that_language(client: Any) -> None:
    page = client.get("/accounts/login/", headers={"Accept-Language": "de"}).content.decode()
    names = re.findall(r'<option value="(\w+)" lang="\w+"(?: selected)?>([^<]+)</option>', page)
    assert names == [("en", "English"), ("de", "Deutsch"), ("es", "Español"), ("fr", "Français")]


def test_the_flagging_threshold_is_a_percent_written_the_languages_way(client: Any, user: Any) -> None:
    client.force_login(user)
    german = client.get("/", headers={"Accept-Language": "de"}).content.decode()
    english = client.get("/", headers={"Accept-Language": "en"}).content.decode()
    assert "zu weniger als 60\u00a0% sicher" in german and "less than 60% sure" in english


def test_a_refused_upload_is_explained_in_the_pages_language_and_in_english_to_a_program(
    client: Any, user: Any, api_key: str
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils.crypto import get_random_string

    def refusal(**headers: str) -> str:
        notes = SimpleUploadedFile("notes.jpg", b"not a photo at all")
        reply = client.post("/api/v1/batches", {"files": [notes]}, headers={"Accept-Language": "de", **headers})
        assert reply.status_code == 400
        return reply.json()["rejected"][0]["error"]

    assert refusal(**{"X-Api-Key": api_key}).startswith("not an image we can read; send JPEG, PNG")
    client.force_login(user)  # the page: a browser session, with its CSRF token
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    assert (
        refusal(**{"X-CSRFToken": token})
        == "kein Bild, das wir lesen können; senden Sie JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP oder TIFF"
    )


def test_an_animation_over_the_limit_is_refused_in_the_pages_language(client: Any, user: Any, settings: Any) -> None:
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils.crypto import get_random_string
    from PIL import Image

    settings.MAX_IMAGE_PIXELS = 10_000  # each 80x80 frame fits; the three together do not
    frames = [Image.new("RGB", (80, 80), (shade, 40, 90)) for shade in (0, 120, 240)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    client.force_login(user)
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    reply = client.post(
        "/api/v1/batches",
        {"files": [SimpleUploadedFile("spin.gif", gif.getvalue())], "format": "webp"},
        headers={"Accept-Language": "de", "X-CSRFToken": token},
    )
    assert reply.status_code == 400
    assert reply.json()["rejected"][0]["error"].startswith("die Animation hat 3 Bilder zu 80\u00d780")


def test_a_page_over_its_quota_is_told_so_in_its_language(client: Any, user: Any, settings: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils.crypto import get_random_string

    from tests.conftest import photo_bytes

    settings.DAILY_IMAGE_QUOTA = 1
    client.force_login(user)
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    photos = [SimpleUploadedFile(f"{name}.jpg", photo_bytes("coffee.png", size=(64, 48))) for name in "ab"]
    reply = client.post("/api/v1/batches", {"files": photos}, headers={"Accept-Language": "fr", "X-CSRFToken": token})
    assert reply.status_code == 429
    assert reply.json()["error"].startswith("quota quotidien de 1 crédits atteint (1 restants aujourd\u2019hui")


def test_an_unfinished_item_is_refused_an_edit_or_a_review_in_the_pages_language(client: Any, user: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils.crypto import get_random_string

    from tests.conftest import photo_bytes

    batch = Batch.objects.create(owner=user, kind=Batch.Kind.UPLOAD)
    item = make_item(batch, status="queued")
    client.force_login(user)
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    french = {"Accept-Language": "fr", "X-CSRFToken": token}
    mask = SimpleUploadedFile("mask.png", photo_bytes("coffee.png", size=(1, 1)), content_type="image/png")
    edit = client.post(f"/api/v1/items/{item.id}/mask", {"mask": mask}, headers=french)
    review = client.post(f"/api/v1/items/{item.id}/review", {}, headers=french)
    assert (edit.status_code, review.status_code) == (409, 409)
    assert edit.json()["error"].startswith(
        "cet élément est à l\u2019état «\u00a0en file\u00a0»\u00a0; seul un détourage"
    )
    assert review.json()["error"].endswith("peut être marqué comme vérifié")


def test_the_upload_limit_is_written_with_the_languages_decimal_mark(client: Any, user: Any, settings: Any) -> None:
    """The upload page's line of limits said "bis 0.18 MB" in German: the megabytes were Python's, not the page's."""
    settings.MAX_UPLOAD_BYTES = 180_000
    client.force_login(user)
    german = client.get("/", headers={"Accept-Language": "de"}).content.decode()
    english = client.get("/", headers={"Accept-Language": "en"}).content.decode()
    assert "bis 0,18 MB" in german and "up to 0.18 MB" in english
    settings.MAX_UPLOAD_BYTES = 2_000_000_000
    assert "bis 2.000 MB" in client.get("/", headers={"Accept-Language": "de"}).content.decode()


@pytest.mark.parametrize(("path", "english"), [("batches", "no such batch"), ("items", "no such item")])
def test_a_batch_or_item_gone_is_said_in_english_to_a_program(
    client: Any, api_key: str, path: str, english: str
) -> None:
    reply = client.get(f"/api/v1/{path}/{uuid.uuid4()}", headers={"Accept-Language": "de", "X-Api-Key": api_key})
    assert reply.status_code == 404 and reply.json()["error"] == english


# Said on a page that renames a batch, or marks fine or edits a cutout, deleted in another tab: "Der Stapel konnte
# nicht umbenannt werden: no such batch". Awaiting the lead's German (the helper may not edit locale/).
@pytest.mark.parametrize(
    ("path", "german"),
    [("batches", "diesen Stapel gibt es nicht (mehr)"), ("items", "dieses Bild gibt es nicht (mehr)")],
)
def test_a_batch_or_item_gone_is_said_in_the_pages_language(client: Any, user: Any, path: str, german: str) -> None:
    client.force_login(user)
    reply = client.get(f"/api/v1/{path}/{uuid.uuid4()}", headers={"Accept-Language": "de"})
    assert reply.status_code == 404 and reply.json()["error"] == german


def failed_delivery(user: Any, template: str, values: dict[str, Any], english: str) -> None:
    batch = Batch.objects.create(owner=user, callback_url="https://example.com/hook")
    WebhookDelivery.objects.create(
        batch=batch,
        items_total=1,
        url=batch.callback_url,
        status="failed",
        attempts=5,
        last_error=english,
        last_error_template=template,
        last_error_values=values,
    )


def test_a_webhook_deliverys_last_answer_is_shown_in_the_pages_language(client: Any, user: Any) -> None:
    """The account page's deliveries said "could not connect (ConnectionError)" on a German page: what went wrong is
    kept as a template and its values too, and shown translated (here with a template the catalogs have already)."""
    failed_delivery(user, "the file is empty", {}, "the file is empty")
    client.force_login(user)
    assert "<td>die Datei ist leer</td>" in client.get("/accounts/", headers={"Accept-Language": "de"}).content.decode()
    assert "<td>the file is empty</td>" in client.get("/accounts/", headers={"Accept-Language": "en"}).content.decode()


def test_a_webhook_that_could_not_connect_is_said_in_german(client: Any, user: Any) -> None:
    failed_delivery(
        user, "could not connect (%(kind)s)", {"kind": "ConnectionError"}, "could not connect (ConnectionError)"
    )
    client.force_login(user)
    page = client.get("/accounts/", headers={"Accept-Language": "de"}).content.decode()
    assert "<td>keine Verbindung möglich (ConnectionError)</td>" in page


# A webhook URL the server will not call, refused in the page's language as every other refusal of the batch API is
# (it said "callback_url: the callback URL points at a non-public address (127.0.0.1); refused" on a German page).
# Awaiting the lead's German (the helper may not edit locale/).
def test_a_refused_webhook_url_is_said_in_the_pages_language_and_in_english_to_a_program(
    client: Any, user: Any, api_key: str
) -> None:
    def refusal(callback_url: str, headers: dict[str, str]) -> str:
        photo = SimpleUploadedFile("a.jpg", photo_bytes(size=(64, 48)), content_type="image/jpeg")
        reply = client.post("/api/v1/batches", {"callback_url": callback_url, "files": photo}, headers=headers)
        assert reply.status_code == 400, reply.content
        return str(reply.json()["error"])

    client.force_login(user)
    german = {"Accept-Language": "de"}
    said = "callback_url: die Callback-URL verweist auf eine nicht öffentliche Adresse (127.0.0.1); abgelehnt"
    assert refusal("http://127.0.0.1/hook", german) == said
    assert (
        refusal("ftp://example.com/hook", german)
        == "callback_url: nur Callback-URLs mit http oder https werden unterstützt, nicht 'ftp'"
    )
    assert refusal("https://example.com/" + "x" * 2000, german) == "callback_url: höchstens 2.000 Zeichen"
    program = {"Accept-Language": "de", "X-Api-Key": api_key}
    english = "callback_url: the callback URL points at a non-public address (127.0.0.1); refused"
    assert refusal("http://127.0.0.1/hook", program) == english
