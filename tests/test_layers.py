"""The layering the code keeps (docs/architecture.md): checked on the source, so a shortcut shows here.

Front doors (removal.web) -> domain (removal's own modules: models, services, selectors, tasks, ...)
-> image core (removal.cutout). Operations (removal.ops) sit beside the domain and may read it; the
core knows nothing of Django or of the layers above it.
"""

import ast
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REMOVAL = ROOT / "removal"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "removal":  # from removal import web -> removal.web
                names |= {f"removal.{alias.name}" for alias in node.names}
    return names


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Each file's imports that start with one of the forbidden prefixes (a package or a module)."""
    found = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if any(name == f or name.startswith(f"{f}.") for f in forbidden)
        )
        for path in paths
    }
    return {path: names for path, names in found.items() if names}


def domain_files() -> list[Path]:
    layers = {REMOVAL / "cutout", REMOVAL / "web", REMOVAL / "ops", REMOVAL / "management", REMOVAL / "migrations"}
    return [path for path in REMOVAL.rglob("*.py") if not any(layer in path.parents for layer in layers)]


def test_accounts_never_imports_removal() -> None:
    """removal builds on accounts (keys, who is calling); the other way round would be a cycle."""
    assert offenders(list((ROOT / "accounts").rglob("*.py")), ("removal",)) == {}


def test_the_image_core_imports_no_django_and_no_layer_above_it() -> None:
    above = ("removal.web", "removal.ops", "django", "bgsite", "accounts", *_domain_modules())
    assert offenders(list((REMOVAL / "cutout").rglob("*.py")), above) == {}


def test_the_domain_never_imports_a_front_door() -> None:
    assert domain_files()  # the rule holds over something
    assert offenders(domain_files(), ("removal.web",)) == {}


def test_operations_never_import_a_front_door() -> None:
    assert offenders(list((REMOVAL / "ops").rglob("*.py")), ("removal.web",)) == {}


def test_services_never_import_the_tasks_that_wrap_them() -> None:
    """tasks.py -> services, one way: services enqueue by the task's stored path (removal.tasks.process_item)."""
    assert offenders(list((REMOVAL / "services").rglob("*.py")), ("removal.tasks",)) == {}
    assert "removal.services" in imported_modules(REMOVAL / "tasks.py")


def test_service_modules_import_each_other_without_a_cycle() -> None:
    graph = {
        path.stem: {name.rsplit(".", 1)[1] for name in imported_modules(path) if name.startswith("removal.services.")}
        for path in (REMOVAL / "services").glob("*.py")
        if path.stem != "__init__"
    }
    assert graph["batches"]  # they do import each other
    done: list[str] = []
    while pending := [name for name, needs in graph.items() if name not in done and needs <= set(done)]:
        done += pending
    assert sorted(done) == sorted(graph), f"a cycle among {sorted(set(graph) - set(done))}"


def test_services_enqueue_the_tasks_of_tasks_py() -> None:
    from removal import tasks
    from removal.services import files, queueing, webhooks

    assert files.queued_task(queueing.PROCESS_ITEM_TASK) is tasks.process_item
    assert files.queued_task(webhooks.DELIVER_WEBHOOK_TASK) is tasks.deliver_webhook


def test_the_image_core_imports_without_django_settings() -> None:
    """Every module of removal.cutout imports in a bare interpreter, and Django is not loaded by it."""
    script = (
        "import importlib, pkgutil, sys\n"
        "import removal.cutout as core\n"
        "names = [m.name for m in pkgutil.iter_modules(core.__path__, 'removal.cutout.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'bgsite')))\n"
        "print(len(names), loaded)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) >= 9 and loaded.strip() == "[]"


def _domain_modules() -> tuple[str, ...]:
    names = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for path in domain_files()
    }
    return tuple(sorted(names - {"removal"}))


def test_no_module_of_removal_is_over_400_lines() -> None:
    """Short modules (the team's rule): a module that grows past it is split by what it holds. Migrations are
    makemigrations' output, read as a list of operations, not written or read as a module."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in REMOVAL.rglob("*.py")
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


# What the services modules offer besides services: names, formats and reads that change nothing.
NOT_SERVICES = {
    *("rejected_json", "display_filename", "opened_storage_file", "storage_chunks", "upload_size_error"),
    *("stored_file_chunks", "webhook_signature", "zip_filename", "zip_member_names", "zip_member_stem"),
    *("invitation_path", "invitation_usable", "mail_to"),
}


def test_services_take_their_arguments_by_keyword_only() -> None:
    """A service call names what it passes (`usage_given_back(item=item)`), as the team's style asks: two ids or two
    users side by side cannot be swapped unseen."""
    import removal.services
    from accounts import email_changes
    from accounts import services as account_services

    offered = [getattr(removal.services, name) for name in removal.services.__all__] + [
        value
        for module in (account_services, email_changes)
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    ]
    positional = sorted(
        function.__name__
        for function in offered
        if inspect.isfunction(function)
        and function.__name__ not in NOT_SERVICES
        and any(p.kind is not p.KEYWORD_ONLY for p in inspect.signature(function).parameters.values())
    )
    assert positional == []


def test_every_module_says_what_it_owns() -> None:
    """A docstring on each module (the team's style). Management commands say it in their `help`, migrations in
    their name."""
    files = [path for folder in ("removal", "accounts", "bgsite") for path in (ROOT / folder).rglob("*.py")]
    silent = sorted(
        str(path.relative_to(ROOT))
        for path in files
        if "migrations" not in path.parts
        and "commands" not in path.parts
        and path.read_text().strip()
        and ast.get_docstring(ast.parse(path.read_text())) is None
    )
    assert silent == []


# Modules a process that cuts nothing out has no use for, and what each costs it at start.
NOT_AT_START = (
    "numpy",  # 0.35 s of CPU: the image core, loaded with the first cutout (removal.cutout.pipeline)
    "scipy",
    "PIL.Image",  # 0.15 s
    "pi_heif",
    "imageio_ffmpeg",
    "onnxruntime",
    "requests",  # 0.5 s with urllib3: URL fetches and webhook deliveries (removal.fetch_session)
    "urllib3",
    "ua_parser",  # 75 ms: the account page's
    "redis",  # 0.4 s: only where the settings name Redis
    "boto3",  # only where the settings name a bucket
    "botocore",  # 0.3 s with its config (the settings), 50 ms its errors (removal.services.files.storage_errors)
)
# And what only a process that serves requests or counts metrics loads: a manage.py command, its system checks, URLs,
# services and tasks included, does without them.
NOT_IN_A_COMMAND = (
    "asgi_correlation_id",  # 45 ms with Starlette: the requests' ids (bgsite.log_context reads them at first use)
    "starlette",
    "prometheus_client",  # 30 ms: the metrics, made at the first one read (removal.ops.metrics)
)


def test_a_process_that_cuts_nothing_out_imports_no_image_libraries_nor_browser_names(tmp_path: Path) -> None:
    """Every process (web, each manage.py command, each `manage.py shell -c` of the tests) imports the settings, the
    URLs, the services and the metrics: the image core's libraries, ua-parser, redis and boto load where a cutout,
    the account page or the settings need them, not at every start (`manage.py shell -c pass` took 4.4 s of CPU). A
    command, unlike a server, does without prometheus-client and the requests' ids. Pillow, once loaded, refuses what
    MAX_IMAGE_PIXELS refuses (removal.apps sets it before Pillow loads)."""
    script = (
        "import sys\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
        "import bgsite.urls, removal.services, removal.ops.metrics, removal.tasks\n"
        f"print(sorted(name for name in {NOT_AT_START + NOT_IN_A_COMMAND!r} if name in sys.modules))\n"
        "import bgsite.asgi\n"
        f"print(sorted(name for name in {NOT_AT_START!r} if name in sys.modules))\n"
        "from removal.cutout import pipeline\n"
        "pipeline.load()\n"
        "from PIL import Image\n"
        "print(Image.MAX_IMAGE_PIXELS)\n"
    )
    done = shell_run(script, tmp_path, MAX_IMAGE_PIXELS="1234567")
    assert done.stdout.strip().splitlines()[-3:] == ["[]", "[]", "1234567"]  # Pillow's guard, set when Pillow loads


def test_a_web_process_without_workers_reports_theirs_without_loading_onnxruntime(
    tmp_path: Path, migrated_data_dir: Path
) -> None:
    """A web process of the scaled layout (EMBEDDED_WORKERS=0) answers /readyz and /api/v1/models with what the worker
    processes recorded (removal.ops.models_run_on): asking onnxruntime itself cost each web process 0.3 s of CPU and
    32 MB (numpy with it), and gave its own view where the jobs run on the workers'. The first screen's sample cutout,
    which it made itself where it had the weights, it leaves to a worker too."""
    script = (
        "import sys\n"
        "from django.conf import settings\n"
        "from django.test import Client\n"
        "from removal import services\n"
        "services.worker_process_seen(name='gpu-1', threads=4, providers=['CUDAExecutionProvider', "
        "'CPUExecutionProvider'], layout='shared', max_batch=2, models=['u2netp'], "
        "weights_sha256={settings.REMBG_MODEL: 64 * 'a'})\n"
        "client = Client(HTTP_HOST='127.0.0.1')\n"
        "model_check = client.get('/readyz').json()['checks']['model']\n"
        "models = client.get('/api/v1/models').json()\n"
        "for reply in (model_check, models):\n"
        "    print([reply[name] for name in ('providers', 'layout', 'max_batch', 'workers')])\n"
        "assert client.get('/').status_code == 200 and client.get('/sample/cutout.png').status_code == 503\n"
        "print(sorted(name for name in ('onnxruntime', 'numpy') if name in sys.modules))\n"
    )
    shutil.copytree(migrated_data_dir, tmp_path, dirs_exist_ok=True)
    done = shell_run(script, tmp_path, EMBEDDED_WORKERS="0")
    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    workers = [{"providers": gpu, "layout": "shared", "max_batch": 2, "processes": 1, "threads": 4}]
    assert done.stdout.strip().splitlines()[-3:] == [str([gpu, "shared", 2, workers])] * 2 + ["[]"]


def shell_run(script: str, data_dir: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """`manage.py shell -c script` in a process of its own, with the data folder and `environment`; it must succeed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bgsite.settings", "DATA_DIR": str(data_dir), "SECRET_KEY": "x"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done
