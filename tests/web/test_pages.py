"""The HTML pages of removal: upload page, batch list, batch detail."""

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from removal.models import Batch, Item
from tests.conftest import REPO, make_item

SITE_CSS = REPO / "static" / "css" / "site.css"


def css_rule(selector: str, css: Path = SITE_CSS) -> dict[str, str]:
    """The declarations of the first rule in `css` whose selector list has `selector` (comments dropped)."""
    text = re.sub(r"/\*.*?\*/", "", css.read_text(), flags=re.S)
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        if selector in (part.strip() for part in selectors.split(",")):
            pairs = (line.split(":", 1) for line in body.split(";") if ":" in line)
            return {name.strip(): value.strip() for name, value in pairs}
    raise AssertionError(f"no rule for {selector} in {css}")


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/batches/", "/batches/3f2a9c1e-0b7d-4e55-9a61-2c8d4f6e1b90/", "/accounts/"])
def test_pages_require_login(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_signed_out_visitor_gets_the_first_screen(client: Any, settings: Any) -> None:
    settings.SIGNUP = "open"
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "bgsite cuts the subject out of your photos" in html
    assert 'src="/static/samples/astronaut.jpg"' in html
    assert 'href="/accounts/signup/" id="landing-signup"' in html
    assert 'href="/accounts/login/"' in html
    assert "-F image_file=@photo.jpg -F size=auto -o cutout.png http://testserver/v1.0/removebg" in html


def test_the_first_screens_cutout_is_made_by_a_worker_and_served_from_storage(client: Any) -> None:
    """The web process cut it out itself, loading the model: a 503 where it has no weights (a web process of the
    scaled layout). Now its first visitor gets the photo, faded, with a note and a script that asks again, and a job
    for a worker; the worker's cutout then comes from storage, at an address that names what made it."""
    import io

    import numpy as np
    from PIL import Image

    from removal.ops.worker import run_ready_jobs

    waiting = client.get("/").content.decode()
    assert 'data-cutout="/sample/cutout.png"' in waiting and "this server is cutting it out" in waiting
    assert 'src="/static/js/sample.js"' in waiting
    not_yet = client.get("/sample/cutout.png")
    assert not_yet.status_code == 503 and not_yet["Retry-After"] == "5" and not_yet["Cache-Control"] == "no-store"
    assert client.get("/sample/cutout.png").status_code == 503
    assert run_ready_jobs() == 1, "the image, asked for twice, queued one job"

    version = re.search(r'src="/sample/cutout.png\?v=(\w+)"', client.get("/").content.decode())
    assert version is not None
    response = client.get(f"/sample/cutout.png?v={version[1]}")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    with Image.open(io.BytesIO(response.content)) as cutout:
        assert cutout.mode == "RGBA" and cutout.size == (480, 480)
        alpha = np.asarray(cutout.getchannel("A"))
    # The studio backdrop above the model shuttle is gone, the astronaut's face is kept.
    assert alpha[:40, 300:420].mean() < 10 and alpha[80:140, 170:240].mean() > 245
    unversioned = client.get("/sample/cutout.png")
    assert unversioned["Cache-Control"] == "no-cache" and unversioned.content == response.content
    assert client.get("/sample/cutout.png", headers={"If-None-Match": response["ETag"]}).status_code == 304


def test_another_default_model_is_another_sample_at_another_address(client: Any, settings: Any) -> None:
    """Browsers keep the sample for a year at its address; the address changes with the model that makes it."""
    from removal.ops.worker import run_ready_jobs

    client.get("/sample/cutout.png")
    run_ready_jobs()
    made = re.search(r'src="(/sample/cutout.png\?v=\w+)"', client.get("/").content.decode())
    settings.REMBG_MODEL = "u2netp"
    assert 'data-cutout="/sample/cutout.png"' in client.get("/").content.decode()
    client.get("/sample/cutout.png")
    run_ready_jobs()
    remade = re.search(r'src="(/sample/cutout.png\?v=\w+)"', client.get("/").content.decode())
    assert made and remade and made[1] != remade[1]
    assert client.get(made[1])["Cache-Control"] == "no-cache"  # a stale address: the current sample, asked again


def started_afresh(monkeypatch: Any) -> None:
    """This process as a worker (or `make run`) started anew: no model session loaded, no weights read."""
    import threading

    from removal.cutout import installed, sessions
    from removal.services import sample

    monkeypatch.setattr(sessions, "_sessions", threading.local())
    monkeypatch.setattr(sessions, "_shared_sessions", {})
    monkeypatch.setattr(sessions, "_solo_sessions", {})
    monkeypatch.setattr(installed, "_sha256_first_read", {})
    monkeypatch.setattr(sample, "_weights_last_said", {})


def sample_linked(client: Any) -> str | None:
    """The address the landing page gives the sample cutout at; None while it shows the photo, waiting for it."""
    linked = re.search(r'src="(/sample/cutout.png\?v=\w+)"', client.get("/").content.decode())
    return linked[1] if linked else None


def test_new_weights_under_the_same_name_are_another_sample_at_another_address(
    client: Any, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The sample's address named the model, not its weights: an operator who installed new ones under the same name
    (`models pull NAME --from FILE`, another `models quantize`) kept the old cutout, and browsers kept it a year. Here
    u2netp's fp32 weights are replaced by its int8 copy's, and the process that runs them starts again."""
    from removal.ops.worker import run_ready_jobs

    model_dir = tmp_path / "u2net"
    model_dir.mkdir()
    shutil.copyfile(REPO / ".cache" / "u2net" / "u2netp.onnx", model_dir / "u2netp.onnx")
    settings.U2NET_HOME, settings.REMBG_MODEL = model_dir, "u2netp"
    started_afresh(monkeypatch)
    client.get("/sample/cutout.png")
    assert run_ready_jobs() == 1
    made = sample_linked(client)
    assert made is not None
    first = client.get(made).content

    partial = model_dir / "u2netp.onnx.part"  # as `models pull --from` installs it: one rename
    shutil.copyfile(REPO / ".cache" / "u2net" / "u2netp-int8.onnx", partial)
    partial.replace(model_dir / "u2netp.onnx")
    assert sample_linked(client) == made, "a process runs the weights it loaded until it starts again, and says so"
    started_afresh(monkeypatch)
    assert sample_linked(client) is None  # the photo, waiting: its script asks for the cutout
    assert client.get("/sample/cutout.png").status_code == 503
    assert run_ready_jobs() == 1, "a job for the new weights, though the old ones' ended a moment ago"

    remade = sample_linked(client)
    assert remade is not None and remade != made
    assert client.get(remade)["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(remade).content != first  # the int8 weights' cutout
    stale = client.get(made)
    assert stale["Cache-Control"] == "no-cache" and stale.content == client.get(remade).content


def test_a_web_process_without_workers_links_the_sample_of_the_weights_the_workers_run(
    client: Any, settings: Any, monkeypatch: Any
) -> None:
    """A web process of the scaled layout has no weights to read: it links the sample of those the live worker
    processes said they run (most of them, while a rolling upgrade leaves some on others), and the job it queues asks
    for them; a worker that runs others does not store its cutout under their name."""
    from django_tasks_db.models import DBTaskResult

    from removal import services
    from removal.cutout.installed import weights_sha256
    from removal.models import WorkerProcess
    from removal.ops.worker import run_ready_jobs

    settings.REMBG_MODEL = "u2netp"
    started_afresh(monkeypatch)
    runs = weights_sha256(settings.U2NET_HOME, "u2netp")
    assert runs is not None
    settings.EMBEDDED_WORKERS = 0
    seen = {"threads": 1, "providers": ["CPUExecutionProvider"], "layout": "shared", "max_batch": 1}
    for name, weights in (("worker-old", "0" * 64), ("worker-new-1", runs), ("worker-new-2", runs)):
        services.worker_process_seen(name=name, **seen, models=["u2netp"], weights_sha256={"u2netp": weights})
    assert client.get("/sample/cutout.png").status_code == 503
    (job,) = DBTaskResult.objects.filter(task_path="removal.tasks.make_sample_cutout")
    assert job.args_kwargs["args"] == ["u2netp", runs]
    assert run_ready_jobs() == 1
    made = sample_linked(client)
    assert made is not None and client.get(made).status_code == 200
    WorkerProcess.objects.all().delete()  # all of them restarting: the sample they last said stays linked
    assert sample_linked(client) == made

    services.worker_process_seen(name="worker-old", **seen, models=["u2netp"], weights_sha256={"u2netp": "1" * 64})
    services.worker_process_seen(name="worker-new-2", **seen, models=["u2netp"], weights_sha256={"u2netp": "1" * 64})
    assert sample_linked(client) is None and client.get("/sample/cutout.png").status_code == 503
    assert run_ready_jobs() == 1  # taken by this process, which runs the others
    (failed,) = DBTaskResult.objects.filter(task_path="removal.tasks.make_sample_cutout", status="FAILED")
    assert failed.args_kwargs["args"] == ["u2netp", "1" * 64] and "SampleWeightsDiffer" in failed.traceback
    assert sample_linked(client) is None


def test_home_renders_upload_page_with_limits(client: Any, user: Any, settings: Any) -> None:
    settings.MAX_UPLOAD_BYTES = 3_000_000
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="file"' in html and "multiple" in html and 'accept="image/*,.heic,.heif"' in html
    assert 'id="folder-input"' in html and "webkitdirectory" in html
    assert 'id="upload-limits"' in html and '"max_upload_bytes": 3000000' in html
    assert 'data-batch-id=""' in html
    assert 'id="download-zip"' in html and 'id="overall"' in html
    assert "csrftoken" in response.cookies  # the page's script posts with it


def test_the_page_tells_a_held_file_by_its_name_as_the_server_keeps_it(client: Any, user: Any) -> None:
    """The script knows a file the batch holds already by its name cut to the column's length: that length is the
    model's, not a second 255 in the script."""
    client.force_login(user)
    page = client.get("/").content.decode()
    limits = json.loads(re.search(r'id="upload-limits"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert limits["max_filename_chars"] == Item._meta.get_field("filename").max_length


def test_the_upload_limits_line_groups_thousands_as_the_pages_language_does(
    client: Any, user: Any, settings: Any
) -> None:
    settings.MAX_ITEMS_PER_BATCH = 1000
    client.force_login(user)
    assert "1,000 images per batch" in client.get("/").content.decode()
    assert "1.000 Bilder je Stapel" in client.get("/", headers={"Accept-Language": "de"}).content.decode()


def test_the_upload_page_without_javascript_says_so_and_what_works_without_it(client: Any, user: Any) -> None:
    client.force_login(user)
    html = client.get("/").content.decode()
    notice = re.search(r'<noscript><p class="notice" id="no-script">(.*?)</p></noscript>', html, re.S)
    assert notice is not None and "needs JavaScript" in notice.group(1) and 'href="/accounts/"' in notice.group(1)


def test_only_the_count_is_read_out_as_the_batch_goes_on(client: Any, user: Any) -> None:
    """The count's twin is a status (polite, read whole), empty until upload.js says a count; the count shown and the
    box around it, with the zip's button, are not live."""
    client.force_login(user)
    html = client.get("/").content.decode()
    assert '<p id="overall">' in html and '<p id="overall-said" class="visually-hidden" role="status"></p>' in html
    assert html.count('role="status"') == 4  # with #notice, #left-out and the editor's #editor-status
    assert '<progress id="overall-bar" max="1" value="0" aria-labelledby="overall">' in html
    assert 'class="summary" aria-live' not in html and html.count("aria-live") == 0


def test_the_cards_placeholders_are_in_the_pages_language(client: Any, user: Any) -> None:
    """site.css shows "no preview" and "no cutout" from the figures' attributes (its own words would stay English)."""
    client.force_login(user)
    client.cookies["django_language"] = "en"
    html = client.get("/").content.decode()
    assert html.count('data-no-preview="no preview" data-no-cutout="no cutout"') == 2
    css = client.get("/static/css/site.css")
    text = b"".join(css.streaming_content if css.streaming else [css.content]).decode()
    assert 'content: "no preview"' not in text and 'content: "none"' not in text
    assert "attr(data-no-preview)" in text and "attr(data-no-cutout)" in text


def test_the_page_preselects_the_sites_default_format(client: Any, user: Any, settings: Any) -> None:
    client.force_login(user)
    assert '<option value="png" selected>' in client.get("/").content.decode()
    settings.DEFAULT_FORMAT = "webp"
    html = client.get("/").content.decode()
    assert '<option value="webp" selected>' in html and '<option value="png">' in html


def test_batch_detail_renders_own_batch(client: Any, user: Any) -> None:
    batch = Batch.objects.create(owner=user)
    client.force_login(user)
    response = client.get(f"/batches/{batch.id}/")
    assert response.status_code == 200
    assert f'data-batch-id="{batch.id}"' in response.content.decode()
    assert "csrftoken" in response.cookies


def test_the_batch_pages_script_follows_the_zip_and_socket_the_api_names(client: Any, user: Any) -> None:
    """After a reload the page follows the batch from these, as from the API's reply after its first upload: the
    page's script wrote the two paths out itself."""
    batch = Batch.objects.create(owner=user)
    client.force_login(user)
    page = client.get(f"/batches/{batch.id}/").content.decode()
    api = client.get(f"/api/v1/batches/{batch.id}").json()
    assert f'data-batch-zip="{api["zip"]}"' in page
    assert f'data-batch-ws="{api["ws"]}"' in page


def test_other_users_batch_is_404(client: Any, user: Any, other_user: Any) -> None:
    batch = Batch.objects.create(owner=other_user)
    client.force_login(user)
    assert client.get(f"/batches/{batch.id}/").status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE"])
def test_a_page_answers_a_method_it_does_not_take_with_a_405_page(client: Any, user: Any, method: str) -> None:
    """Each page answered any method with itself, a 200: a DELETE or a TRACE of the account page showed it."""
    client.force_login(user)
    batch = Batch.objects.create(owner=user)
    for path in ("/", "/batches/", f"/batches/{batch.id}/", "/accounts/"):
        reply = client.generic(method, path)
        assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD"), path
        assert "<h1>Request not allowed here</h1>" in reply.content.decode()
    assert client.head("/accounts/").status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_get_only_page_answers_an_unsafe_method_with_the_405_page_not_the_csrf_ones(user: Any, method: str) -> None:
    """CsrfViewMiddleware refused a PUT, DELETE or PATCH of a GET-only page before require_safe could: the CSRF
    check's 403 page for a form, where there is no form to send."""
    from django.test import Client

    signed_out, signed_in = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    signed_in.force_login(user)
    batch = Batch.objects.create(owner=user)
    for client, path in [
        (signed_out, "/"),
        (signed_out, "/batches/"),
        (signed_in, "/"),
        (signed_in, "/batches/"),
        (signed_in, f"/batches/{batch.id}/"),
        (signed_in, "/accounts/"),
    ]:
        reply = client.generic(method, path)
        assert (reply.status_code, reply.get("Allow")) == (405, "GET, HEAD"), path
        assert "<h1>Request not allowed here</h1>" in reply.content.decode()


def test_a_get_only_page_with_a_form_still_hands_out_the_csrf_token_a_post_needs(user: Any) -> None:
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    for path in ("/", "/batches/", "/accounts/"):
        browser.cookies.pop("csrftoken", None)
        assert browser.get(path).status_code == 200
        assert browser.cookies["csrftoken"].value, path
    token = browser.cookies["csrftoken"].value
    assert browser.post("/accounts/keys/", {"name": "k"}).status_code == 403  # the key form, sent without the token
    assert browser.post("/accounts/keys/", {"name": "k", "csrfmiddlewaretoken": token}).status_code == 302


def test_a_missing_page_says_why_in_the_sites_layout_and_language(client: Any, user: Any) -> None:
    """A link to a deleted batch: the site's page with its menu, not Django's bare "Not Found"."""
    client.force_login(user)
    response = client.get("/batches/3f2a9c1e-0b7d-4e55-9a61-2c8d4f6e1b90/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html and "gone for good" in html
    assert 'href="/batches/"' in html and 'href="/"' in html  # the menu and the way back
    german = client.get("/batches/3f2a9c1e-0b7d-4e55-9a61-2c8d4f6e1b90/", headers={"Accept-Language": "de"})
    assert "<h1>Seite nicht gefunden</h1>" in german.content.decode()


def test_a_form_sent_without_its_csrf_cookie_gets_a_page_saying_what_to_do() -> None:
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>The form could not be sent</h1>" in html and "reload the page" in html
    assert "CSRF" not in html  # not Django's page for developers


@pytest.mark.parametrize(
    ("handler", "status", "heading"),
    [("server_error", 500, "Something went wrong"), ("bad_request", 400, "Bad request")],
)
def test_the_pages_django_renders_without_the_request_keep_the_sites_look(
    rf: Any, handler: str, status: int, heading: str
) -> None:
    from removal.web import error_pages

    request = rf.get("/batches/")
    arguments = (request,) if handler == "server_error" else (request, ValueError("unreadable"))
    response = getattr(error_pages, handler)(*arguments)
    assert response.status_code == status
    html = response.content.decode()
    assert f"<h1>{heading}</h1>" in html and "/static/css/site.css" in html and 'href="/"' in html


def test_malformed_batch_id_is_404(client: Any, user: Any) -> None:
    client.force_login(user)
    assert client.get("/batches/not-a-uuid/").status_code == 404


def test_batch_list_shows_own_batches_with_counts(client: Any, user: Any, other_user: Any) -> None:
    finished = Batch.objects.create(owner=user)
    make_item(finished, Item.Status.DONE)
    make_item(finished, Item.Status.FAILED)
    Item.objects.filter(pk=make_item(finished, Item.Status.DONE).pk).update(confidence=0.1)  # needs a look
    running = Batch.objects.create(owner=user)
    make_item(running, Item.Status.QUEUED)
    someone_elses = Batch.objects.create(owner=other_user)
    client.force_login(user)

    response = client.get("/batches/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f"/batches/{finished.id}/" in html and f"/batches/{running.id}/" in html
    assert str(someone_elses.id) not in html
    assert f"/api/v1/batches/{finished.id}/zip" in html
    assert f"/api/v1/batches/{running.id}/zip" not in html  # nothing done yet
    rows = dict(re.findall(r'<tr data-batch-id="([^"]+)">(.*?)</tr>', html, re.S))
    assert re.findall(r"<td>(\d+)</td>", rows[str(finished.id)]) == ["3", "2", "0"]
    # The failed and the flagged counts open the batch with only those cards shown.
    assert f'<a href="/batches/{finished.id}/?failed=1" class="failed-link"' in rows[str(finished.id)]
    assert re.search(r'class="failed-link"[^>]*>1</a>', rows[str(finished.id)])
    assert f'<a href="/batches/{finished.id}/?flagged=1" class="needs-look-link"' in rows[str(finished.id)]
    assert re.search(r'class="needs-look-link"[^>]*>1</a>', rows[str(finished.id)])
    assert "needs-look-link" not in rows[str(running.id)] and "failed-link" not in rows[str(running.id)]
    assert ">done<" in rows[str(finished.id)] and ">processing<" in rows[str(running.id)]


def test_a_batch_name_searched_for_with_a_nul_is_a_400_page(client: Any, user: Any) -> None:
    # PostgreSQL refuses a NUL even in a query's LIKE pattern: the list was a 500 there.
    client.force_login(user)
    reply = client.get("/batches/", {"name": "shoes\x00"})
    assert reply.status_code == 400 and reply["Content-Type"].startswith("text/html")


def test_batch_list_paginates(client: Any, user: Any, settings: Any) -> None:
    settings.BATCHES_PER_PAGE = 2
    for _ in range(3):
        Batch.objects.create(owner=user)
    client.force_login(user)

    first = client.get("/batches/").content.decode()
    second = client.get("/batches/?page=2").content.decode()

    assert first.count("<tr data-batch-id=") == 2 and 'href="?page=2"' in first
    assert second.count("<tr data-batch-id=") == 1 and 'href="?page=1"' in second
    below_1 = client.get("/batches/?page=0").content.decode()  # the first, as for the API (it was the last)
    assert below_1.count("<tr data-batch-id=") == 2 and 'href="?page=2"' in below_1


def test_batch_list_finds_batches_by_name_across_its_pages(client: Any, user: Any, settings: Any) -> None:
    settings.BATCHES_PER_PAGE = 2
    for name in ("Shoes, spring", "Boots", "shoes & bags", "Summer shoes", ""):
        Batch.objects.create(owner=user, name=name)
    Batch.objects.create(owner=User.objects.create_user("someone"), name="Shoes too")
    client.force_login(user)

    first = client.get("/batches/?name=+SHOES+").content.decode()
    second = client.get("/batches/?page=2&name=shoes").content.decode()

    found = re.findall(r'<td class="batch-named">\s*<a href="/batches/[0-9a-f-]+/">([^<]+)</a>', first + second)
    assert found == ["Summer shoes", "shoes &amp; bags", "Shoes, spring"]  # any case, newest first, only theirs
    assert 'href="?page=2&amp;name=SHOES"' in first and 'value="SHOES"' in first
    assert 'href="?page=1&amp;name=shoes"' in second
    none = client.get("/batches/?name=hats").content.decode()
    assert "No batch’s name holds “hats”." in none  # noqa: RUF001 and 'id="batch-search-name"' in none
    client.force_login(User.objects.create_user("newcomer"))
    assert 'role="search"' not in client.get("/batches/").content.decode()  # nothing to find yet


def test_admin_link_is_shown_to_staff_only(client: Any, user: Any) -> None:
    client.force_login(user)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    user.is_staff = True
    user.save()
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_pages_load_no_external_scripts_or_styles(client: Any, user: Any) -> None:
    anonymous_pages = ["/accounts/login/", "/accounts/signup/"]
    pages = ["/", "/batches/", f"/batches/{Batch.objects.create(owner=user).id}/", "/accounts/", "/accounts/password/"]
    for path in anonymous_pages:
        assert_no_external_assets(client.get(path).content.decode())
    client.force_login(user)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_no_external_assets(response.content.decode())


def assert_no_external_assets(html: str) -> None:
    assets = re.findall(r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)=\"([^\"]*)\"", html)
    assert assets, "expected the page to load its stylesheet"
    external = [url for url in assets if re.match(r"(https?:)?//", url)]
    assert external == []
    assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html), (
        "inline scripts would break a CSP without 'unsafe-inline'"
    )


def test_the_pages_option_controls_come_from_the_declaration(client: Any, user: Any) -> None:
    from removal.cutout.options import BY_NAME

    client.force_login(user)
    page = client.get("/").content.decode()
    for name in ("format", "size", "quality"):
        for value, label in BY_NAME[name].labels.items():
            assert f'<option value="{value}"' in page and label in page
    assert '<option value="fast" selected>' in page
    assert f'pattern="{BY_NAME["crop_margin"].pattern}"' in page
    declared = json.loads(re.search(r'<script id="option-choices" type="application/json">(.*?)</script>', page)[1])
    assert declared["quality"] == {
        "default": "fast",
        "choices": [["fast", "Fast"], ["best", "Best (about twice the time)"]],
        "pattern": "",
    }


def test_code_blocks_wrap_rather_than_scroll_sideways() -> None:
    """On a phone the commands on the first screen and the account page were wider than the screen: a box that scrolls
    sideways, which axe found out of the keyboard's reach (scrollable-region-focusable). They wrap instead."""
    code = css_rule(".code")
    assert code["white-space"] == "pre-wrap" and code["overflow-wrap"] == "anywhere"
    assert "overflow-x" not in code


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_focus_rings_and_field_edges_stand_out_at_3_to_1() -> None:
    """WCAG 1.4.11: what shows where the keyboard is, and where a field is, at 3:1 against the card (white) and the
    page. The ring was the accent at 55% (2.4:1) and the fields' edges the dividers' grey (1.3:1)."""
    root = css_rule(":root")
    backgrounds = (root["--card"], root["--bg"])
    ring = css_rule(":focus-visible")["outline"]
    assert ring.startswith("3px solid var(--") and "color-mix" not in ring
    ring_colour = root[ring.removeprefix("3px solid var(").removesuffix(")")]
    assert all(contrast(ring_colour, background) >= 3 for background in backgrounds)
    fields = ('.form input[type="text"]', ".language-picker select", ".option select", '.option input[type="color"]')
    for field in fields:
        border = css_rule(field)["border"]
        assert border.endswith("var(--field-line)"), (field, border)
    assert all(contrast(root["--field-line"], background) >= 3 for background in backgrounds)


def test_template_comments_end_on_their_line() -> None:
    """Django's {# #} comment is one line: one that goes on to the next is no comment, and the page shows its words (the
    upload page's count was pushed a screen down so)."""
    for template in (REPO / "templates").rglob("*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            assert line.count("{#") == line.count("#}"), f"{template.relative_to(REPO)}:{number}"


def test_a_sample_job_that_failed_is_not_queued_again_at_each_visit(client: Any, settings: Any) -> None:
    """A default model the workers lack fails the sample's job: each visit queued another, which failed in turn."""
    from django_tasks_db.models import DBTaskResult

    from removal.ops.worker import run_ready_jobs

    settings.REMBG_MODEL = "no-such-model"
    client.get("/sample/cutout.png")
    assert run_ready_jobs() == 1
    assert client.get("/sample/cutout.png").status_code == 503
    (job,) = DBTaskResult.objects.filter(task_path="removal.tasks.make_sample_cutout")
    assert job.status == "FAILED" and "no-such-model" in job.traceback
