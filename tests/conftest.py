"""Shared fixtures: real photos, API clients, and real server processes.

`REQUIRE_SERVICES=1` (set by .ci/run) turns every "service not available" skip
into a failure, so CI cannot go green without Postgres, Redis, S3 or Chromium.
"""

import functools
import io
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pytest
import requests
import skimage
from PIL import Image

from tests import bytecode, file_order

REPO = Path(__file__).resolve().parent.parent
SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    file_order.configure(config)
    bytecode.rewritten_modules_kept()  # in the workers too: each collects the test modules
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # once, before the workers start
        bytecode.project_compiled()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files longest first (tests/file_order.py), so that the workers running them side by side end together."""
    items[:] = file_order.longest_first(items, file_order.known_seconds())


def require_or_skip(reason: str) -> None:
    """Skip the test, unless the run requires every service (then fail)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)  # only without REQUIRE_SERVICES=1 (a developer's machine)


# --- images --------------------------------------------------------------------


def photo_path(name: str) -> Path:
    """A photo shipped inside the scikit-image wheel (astronaut.png, chelsea.png, coffee.png...)."""
    return SKIMAGE_DATA / name


def photo_bytes(name: str = "astronaut.png", *, size: tuple[int, int] | None = None, fmt: str = "JPEG") -> bytes:
    """A real photo, optionally resized, encoded as `fmt`."""
    with Image.open(photo_path(name)) as opened:
        image = opened.convert("RGB")
        if size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


@functools.cache
def phone_photo_jpeg() -> bytes:
    """A 12-megapixel JPEG of 4 to 6 MB, as a phone's camera saves one: a real photo enlarged, with a sensor's grain
    (enlarged alone, it compresses to a quarter of that)."""
    with Image.open(photo_path("coffee.png")) as opened:
        enlarged = np.asarray(opened.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS), np.float32)
    # In float32 and in place: in float64 the grain took 3.4 s of CPU, 1.1 s so.
    pixels = np.random.default_rng(0).standard_normal(enlarged.shape, dtype=np.float32)
    pixels *= 6
    pixels += enlarged
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8)).save(buffer, "JPEG", quality=95)
    assert 4_000_000 < len(buffer.getvalue()) < 6_000_000
    return buffer.getvalue()


def heic_bytes(image: Image.Image, *, orientation: int = 1, burst: Sequence[Image.Image] = ()) -> bytes:
    """`image` as an HEIC file, stored as a phone stores it: these pixels, with the turn that displays them as the
    file's own `irot`/`imir` boxes (pillow-heif's encoder writes EXIF `orientation` so); `burst`: more images after the
    primary one. pillow-heif (its x265 encoder) is a test-only dependency: bgsite ships pi-heif's decoder only."""
    import pillow_heif

    exif = Image.Exif()
    exif[0x0112] = orientation
    heif = pillow_heif.from_pillow(image)
    for other in burst:
        heif.add_from_pillow(other)
    buffer = io.BytesIO()
    heif.save(buffer, quality=90, exif=exif.tobytes(), primary_index=0, enc_params={"preset": "ultrafast"})
    return buffer.getvalue()


def heic_header_only() -> bytes:
    """The start of an HEIC file (its `ftyp` box) and nothing of an image after it."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def item_files(item: Any) -> list[str]:
    """The stored names an Item row holds (its upload, results and masks), and the thumbnails (and the original's
    display image) kept of them."""
    from django.core.files.storage import default_storage

    from removal.services.thumbnails import MAKERS, thumbnail_name

    names = [str(getattr(item, field)) for field in item.FILE_FIELDS if getattr(item, field)]
    renditions = [thumbnail_name(name, kind) for name in names for kind in MAKERS]
    return names + [rendition for rendition in renditions if default_storage.exists(rendition)]


def run_deferred_file_deletions() -> int:
    """Run now the file deletions queued for later (services.purge.files_delete_later), as a worker will once
    DELETED_FILES_KEPT_SECONDS have passed; how many ran through."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from removal.ops.worker import run_ready_jobs
    from removal.services.purge import DELETE_FILES_TASK

    due = list(DBTaskResult.objects.filter(task_path=DELETE_FILES_TASK, status="READY").values_list("id", flat=True))
    DBTaskResult.objects.filter(id__in=due).update(run_after=timezone.now())
    run_ready_jobs()
    return DBTaskResult.objects.filter(id__in=due, status="SUCCESSFUL").count()


def half_mask(size: tuple[int, int], *, keep: str = "left") -> bytes:
    """A hand-edited mask as the editor sends it: an L PNG keeping the left half (or the right)."""
    mask = Image.new("L", size, 0)
    left = 0 if keep == "left" else size[0] // 2
    mask.paste(255, (left, 0, left + size[0] // 2, size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    return photo_bytes("astronaut.png")


# --- a local image host (for URL inputs) ---------------------------------------


class ImageHostHandler(BaseHTTPRequestHandler):
    """Serves /image.jpg (also as /odd-length.jpg, with an unreadable Content-Length, and at /api/v1/store/<id>, as
    another bgsite's /store link), /big, /redirect?to=URL, /loop; remembers every request path."""

    seen: list[str]
    image: bytes

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", unquote(self.path.split("=", 1)[1]))
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the cap must apply while streaming
            try:
                for _ in range(64):
                    self.wfile.write(b"x" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its size cap, as it should
        elif self.path in ("/image.jpg", "/odd-length.jpg") or self.path.startswith("/api/v1/store/"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            # "²" passes str.isdigit but not int(): a length no parser takes, which a hostile host may send.
            self.send_header("Content-Length", str(len(self.image)) if self.path == "/image.jpg" else "\u00b2")
            self.end_headers()
            self.wfile.write(self.image)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def local_http_server(handler: type[BaseHTTPRequestHandler], **attributes: Any) -> Iterator[tuple[int, list[str]]]:
    """`handler` served on 127.0.0.1 in a thread, given `attributes` and a `seen` list of request paths:
    (its port, that list)."""
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (handler,), {"seen": seen, **attributes}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


class StallingHandler(BaseHTTPRequestHandler):
    """Answers as a hostile host does, by path: `/head` sends its status line and headers a byte at a time, `/body`
    its headers at once and then its body a byte at a time, `/endless` a body that never ends, as fast as it can,
    `/redirect` the same after a redirect to `/small` (which answers "ok"). Each pause is shorter than any per-read
    timeout, so only a limit on the whole exchange stops it."""

    def _answer(self) -> None:
        self.close_connection = True
        try:
            if self.path.startswith("/head"):
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                    self.wfile.write(bytes([byte]))
                    time.sleep(0.1)
            elif self.path.startswith("/body"):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                for _ in range(100_000):
                    self.wfile.write(b"x")
                    time.sleep(0.1)
            elif self.path.startswith("/small"):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                status = b"302 Found\r\nLocation: /small" if self.path.startswith("/redirect") else b"200 OK"
                self.wfile.write(b"HTTP/1.1 " + status + b"\r\nConnection: close\r\n\r\n")
                while True:
                    self.wfile.write(b"x" * 1_000_000)
        except OSError:
            return  # the client gave up: what the tests want

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stalling_host() -> Iterator[str]:
    """A local host that never finishes its reply (StallingHandler): "127.0.0.1:<port>"."""
    with local_http_server(StallingHandler) as (port, _):
        yield f"127.0.0.1:{port}"


@pytest.fixture
def image_host() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server: ("127.0.0.1:<port>", the paths it was asked for). Serves a real JPEG."""
    with local_http_server(ImageHostHandler, image=photo_bytes("chelsea.png")) as (port, seen):
        yield f"127.0.0.1:{port}", seen


# --- in-process tests ----------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """In-process tests hash passwords with a fast hasher, as Django advises for tests: the default PBKDF2
    spends most of a second per user on purpose. Live servers keep the default."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _media_in_tmp(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Django tests store uploads and cutouts in a fresh folder each, and start with no rate-limit counts."""
    if "settings" in request.fixturenames or request.node.get_closest_marker("django_db"):
        from django.core.cache import cache

        settings = request.getfixturevalue("settings")
        settings.MEDIA_ROOT = tmp_path / "media"
        cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> None:
    """Each test starts in the default language, as a worker thread does: a request a test client made in French
    leaves French active on its thread (LocaleMiddleware activates, nothing deactivates), and the services' refusals
    are translated in the active language."""
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_cutouts_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process with no cutout in progress or awaited, now or lately (cores.expected remembers
    the most at once for a moment): an earlier test's cutouts do not decide whether this one's spread over the cores
    or take the solo session."""
    from removal.cutout import cores

    monkeypatch.setattr(cores, "_in_progress", cores._Count())
    monkeypatch.setattr(cores, "_awaited", cores._Count())


def make_item(batch: Any, status: str = "done", filename: str = "photo.jpg", processing_ms: int | None = None) -> Any:
    """An Item row as processing would leave it (no files behind it), for pages and usage."""
    from django.utils import timezone

    from removal.models import Item

    now = timezone.now()
    return Item.objects.create(
        batch=batch,
        filename=filename,
        source="x",
        source_bytes=1,
        width=1,
        height=1,
        status=status,
        queued_at=now,
        finished_at=now if status in Item.FINISHED else None,
        result_bytes=10 if status == Item.Status.DONE else None,
        processing_ms=processing_ms,
    )


@pytest.fixture
def user(db: Any) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", email="alice@example.com", password="correct horse battery")


@pytest.fixture
def other_user(db: Any) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user("bob", password="correct horse battery")


@pytest.fixture
def api_key(user: Any) -> str:
    from accounts.services import api_key_create

    return api_key_create(user=user, name="tests")[1]


@pytest.fixture
def api(client: Any, api_key: str) -> Any:
    """Django's test client, authenticated with an API key header."""
    client.defaults["HTTP_X_API_KEY"] = api_key
    return client


@contextmanager
def files_written_up_to(limit: int) -> Iterator[None]:
    """Every file this process writes refused past `limit` bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write
    fails with EFBIG), as a full temporary folder refuses one, without a disk of that size to fill."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# --- memory of a server process -------------------------------------------------


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process, from /proc: now (VmRSS), or the most it has had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


class PeakRss:
    """Samples a process's RSS in a thread while the `with` block runs; `.peak` and `.baseline` in bytes."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.baseline = self.peak = rss_bytes(pid)
        self._running = threading.Event()

    def __enter__(self) -> "PeakRss":
        self._running.set()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running.clear()
        self._thread.join()

    def _sample(self) -> None:
        while self._running.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(self.interval)


# --- real server processes -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.05)


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop and start again (the shared one stays up)."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            require_or_skip("redis-server not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    """An OwnRedis, started, and stopped at the end whatever the test did with it."""
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def run_manage(env: dict[str, str], *args: str) -> str:
    """`manage.py ARGS` in a child process with `env`; its output, or an error with both streams."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@functools.cache
def password_hash(password: str) -> str:
    """`password` hashed as a live server hashes it (Django's default hasher, PBKDF2, which bgsite keeps): half a
    second of CPU, spent once per password in a session, where each user the tests create would spend it again."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(password, hasher.salt())


# What a KeptShell runs: each line it reads (as JSON) is Python code run in a scope of its own, in a Django process with
# the server's settings, as `manage.py shell -c` runs it; what the code leaves in `result` is written back. No
# database connection is kept from one code to the next.
_KEPT_SHELL_LOOP = """
import json, sys, traceback
from django.db import connection
for line in iter(sys.stdin.readline, ""):
    scope = {}
    try:
        exec(json.loads(line), scope)
        print("result:" + json.dumps(str(scope.get("result", ""))), flush=True)
    except Exception:
        print("failed:" + json.dumps(traceback.format_exc()), flush=True)
    finally:
        connection.close()
"""


class KeptShell:
    """One `manage.py shell` process that runs a live server's scripts (LiveServer.shell), one after another, for as
    long as it is kept: each script would otherwise start Django in a process of its own, which takes seconds. The
    shells of the servers used last are kept (SHELLS_KEPT); an older one is closed, and started again if asked."""

    SHELLS_KEPT = 2
    _kept: list["KeptShell"] = []

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", _KEPT_SHELL_LOOP],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._kept.append(self)
        for older in self._kept[: -self.SHELLS_KEPT]:
            older.close()

    def running(self) -> bool:
        return self.process.poll() is None

    def run(self, code: str) -> str:
        """What `code` leaves in `result`, as a string; an error with the traceback if it raised."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(code) + "\n")
        self.process.stdin.flush()
        for line in iter(self.process.stdout.readline, ""):
            kind, _, value = line.partition(":")
            if kind == "result":
                return str(json.loads(value))
            if kind == "failed":
                raise RuntimeError(f"the server's shell failed:\n{code}\n{json.loads(value)}")
        self.close()
        raise RuntimeError(f"the server's shell ended (exit status {self.process.returncode}) running:\n{code}")

    def close(self) -> None:
        if self in self._kept:
            self._kept.remove(self)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the loop ends
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@dataclass
class LiveServer:
    """bgsite served by uvicorn in its own process, as `make run` serves it."""

    data_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # time.monotonic() when the server process was spawned
    # A data folder `manage.py migrate` made (SQLite database and secret key), copied instead of migrating again.
    migrated_template: Path | None = None
    migrated: bool = False
    # Whether the copied template's first-screen sample cutout is kept (migrated_data_dir): a server to show the
    # sample being made starts without it.
    sample_made: bool = True
    log_path: Path = field(init=False)
    kept_shell: KeptShell | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "DJANGO_SETTINGS_MODULE": "bgsite.settings",
            "PYTHONUNBUFFERED": "1",
            "SIGNUP_RATE_LIMIT": "1000/h",  # the browser tests sign up a user each, all from 127.0.0.1
            **self.env_overrides,
        }

    def manage(self, *args: str) -> str:
        return run_manage(self.env, *args)

    def shell(self, code: str) -> str:
        """Run `code` as `manage.py shell -c` would with this server's settings, in a process kept for the next (a
        KeptShell): what it leaves in `result`, as a string."""
        if self.kept_shell is None or not self.kept_shell.running():
            self.kept_shell = KeptShell(self.env)
        return self.kept_shell.run(code)

    def create_user(self, username: str, password: str = "correct horse battery") -> str:
        """Create a user in this server's database and return a new API key for it. The password's hash is made once
        per session (password_hash), not each time."""
        return self.shell(
            "from django.contrib.auth.models import User; from accounts.services import api_key_create; "
            f"user = User.objects.create_user({username!r}, password=None); "
            f"user.password = {password_hash(password)!r}; user.save(update_fields=['password']); "
            "result = api_key_create(user=user, name='tests')[1]",
        )

    def new_user_session(self, username: str, *, user_agent: str, password: str = "correct horse battery") -> str:
        """Make a user as sign-up makes one (an address still to confirm), its password's hash made once per session
        (password_hash), and log it in as Django's log-in does (auth.login: the session's user, backend and password
        hash; user_logged_in's receivers) from a browser with `user_agent`: the session's key, its cookie's value."""
        return self.shell(
            "from importlib import import_module\n"
            "from django.conf import settings\n"
            "from django.contrib.auth import login\n"
            "from django.contrib.auth.models import User\n"
            "from django.test import RequestFactory\n"
            "from accounts import confirmation\n"
            f"user = User.objects.create_user({username!r}, {username + '@example.com'!r}, password=None)\n"
            f"user.password = {password_hash(password)!r}\n"
            "user.save(update_fields=['password'])\n"
            "confirmation.unconfirmed_mark(user=user)\n"
            f"request = RequestFactory().post('/accounts/signup/', headers={{'User-Agent': {user_agent!r}}})\n"
            "request.session = import_module(settings.SESSION_ENGINE).SessionStore()\n"
            "login(request, user, backend='django.contrib.auth.backends.ModelBackend')\n"
            "request.session.save()\n"
            "result = request.session.session_key\n",
        )

    def signed_in(self, username: str, password: str = "correct horse battery") -> requests.Session:
        """A browser's session, logged in through the log-in page as `username`."""
        browser = requests.Session()
        browser.get(f"{self.url}/accounts/login/", timeout=10)
        form = {"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        reply = browser.post(f"{self.url}/accounts/login/", data=form, headers={"Referer": self.url + "/"}, timeout=10)
        assert reply.status_code == 200 and "sessionid" in browser.cookies
        return browser

    def migrate(self) -> None:
        """`manage.py migrate`, as `make run` does first. A server on SQLite copies the session's migrated folder;
        one on a database postgres_url cloned from a migrated one needs only the secret key that migrate writes."""
        database_url = self.env.get("DATABASE_URL")
        if database_url is not None and urlsplit(database_url).path.lstrip("/") in MIGRATED_POSTGRES_DATABASES:
            if "SECRET_KEY" not in self.env:
                from removal.management.commands.migrate import secret_key_write

                secret_key_write(self.data_dir / "secret_key")
        elif self.migrated_template is not None and not {"DATABASE_URL", "SECRET_KEY"} & self.env.keys():
            shutil.copytree(self.migrated_template, self.data_dir, dirs_exist_ok=True)
        else:
            self.manage("migrate", "--noinput", "-v", "0")
        self.sample_placed()
        self.migrated = True

    def sample_placed(self) -> None:
        """The template's first-screen sample in this server's media folder (whatever its database; on S3 unused)
        where sample_made, none where not. A server migrated on its own (no template: `make bench`'s, in a process
        without Django's settings) is left as it is: removal's services are not imported for it."""
        if self.sample_made and self.migrated_template is None:
            return
        from removal.services.sample import SAMPLES_FOLDER

        samples = self.data_dir / "media" / SAMPLES_FOLDER
        if not self.sample_made:
            shutil.rmtree(samples, ignore_errors=True)
        elif self.migrated_template is not None:
            shutil.copytree(self.migrated_template / "media" / SAMPLES_FOLDER, samples, dirs_exist_ok=True)

    def start(self, timeout: float = 60) -> None:
        if not self.migrated:  # a restart finds its database migrated
            self.migrate()
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bgsite.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--lifespan", "on", "--no-access-log"),
                *("--http", "bgsite.server:HttpProtocol", "--ws", "bgsite.server:WebSocketProtocol"),
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or too busy starting to answer
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.kept_shell is not None and self.kept_shell.running():
            self.kept_shell.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def models_run_on(url: str) -> list[Any]:
    """What the server at `url` says the models run on: providers, layout, max_batch and workers, which /readyz and
    /api/v1/models say alike (an AssertionError where they differ)."""
    model_check = requests.get(f"{url}/readyz", timeout=30).json()["checks"]["model"]
    models = requests.get(f"{url}/api/v1/models", timeout=30).json()
    said = [
        [reply.get(name) for name in ("providers", "layout", "max_batch", "workers")] for reply in (model_check, models)
    ]
    assert said[0] == said[1]
    return said[0]


def sample_when_made(url: str, *, timeout: float) -> requests.Response:
    """The first screen's sample cutout once the server has it (its 503 says when to ask again), or its last reply
    when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while (reply := requests.get(f"{url}/sample/cutout.png", timeout=30)).status_code == 503:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return reply


def mid_batch(rows: dict[str, dict[str, Any]]) -> bool:
    """Item rows (by filename) with a result made, an item in a worker's hands and another waiting."""
    return {"done", "processing", "queued"} <= {row["status"] for row in rows.values()}


def frozen_when[State](
    process: subprocess.Popen[Any], read: Callable[[], State], ready: Callable[[State], bool], *, timeout: float = 120
) -> State:
    """Stop `process` (SIGSTOP) once what `read` returns is `ready`, and return what it returns while stopped.

    A SIGKILL then leaves exactly that state behind. Reading and then killing would
    race the process: it may finish its item in between (CI once saw that). If it
    moved on between the two reads, it runs again and the wait goes on.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(read()):
            process.send_signal(signal.SIGSTOP)
            state = read()
            if ready(state):
                return state
            process.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"the process never reached the state to stop it in: {read()}")


SAMPLE_MADE = (
    "from django.conf import settings\n"
    "from removal.services.sample import sample_cutout_make\n"
    "sample_cutout_make(model=settings.REMBG_MODEL)\n"
)


@pytest.fixture(scope="session")
def migrated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder `manage.py migrate` made on SQLite (its database and secret key), with the first screen's sample
    cut out by the default model in its media folder, once per session: copied instead of migrating again, and of
    making the sample again in each server with worker threads (a cutout's half second of CPU at its start)."""
    template = tmp_path_factory.mktemp("migrated")
    env = {**os.environ, "DATA_DIR": str(template), "DJANGO_SETTINGS_MODULE": "bgsite.settings"}
    run_manage(env, "migrate", "-v", "0")
    run_manage(env, "shell", "-v", "0", "-c", SAMPLE_MADE)
    return template


@pytest.fixture(scope="session")
def server_factory(migrated_data_dir: Path) -> Iterator[Any]:
    """Make servers with their own data folder; all are stopped at the end."""
    servers: list[LiveServer] = []
    root = Path(tempfile.mkdtemp(prefix="bgsite-live-"))

    def make(*, sample_made: bool = True, **env_overrides: str) -> LiveServer:
        server = LiveServer(data_dir=root / f"server-{len(servers)}", env_overrides=env_overrides)
        server.migrated_template, server.sample_made = migrated_data_dir, sample_made
        server.data_dir.mkdir()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_server(server_factory: Any) -> LiveServer:
    """One embedded server (2 worker threads) shared by the live tests."""
    server = server_factory()
    server.start()
    return server


# --- S3 (moto's server mode, over real HTTP) -----------------------------------


@dataclass
class S3Server:
    endpoint: str
    bucket: str = "bgsite-test"

    @property
    def env(self) -> dict[str, str]:
        """The settings a bgsite process needs to use this bucket."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def start_s3_server(bucket: str) -> tuple[S3Server, subprocess.Popen[bytes]]:
    """moto's S3 server in its own process on a free port, with an empty bucket."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if executable is None:
        require_or_skip("moto_server not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket=bucket)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(server.endpoint, timeout=5)
            break
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still importing on a busy machine
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                require_or_skip("moto_server did not start")
            time.sleep(0.1)
    server.client().create_bucket(Bucket=server.bucket)
    return server, process


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3 server shared by the session's tests."""
    server, process = start_s3_server("bgsite-test")
    yield server
    process.terminate()
    process.wait(10)


# --- PostgreSQL and Redis (the machine's own services) ---------------------------

# Debian's Chromium, which Playwright drives for the browser tests and `make bench`'s page phase.
CHROMIUM = Path("/usr/bin/chromium")


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium as this machine runs it: as root, no GPU, and no calls home on a closed network."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    )


# Browser tests skipped in this run for want of Chromium: said again in the run's last lines.
_browser_tests_skipped: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "browser" in report.keywords and "chromium not installed" in str(report.longrepr):
        _browser_tests_skipped.add(report.nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's own summary: how many browser tests were skipped, and the one command that fixes it."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if _browser_tests_skipped and reporter is not None:
        reporter.write_line(
            f"{len(_browser_tests_skipped)} browser tests were skipped: {CHROMIUM} is missing. "
            "Install it with `apt-get install chromium` (as root; `make test` does so itself when run as root).",
            yellow=True,
            bold=True,
        )


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# pytest-xdist's workers (gw0, gw1, ...) each take a database of their own, counting down from that one.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
if _WORKER:
    _base, _, _db = REDIS_TEST_URL.rpartition("/")
    REDIS_TEST_URL = f"{_base}/{(int(_db) - _WORKER) % 16}"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Any]:
    """An autocommit connection to the machine's PostgreSQL, for creating test databases."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_or_skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        yield admin


def postgres_database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


# The migrated databases that templates are named after: this prefix, then the pid and start (Unix time) of the
# admin session (postgres_admin) of the test run that made it, which keeps it as long as that session lasts.
MIGRATED_TEMPLATE_PREFIX = "bgsite_migrated_"
TEMPLATE_OWNER = f"'{MIGRATED_TEMPLATE_PREFIX}' || pid || '_' || extract(epoch FROM backend_start)::bigint"
# The databases postgres_url cloned from that template: a live server on one does not migrate it again.
MIGRATED_POSTGRES_DATABASES: set[str] = set()


def stale_templates_dropped(admin: Any) -> None:
    """Drop the templates of earlier test runs whose admin session is gone (a run killed before its end)."""
    import psycopg

    stale = admin.execute(
        # pg_database's datname by its alias: pg_stat_activity has a datname of its own (the database a session is
        # in), which an unqualified name in the subquery reads, so every run took the other workers' templates.
        "SELECT d.datname FROM pg_database AS d WHERE starts_with(d.datname, %s) "
        f"AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE {TEMPLATE_OWNER} = d.datname)",
        [MIGRATED_TEMPLATE_PREFIX],
    ).fetchall()
    for (name,) in stale:
        with suppress(psycopg.Error):  # another run dropping it at the same time
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_migrated_template(postgres_admin: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database `manage.py migrate` made, once per session (per xdist worker), for postgres_url to clone
    (0.1 s, where migrating takes 3); dropped at the end. It takes no connections: cloning needs it unused."""
    stale_templates_dropped(postgres_admin)
    own = f"SELECT {TEMPLATE_OWNER} FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    name = postgres_admin.execute(own).fetchone()[0]
    postgres_admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {
            **os.environ,
            "DATA_DIR": str(tmp_path_factory.mktemp("postgres-template")),
            "DJANGO_SETTINGS_MODULE": "bgsite.settings",
            "DATABASE_URL": postgres_database_url(name),
            "SECRET_KEY": "postgres-template",
        }
        run_manage(env, "migrate", "--noinput", "-v", "0")
        postgres_admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        yield name
    finally:
        postgres_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def new_postgres_database(admin: Any, *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database, empty or a copy of `template`: its URL; dropped after."""
    import uuid

    name = f"bgsite_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield postgres_database_url(name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_admin: Any, postgres_migrated_template: str) -> Iterator[str]:
    """A new PostgreSQL database for one test, migrated (a copy of the session's postgres_migrated_template); dropped
    after it."""
    with new_postgres_database(postgres_admin, template=postgres_migrated_template) as url:
        MIGRATED_POSTGRES_DATABASES.add(urlsplit(url).path.lstrip("/"))
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: Any, tmp_path: Path) -> dict[str, str]:
    """The environment of a process on a new database, migrated (a copy of the session's), for the tests of requests
    at once in a process of their own: SQLite in a data folder, or PostgreSQL."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bgsite.settings", "DATA_DIR": str(tmp_path), "SECRET_KEY": "x"}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    else:
        shutil.copytree(request.getfixturevalue("migrated_data_dir"), tmp_path, dirs_exist_ok=True)
    return env


def python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)


LIMITED_CONNECTIONS = 3


@pytest.fixture
def limited_postgres_url(postgres_admin: Any, postgres_url: str) -> Iterator[str]:
    """The test's database, owned by a role of its own that PostgreSQL lets open LIMITED_CONNECTIONS at once."""
    import psycopg

    parts = urlsplit(postgres_url)
    database = parts.path.lstrip("/")
    role = f"{database}_limited"
    postgres_admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {LIMITED_CONNECTIONS}')
    postgres_admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
    with psycopg.connect(postgres_url, autocommit=True) as db:  # and its tables, as if the role had migrated it
        for (table,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
            db.execute(f'ALTER TABLE "{table}" OWNER TO "{role}"')
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    with psycopg.connect(postgres_url, autocommit=True) as db:  # as the admin, inside the database
        db.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
        db.execute(f'DROP OWNED BY "{role}"')
    postgres_admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def empty_postgres_url(postgres_admin: Any) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (one about migrating it); dropped after it."""
    with new_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis on this machine (database 15, emptied first)."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        require_or_skip(f"Redis not reachable at {REDIS_TEST_URL}: {exc}")
    return REDIS_TEST_URL


def error_text(path: str, reply: Any) -> str:
    """The error message of an API's refusal, in the shape of the API at `path` (remove.bg's title, else "error")."""
    body = reply.json()
    if f"{path}/".startswith("/v1.0/"):
        return str(body["errors"][0]["title"])
    assert body["status"] == reply.status_code
    return str(body["error"])
