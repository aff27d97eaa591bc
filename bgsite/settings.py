"""bgsite settings: every environment variable is read here and nowhere else.

Defaults give the embedded single-process setup that `make run` starts (SQLite,
in-memory channel layer, local media under DATA_DIR, two worker threads inside
the web process). The scaled setup is the same code with DATABASE_URL,
REDIS_URL and the AWS_* variables set; see docs/deploy.md and .env.example.
"""

import os
import re
import secrets
import warnings
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from bgsite import cors
from bgsite.channel_layer import redis_channel_layer
from bgsite.environment import Env, check_limits
from bgsite.logging_config import logging_config
from bgsite.networks import IPNetwork, origin, parse_networks
from removal.cutout.results import DEFAULT_REVIEW_BELOW

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()
# A .env file next to manage.py, if present, provides defaults; real environment
# variables win. See .env.example for every variable.
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()


def _networks(name: str) -> list[IPNetwork]:
    """A comma-separated list of CIDRs, parsed here once: a bad one stops the process at start."""
    try:
        return parse_networks(env.list(name, default=[]))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc} (give comma-separated CIDRs, e.g. 10.0.0.0/8,fd00::/8)") from None


# Signs sessions and CSRF tokens. Set it, with one value, for web processes that do not share DATA_DIR. Otherwise
# `manage.py migrate`, which every way of starting bgsite runs first, writes one into DATA_DIR once
# (removal/management/commands/migrate.py) and this reads it. A process that finds neither (a test run, a tool
# importing these settings) signs with a random key of its own; check removal.W003 says so. Importing writes nothing.
SECRET_KEY = env.str("SECRET_KEY", default="")
SECRET_KEY_FILE = None if SECRET_KEY else DATA_DIR / "secret_key"
if SECRET_KEY_FILE is not None and SECRET_KEY_FILE.is_file():
    SECRET_KEY = SECRET_KEY_FILE.read_text().strip()
SECRET_KEY = SECRET_KEY or secrets.token_urlsafe(50)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    # Before auth: our `manage.py createsuperuser` (refusing a taken e-mail address) replaces auth's.
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "removal.apps.JobQueueConfig",  # django_tasks_db, named in the reader's language
    "corsheaders",
    # Before channels: our `manage.py runworker` (the image workers) replaces
    # channels' command of the same name, which bgsite does not use.
    "removal",
    "channels",
]

MIDDLEWARE = [
    "bgsite.access_log.access_log_middleware",
    "bgsite.forwarded.untrusted_proxy_middleware",  # warns when a proxy's X-Forwarded-* is ignored
    # Before anything reads a multipart body's fields: a part that holds a file without a filename is a file.
    "bgsite.filenameless_parts.filenameless_parts_middleware",
    "corsheaders.middleware.CorsMiddleware",  # before anything that may answer: its replies carry CORS headers
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the language is the picker's cookie, else Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "bgsite.time_zones.time_zone_middleware",  # times in the browser's zone (its cookie), else TIME_ZONE
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check: a method the view does not take is its 405, not the CSRF check's 403 for a form.
    "bgsite.allowed_methods.AllowedMethodsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, so that the language is chosen: Django's bare 405 becomes the site's page, or the API's shape.
    "removal.web.error_pages.method_not_allowed_middleware",
]

ROOT_URLCONF = "bgsite.urls"
ASGI_APPLICATION = "bgsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "accounts.context_processors.signup",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in DATA_DIR unless DATABASE_URL is set (e.g. postgres://...).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker and request threads write concurrently: WAL lets readers go on during a write, IMMEDIATE takes the
    # write lock up front instead of failing mid-transaction, and the timeout waits for it rather than raising.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # 0: each request gives its connection back when it ends. Under ASGI every request runs in a thread
    # of its own, so a connection kept for later (Django's docs: disable persistent connections with
    # ASGI) is never reused: 32 clients at once piled them up until PostgreSQL refused more.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Jobs: Django's tasks framework on the durable database backend.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# Channels and the cache (rate-limit counters): in-memory inside one process, Redis when REDIS_URL is set (the
# cache's pool one per process, not per request: removal/ops/redis_cache.py).
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CACHES: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    redis_cache = {"BACKEND": "removal.ops.redis_cache.FailOpenRedisCache", "LOCATION": REDIS_URL}
    CACHES = {"default": {**redis_cache, "OPTIONS": {"pool_class": "removal.ops.redis_cache.ProcessRedisPool"}}}

# Storage: local files under DATA_DIR/media, or S3 when a bucket is named.
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"  # never served directly: files are private, see removal.web.views
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_SIGNATURE_VERSION = "s3v4"  # presigned links that every region accepts
# A bucket that hangs (no answer) held each upload, call and /readyz 5 minutes (botocore: 60 s a read, 5 tries): the
# client removal.storage makes gives up within this a read, after 2 tries.
AWS_S3_TIMEOUT_SECONDS = env.float("AWS_S3_TIMEOUT_SECONDS", default=10)
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    # Where browsers and clients reach the bucket, if not at AWS_S3_ENDPOINT_URL (compose: http://localhost:9000).
    AWS_S3_PUBLIC_ENDPOINT_URL = env.str("AWS_S3_PUBLIC_ENDPOINT_URL", default="") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=3600)
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    default_storage = {"BACKEND": "removal.storage.LinkingS3Storage"}
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the source folders: no collectstatic step to forget, and no STATIC_ROOT.
WHITENOISE_USE_FINDERS = True
# Django's ASGI handler reads WhiteNoise's synchronous file iterators whole (fine for static files) and warns each time.
warnings.filterwarnings("ignore", "StreamingHttpResponse must consume synchronous iterators", Warning)
WHITENOISE_AUTOREFRESH = DEBUG

# Django's rules, listed under a new password in this site's words (accounts/password_validation.py).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"accounts.password_validation.{rule}Validator"}
    for rule in ("UserAttributeSimilarity", "MinimumLength", "CommonPassword", "NumericPassword")
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_ENGINE = "accounts.sessions"  # database sessions that know their user and browser (the account page)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE  # the language picker's cookie too
# Strict-Transport-Security on HTTPS replies: browsers then refuse plain HTTP to this
# host for that many seconds. Off (0) by default; turn on once HTTPS works for good.
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=0)
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy: no inline script, nothing from other sites, except
# result images that S3 storage serves through presigned links.
_image_sources = [CSP.SELF, "data:", "blob:"]
if AWS_STORAGE_BUCKET_NAME:
    _bucket_url = AWS_S3_PUBLIC_ENDPOINT_URL or AWS_S3_ENDPOINT_URL
    _image_sources.append(origin(_bucket_url) if _bucket_url else "https://*.amazonaws.com")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": _image_sources,
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True

# The pages, e-mails and account pages speak these languages (catalogs in locale/, see
# docs/translations.md); the API's error texts stay English for keyed calls, as programs parse them.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the picker's choice outlives the session
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Accounts -----------------------------------------------------------------
# Who may create an account: `open` (anyone, the default), `closed` (nobody; staff create
# users in the admin) or `invite` (only with an invitation link, made in the admin or by
# `manage.py invite`, used once and expiring after INVITATION_DAYS).
SIGNUP = env.str("SIGNUP", default="open").lower()
if SIGNUP not in ("open", "closed", "invite"):
    raise ImproperlyConfigured("SIGNUP must be open, closed or invite")
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
# Mail: EMAIL_URL names the SMTP server (smtp://user:password@host:587; STARTTLS smtp+tls://, TLS smtp+ssl://). Unset,
# mail is printed on the console, its links whole, so `make run` shows the reset link among its logs (bgsite/mail.py).
_email = env.email_url("EMAIL_URL", default="consolemail://")
_ours = {"console": "bgsite.mail.ConsoleBackend", "smtp": "bgsite.mail.SmtpBackend"}
_backend = _ours.get(_email["EMAIL_BACKEND"].split(".")[-2], _email["EMAIL_BACKEND"])
_smtp = _backend == _ours["smtp"]
_smtp_options = {
    "host": _email["EMAIL_HOST"] or "localhost",
    "port": _email["EMAIL_PORT"] or 25,
    "username": _email["EMAIL_HOST_USER"] or "",
    "password": _email["EMAIL_HOST_PASSWORD"] or "",
    "use_tls": _email.get("EMAIL_USE_TLS", False),
    "use_ssl": _email.get("EMAIL_USE_SSL", False),
    "timeout": env.int("EMAIL_TIMEOUT", default=10),
}
MAILERS = {"default": {"BACKEND": _backend, "OPTIONS": _smtp_options if _smtp else {}}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="bgsite <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How long a password-reset link works.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

# --- Processing ---------------------------------------------------------------
# Worker threads started inside the web process (the embedded default). Set 0 for
# a web-only process and run `manage.py runworker` separately.
EMBEDDED_WORKERS = env.int("EMBEDDED_WORKERS", default=2)
# Threads of one `manage.py runworker` process, each with its own model session.
WORKER_THREADS = env.int("WORKER_THREADS", default=2)
# How often an idle worker looks for jobs queued by other processes; jobs queued
# in the same process wake its workers at once.
WORKER_POLL_SECONDS = env.float("WORKER_POLL_SECONDS", default=0.5)
# A processing item whose lease is not renewed for this long is taken to belong
# to a dead worker and is queued again.
ITEM_LEASE_SECONDS = env.int("ITEM_LEASE_SECONDS", default=60)
ITEM_MAX_ATTEMPTS = env.int("ITEM_MAX_ATTEMPTS", default=3)
# Every this many seconds, web and worker processes hand the C heap's free pages back to the system
# (glibc's malloc_trim; removal.ops.heap): without it a server's resident memory climbs with the
# calls it has served (docs/benchmarks.md#back-pressure). 0: never.
HEAP_TRIM_SECONDS = env.float("HEAP_TRIM_SECONDS", default=10)
# At most this many malloc arenas for a process's threads (glibc's 0: 8 per core), to reuse freed memory (ops.heap).
HEAP_ARENAS = env.int("HEAP_ARENAS", default=2)
# Days uploads, cutouts, /store images and job records are kept (purge_expired, hourly in workers); 0: for ever.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
# Seconds a removed image's files and replaced revisions stay for downloads under way (files_delete_later); 0: none.
DELETED_FILES_KEPT_SECONDS = env.int("DELETED_FILES_KEPT_SECONDS", default=600)

# u2netp-int8: the bundled u2netp quantized at setup (scripts/quantize_model.py), as good as
# u2netp on the quality guard (docs/quality.md); up to 2.7x as fast (1.6x on a CPU with AVX2 but no VNNI).
REMBG_MODEL = env.str("REMBG_MODEL", default="u2netp-int8")
# The second model quality=best averages in, when it is installed (manage.py models pull u2net, then
# models quantize u2net); empty for none. Measured on real photos in docs/quality.md.
QUALITY_BEST_PARTNER = env.str("QUALITY_BEST_PARTNER", default="u2net-int8")
# A cutout less sure than this (its confidence, 0-1, see docs/quality.md) is flagged for a person's
# look until someone edits or reviews it; read at query time, so a change applies to existing items.
REVIEW_CONFIDENCE_BELOW = env.float("REVIEW_CONFIDENCE_BELOW", default=DEFAULT_REVIEW_BELOW)
# Each worker thread runs the model on one thread (the best throughput); an image that is the only one in progress
# in its process runs on this many instead (a lone /bgremove call's latency). Default: the CPUs it may use; 1: off.
ORT_SOLO_THREADS = env.int("ORT_SOLO_THREADS", default=len(os.sched_getaffinity(0)))
# ONNX Runtime's execution providers for the models: `auto` (CUDA when this onnxruntime has it, i.e.
# onnxruntime-gpu from requirements-gpu.txt, else the CPU), or a list such as `cuda,cpu` or `CPUExecutionProvider`.
ORT_PROVIDERS = env.list("ORT_PROVIDERS", default=["auto"])
# How worker threads share the model sessions: `per-thread` (each its own single-threaded session, plus the
# solo session: the fastest on CPU cores), `shared` (one session per model for the whole process, the images
# of concurrent threads run together in one batch where the model allows: for a GPU, which N sessions would
# fill with N copies of the weights and contend for), or `auto`: shared when the first provider is not the CPU.
# Checked at start-up (removal.cutout.providers.configure).
ORT_LAYOUT = env.str("ORT_LAYOUT", default="auto").lower()
# Shared layout: at most this many images per run of a model, and how long (ms) the first waiting image
# waits for others to join its batch. 1 (no batches) by default: on CUDA each change of batch size makes cuDNN
# choose its convolutions again, 0.24-1.5 s a time on an H200, which cost more than batches saved (docs/benchmarks.md).
ORT_MAX_BATCH = env.int("ORT_MAX_BATCH", default=1)
ORT_BATCH_WAIT_MS = env.float("ORT_BATCH_WAIT_MS", default=5)
# The GIL's switch interval (ms) in a process of worker threads. Unset: 1 on the shared layout (a GPU), where the
# threads take the GIL back after every few-ms model run (0-14 % more bulk on an H200), else Python's own (5).
GIL_SWITCH_INTERVAL_MS = env.float("GIL_SWITCH_INTERVAL_MS", default=None)
U2NET_HOME = Path(env.str("U2NET_HOME", default=str(BASE_DIR / ".cache" / "u2net"))).resolve()
# zlib-ng's deflate level for PNG cutouts (removal/cutout/png.py): 3, its DEFAULT_LEVEL, makes
# smaller files than rembg's in a third of the time of Pillow's level 1 (docs/benchmarks.md).
PNG_COMPRESS_LEVEL = env.int("PNG_COMPRESS_LEVEL", default=3)
# The output format when a request names none: png (PixLab's and remove.bg's clients expect
# it), webp, jpg, gif or zip.
DEFAULT_FORMAT = env.str("DEFAULT_FORMAT", default="png").lower()

# --- Metrics ------------------------------------------------------------------
# /metrics answers "Authorization: Bearer <METRICS_TOKEN>", or a REMOTE_ADDR in METRICS_ALLOWED_NETWORKS
# (CIDRs; see docs/deploy.md#metrics). With neither set, /metrics is off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS")
# A folder shared by the web and worker processes of one host, emptied before they start, where each
# keeps its counters for /metrics to add up. Unset: /metrics reports its own process only.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# --- Limits -------------------------------------------------------------------
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25_000_000)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=50_000_000)
MAX_FILES_PER_REQUEST = env.int("MAX_FILES_PER_REQUEST", default=100)
MAX_ITEMS_PER_BATCH = env.int("MAX_ITEMS_PER_BATCH", default=1000)
# Animated GIF/WebP/PNG: at most this many frames (and MAX_IMAGE_PIXELS across all of them).
MAX_ANIMATION_FRAMES = env.int("MAX_ANIMATION_FRAMES", default=300)
# Videos (MP4, MOV, WebM): at most this long, and MAX_ANIMATION_FRAMES frames.
MAX_VIDEO_SECONDS = env.float("MAX_VIDEO_SECONDS", default=10)
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_FILES_PER_REQUEST
# Past its first BODY_RATE_GRACE_SECONDS a request body must have brought BODY_MIN_BYTES_PER_SECOND for each further
# second (0: no such bound), else 408 (removal.web.body_limit): a client that sent a byte now and then, never idle
# for the 30 s that refuse a stalled body, held its connection and its request for as long as it liked.
BODY_MIN_BYTES_PER_SECOND = env.int("BODY_MIN_BYTES_PER_SECOND", default=10_000)
BODY_RATE_GRACE_SECONDS = env.float("BODY_RATE_GRACE_SECONDS", default=60)
BATCHES_PER_PAGE = 20

# API rate limits ("<count>/<s|m|h|d>" per key and per user), a daily image quota per user (0: none), MB /store keeps
# of a user's uploads in 24 hours (0: no limit), and the queued images past which new work gets a 503.
RATE_LIMIT_PER_KEY = env.str("RATE_LIMIT_PER_KEY", default="120/m")
RATE_LIMIT_PER_USER = env.str("RATE_LIMIT_PER_USER", default="240/m")
DAILY_IMAGE_QUOTA = env.int("DAILY_IMAGE_QUOTA", default=0)
STORE_DAILY_MB = env.int("STORE_DAILY_MB", default=5_000)
MAX_QUEUED_ITEMS = env.int("MAX_QUEUED_ITEMS", default=20_000)
# One account's share of that queue (0: none): past it, that account's new work is refused (429) while
# others' is taken.
MAX_QUEUED_ITEMS_PER_USER = env.int("MAX_QUEUED_ITEMS_PER_USER", default=5_000)
RATELIMIT_ENABLE = env.bool("RATE_LIMITS_ENABLED", default=True)
# Per client address: log-in attempts (and per username: password guessing), password-reset requests (and per
# address asked for: each sends a mail), accounts made (each brings its own quota and rate limits).
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/m")
PASSWORD_RESET_RATE_LIMIT = env.str("PASSWORD_RESET_RATE_LIMIT", default="5/h")
SIGNUP_RATE_LIMIT = env.str("SIGNUP_RATE_LIMIT", default="10/h")
RATELIMIT_FAIL_OPEN = True  # a cache outage must not take the API down
for _name in [name for name in list(globals()) if "RATE_LIMIT" in name]:  # each rate above
    if not re.fullmatch(r"\d+/\d*[smhd]", globals()[_name]):
        raise ImproperlyConfigured(f'{_name} must look like "120/m" (count per s, m, h or d)')

# Webhooks ("callback_url" on a batch): attempts, and the first retry's delay (doubling after each failure).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_RETRY_SECONDS = env.float("WEBHOOK_RETRY_SECONDS", default=30)

# /bgremove: how long a caller waits for its cutout before a 504 (the job still
# finishes and counts in usage), and how `img` URLs are fetched.
BGREMOVE_TIMEOUT_SECONDS = env.float("BGREMOVE_TIMEOUT_SECONDS", default=60)
# /bgremove and /v1.0/removebg together: at most this many calls of one web process wait for their
# cutout; the next one is answered 503 with Retry-After at once (the batch API keeps queueing). The
# default is what 2 worker threads on 2 cores finish in about 10 s (docs/benchmarks.md#back-pressure).
MAX_WAITING_CUTOUTS = env.int("MAX_WAITING_CUTOUTS", default=24)
FETCH_TIMEOUT_SECONDS = env.float("FETCH_TIMEOUT_SECONDS", default=15)
FETCH_MAX_REDIRECTS = env.int("FETCH_MAX_REDIRECTS", default=5)
# Only public addresses are fetched; list internal image hosts' networks here
# (comma-separated CIDRs, e.g. "10.1.2.0/24,fd00:1::/64") to allow them.
FETCH_ALLOWED_NETWORKS = _networks("FETCH_ALLOWED_NETWORKS")
# Origins ("https://app.example.com") whose pages may call the APIs with an API key (bgsite/cors.py); none by default.
CORS_ALLOWED_ORIGINS = [name.strip() for name in env.list("CORS_ALLOWED_ORIGINS", default=[]) if name.strip()]
CORS_URLS_REGEX, CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS = cors.API_PATHS, cors.REQUEST_HEADERS, cors.REPLY_HEADERS

check_limits(globals())  # each limit within its range, or the start stops naming it

# Plain lines, or LOG_FORMAT=json: one JSON object a line, for log shippers (docs/deploy.md#logs).
LOGGING = logging_config(env.str("LOG_LEVEL", default="INFO"), log_format=env.str("LOG_FORMAT", default="plain"))
