"""bgsite/settings.py reads and writes nothing of its own; `manage.py migrate` makes DATA_DIR and its secret key."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bgsite.networks import origin
from removal.ops import checks
from tests.conftest import REPO, run_manage


def settings_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "bgsite.settings"}
    env.pop("SECRET_KEY", None)
    return env


def python_with_settings(data_dir: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh Python with the settings' environment plus `env`: how a process starts."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**settings_env(data_dir), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_importing_the_settings_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(len(settings.SECRET_KEY))"],
        cwd=REPO,
        env=settings_env(data_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout) >= 50, "a process without a key file signs with a random key of its own"
    assert not data_dir.exists()


def test_migrate_makes_the_data_folder_and_one_secret_key_that_later_processes_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = settings_env(data_dir)
    run_manage(env, "migrate", "--noinput", "-v", "0")
    key_file = data_dir / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in data_dir.iterdir()) == ["db.sqlite3", "secret_key"]
    run_manage(env, "migrate", "--noinput", "-v", "0")
    assert key_file.read_text() == key, "a second migrate keeps the key"
    read = run_manage(env, "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    assert read.strip().splitlines()[-1] == key


def test_a_secret_key_from_the_environment_writes_no_file(tmp_path: Path, migrated_data_dir: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(migrated_data_dir / "db.sqlite3", data_dir)  # its database only: migrating it again is quick
    run_manage({**settings_env(data_dir), "SECRET_KEY": "set-by-the-operator"}, "migrate", "--noinput", "-v", "0")
    assert not (data_dir / "secret_key").exists()


def test_check_warns_when_a_process_signs_with_a_key_of_its_own(settings: Any, tmp_path: Path) -> None:
    settings.SECRET_KEY_FILE = tmp_path / "secret_key"
    assert [message.id for message in checks.secret_key_kept()] == ["removal.W003"]
    settings.SECRET_KEY_FILE.write_text("kept")
    assert checks.secret_key_kept() == []
    settings.SECRET_KEY_FILE = None  # SECRET_KEY came from the environment
    assert checks.secret_key_kept() == []


@pytest.mark.parametrize("name", ["METRICS_ALLOWED_NETWORKS", "FETCH_ALLOWED_NETWORKS"])
def test_a_bad_cidr_stops_the_process_at_start(tmp_path: Path, name: str) -> None:
    def read(value: str) -> subprocess.CompletedProcess[str]:
        return python_with_settings(
            tmp_path / "data", f"from django.conf import settings; print(settings.{name})", **{name: value}
        )

    good = read("10.0.0.0/8, fd00::/8,::ffff:0:0/96")
    assert good.returncode == 0, good.stderr
    assert "IPv4Network('10.0.0.0/8'), IPv6Network('fd00::/8'), IPv6Network('::ffff:0:0/96')" in good.stdout
    bad = read("10.0.0.0/8,10.0.0.300/8")
    assert bad.returncode != 0
    assert f"ImproperlyConfigured: {name}: '10.0.0.300/8' does not appear to be an IPv4 or IPv6 network" in bad.stderr


def test_an_unknown_ort_layout_stops_the_process_at_start(tmp_path: Path) -> None:
    done = python_with_settings(tmp_path, "import django; django.setup()", ORT_LAYOUT="gpu")
    assert done.returncode != 0
    assert "ImproperlyConfigured: ORT_LAYOUT='gpu' is not a layout: use auto, per-thread, shared" in done.stderr


def test_an_unknown_signup_mode_stops_the_process_at_start(tmp_path: Path) -> None:
    done = python_with_settings(tmp_path, "import django; django.setup()", SIGNUP="maybe")
    assert done.returncode != 0
    assert "ImproperlyConfigured: SIGNUP must be open, closed or invite" in done.stderr


@pytest.mark.parametrize("name", ["DAILY_IMAGE_QUOTA", "STORE_DAILY_MB", "MAX_QUEUED_ITEMS_PER_USER"])
def test_a_negative_limit_stops_the_process_at_start(tmp_path: Path, name: str) -> None:
    # DAILY_IMAGE_QUOTA=-1 was no quota on the account page and "daily quota of -1 credits reached" for every image.
    done = python_with_settings(tmp_path, "import django; django.setup()", **{name: "-1"})
    assert done.returncode != 0
    assert f"ImproperlyConfigured: {name} must be 0 (no limit) or a positive integer" in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RATE_LIMITS_ENABLED", "ture", "must be true or false (or yes/no, on/off, 1/0), not 'ture'"),
        ("REVIEW_CONFIDENCE_BELOW", "60%", "must be a number such as 0.5, not '60%'"),
        ("WORKER_THREADS", "two", "must be a whole number, not 'two'"),
    ],
)
def test_a_value_that_is_not_a_yes_no_or_a_number_stops_the_process_at_start(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    """django-environ read 'ture' as false (the rate limits off) and '60%' as 60.0 (every cutout flagged)."""
    done = python_with_settings(tmp_path, "import django; django.setup()", **{name: value})
    assert done.returncode != 0
    assert f"ImproperlyConfigured: {name} {says}" in done.stderr


def test_a_blank_value_is_the_default(tmp_path: Path) -> None:
    """As .env.example shows some (ORT_SOLO_THREADS=): a blank number stopped the start with a bare ValueError, a
    blank yes/no was no (RATE_LIMITS_ENABLED= turned the rate limits off)."""
    read = "import django; django.setup(); from django.conf import settings as s; "
    read += "print(s.RATELIMIT_ENABLE, s.WORKER_THREADS)"
    done = python_with_settings(tmp_path, read, ORT_SOLO_THREADS="", RATE_LIMITS_ENABLED=" ", WORKER_THREADS="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "2"]


def test_email_url_configures_the_default_mailer(tmp_path: Path) -> None:
    def mailer(**env: str) -> str:
        done = python_with_settings(
            tmp_path, "from django.conf import settings; print(settings.MAILERS['default'])", **env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert mailer() == "{'BACKEND': 'bgsite.mail.ConsoleBackend', 'OPTIONS': {}}"  # links printed whole
    smtp = mailer(EMAIL_URL="smtp+tls://bgsite:p%40ss@mail.example.com:587", EMAIL_TIMEOUT="5")
    assert smtp == (
        "{'BACKEND': 'bgsite.mail.SmtpBackend', 'OPTIONS': {'host': 'mail.example.com', "
        "'port': 587, 'username': 'bgsite', 'password': 'p@ss', 'use_tls': True, 'use_ssl': False, 'timeout': 5}}"
    )


def test_result_images_from_the_bucket_are_allowed_by_the_content_security_policy(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(' '.join(settings.SECURE_CSP['img-src']))"
    bucket = {"AWS_STORAGE_BUCKET_NAME": "cutouts", "AWS_S3_ENDPOINT_URL": "http://minio:9000/"}
    public = python_with_settings(tmp_path, code, **bucket, AWS_S3_PUBLIC_ENDPOINT_URL="https://files.example:8443/x")
    assert public.stdout.split()[-1] == "https://files.example:8443", public.stderr


def test_an_origin_is_the_scheme_and_host_with_its_port() -> None:
    assert origin("http://minio:9000/bucket/key?x=1") == "http://minio:9000"
    assert origin("https://files.example") == "https://files.example"


def test_cors_origins_are_read_without_the_spaces_around_them(tmp_path: Path) -> None:
    """The ASGI door compares origins as listed: " https://b.test" would never match a browser's Origin."""
    done = python_with_settings(
        tmp_path,
        "from django.conf import settings; print(settings.CORS_ALLOWED_ORIGINS)",
        CORS_ALLOWED_ORIGINS="https://a.test, https://b.test:8443 ,",
    )
    assert done.stdout.strip() == "['https://a.test', 'https://b.test:8443']", done.stderr


def test_the_redis_channel_layer_reads_for_longer_than_its_receive_blocks(tmp_path: Path) -> None:
    """channels_redis waits for a message with a BZPOPMIN of `brpop_timeout` (5 s) at a time. A socket read timeout no
    longer than that (redis-py 8's default is 5 s) failed an idle receive within about 20 s: in the scaled setup
    every idle websocket closed with 1013, and a worker process stopped hearing of new jobs for ten minutes."""
    code = (
        "import django; django.setup(); from channels.layers import get_channel_layer; "
        "from channels_redis.utils import create_pool; layer = get_channel_layer(); "
        "connection = create_pool(dict(layer.hosts[0])).make_connection(); "
        "print(connection.socket_timeout, connection.socket_connect_timeout, layer.brpop_timeout)"
    )
    done = python_with_settings(tmp_path, code, REDIS_URL="redis://127.0.0.1:6379/7")
    assert done.returncode == 0, done.stderr
    read, connect, blocks = (float(value) for value in done.stdout.split())
    assert read > 2 * blocks
    assert connect <= 5  # an unreachable Redis is still found out at once (/readyz's channel-layer check)


def test_migrate_names_a_data_folder_it_cannot_write(tmp_path: Path) -> None:
    """`make run` stopped at migrate with SQLite's "unable to open database file" (a read-only DATA_DIR), or a
    traceback, naming no folder."""
    (tmp_path / "a-file").write_text("not a folder")
    data_dir = tmp_path / "a-file" / "data"
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=settings_env(data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"CommandError: DATA_DIR={data_dir} cannot be written (" in done.stderr
    assert "Give DATA_DIR a folder that the user running bgsite can write" in done.stderr


def test_secure_cookies_cover_the_language_pickers_cookie(tmp_path: Path) -> None:
    """Behind HTTPS (SECURE_COOKIES) every cookie the server sets is Secure: the language picker's was not."""
    names = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "LANGUAGE_COOKIE_SECURE")
    code = f"from django.conf import settings; print(*(getattr(settings, name) for name in {names}))"
    assert python_with_settings(tmp_path, code, SECURE_COOKIES="true").stdout.split() == ["True", "True", "True"]
    assert python_with_settings(tmp_path, code).stdout.split() == ["False", "False", "False"]
