"""bgsite.logging_config: LOG_LEVEL and LOG_FORMAT, and what a JSON line holds."""

import io
import json
import logging
import logging.config
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from bgsite.log_context import LogContext, job_context
from bgsite.logging_config import JSON_FORMAT, logging_config
from tests.conftest import REPO


def test_a_level_in_any_case_is_taken_and_a_wrong_one_stops_the_process() -> None:
    assert logging_config("info")["root"]["level"] == "INFO"
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL must be DEBUG, INFO"):
        logging_config("verbose")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be plain or json"):
        logging_config("INFO", log_format="xml")


def test_a_json_line_is_one_line_with_its_job_and_traceback() -> None:
    formatter = JSON_FORMAT["()"](**{name: value for name, value in JSON_FORMAT.items() if name != "()"})
    try:
        raise ValueError("the model file is damaged")
    except ValueError:
        record = logging.LogRecord("removal.x", logging.ERROR, __file__, 1, "the item failed: %s", ("boom",), None)
        record.exc_info = sys.exc_info()
    with job_context(item_id="item-7", request_id="req-7"):
        LogContext().filter(record)
    line = formatter.format(record)
    assert "\n" not in line
    logged = json.loads(line)
    assert logged | {"time": "", "exc_info": ""} == {
        **{"time": "", "level": "ERROR", "logger": "removal.x", "message": "the item failed: boom"},
        **{"request_id": "req-7", "item_id": "item-7", "exc_info": ""},
    }
    assert logged["time"].endswith("+00:00") and "ValueError: the model file is damaged" in logged["exc_info"]


@pytest.mark.live
def test_with_log_format_json_every_line_of_a_server_is_json(server_factory: Any) -> None:
    server = server_factory(LOG_FORMAT="json")
    server.start()
    try:
        reply = requests.get(f"{server.url}/api/v1/batches", headers={"X-Request-ID": "json-1"}, timeout=10)
    finally:
        server.stop()
    assert reply.status_code == 401
    lines = [json.loads(line) for line in server.log().splitlines()]  # uvicorn's own too
    assert any(
        line["logger"] == "uvicorn.error" and "Application startup complete" in line["message"] for line in lines
    )
    ours = {line["logger"]: line for line in lines if line.get("request_id") == "json-1"}
    assert ours.keys() == {"bgsite.access", "django.request"}
    assert '"GET /api/v1/batches" 401' in ours["bgsite.access"]["message"]
    assert (ours["django.request"]["level"], ours["django.request"]["status_code"]) == ("WARNING", 401)


def test_log_level_debug_writes_no_signature_nor_a_fetched_urls_query(s3_server: Any, image_host: Any) -> None:
    """botocore's and urllib3's DEBUG lines hold request signatures, the access key's id and whole URLs (a user's
    presigned `img` link, a webhook's token): they stay at INFO whatever LOG_LEVEL says."""
    host, _ = image_host
    script = (
        "import logging; logging.getLogger('bgsite').debug('DEBUG is on'); "
        "from django.core.files.base import ContentFile; from django.core.files.storage import default_storage; "
        "name = default_storage.save('logs/a.txt', ContentFile(b'a')); print(default_storage.url(name)); "
        f"import requests; requests.get('http://{host}/a.png?X-Amz-Signature=5ecret5ig', timeout=10)"
    )
    environment = {
        **os.environ,
        **s3_server.env,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID",
        "LOG_LEVEL": "DEBUG",
        "DATA_DIR": tempfile.mkdtemp(),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO,
        env=environment,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    log = done.stderr.decode()
    assert "DEBUG bgsite: DEBUG is on" in log
    for secret in ("Signature", "AKIAEXAMPLEKEYID", "5ecret5ig"):
        assert secret not in log


class RecipientRefusingSmtp(socketserver.StreamRequestHandler):
    """A mail server that refuses every recipient, naming it, as a real one does for an unknown user."""

    def handle(self) -> None:
        self.wfile.write(b"220 mail.test ESMTP\r\n")
        for line in self.rfile:
            verb = line[:4].upper()
            if verb == b"RCPT":
                address = line.split(b":", 1)[1].strip()
                self.wfile.write(b"550 5.1.1 " + address + b": recipient address rejected: user unknown\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 mail.test\r\n")


@pytest.mark.django_db
def test_no_e_mail_address_reaches_the_log_not_even_in_a_mail_servers_refusal(client: Any, settings: Any) -> None:
    """Django's password-reset form logs the mail server's refusal, which names the address, with its traceback."""
    User.objects.create_user("ann", email="ann.private@example.org", password="correct horse battery")
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), RecipientRefusingSmtp) as smtp:
        threading.Thread(target=smtp.serve_forever, daemon=True).start()
        options = {"host": "127.0.0.1", "port": smtp.server_address[1], "timeout": 5}
        settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
        # The project's handlers as a process starts with them: a test before this one in the same process may have
        # configured logging its own way (an in-process uvicorn Config does), which leaves no "console" handler.
        logging.config.dictConfig(settings.LOGGING)
        console, written = logging.getHandlerByName("console"), io.StringIO()
        assert isinstance(console, logging.StreamHandler)
        previous = console.setStream(written)
        try:
            reply = client.post("/accounts/password/reset/", {"email": "ann.private@example.org"})
        finally:
            console.setStream(previous)
            smtp.shutdown()
    assert reply.status_code == 302
    log = written.getvalue()
    assert "Failed to send password reset email" in log and "SMTPRecipientsRefused" in log
    assert "ann.private" not in log and "[e-mail]" in log
