"""removal.ops.client_package: the client sdist this server hands out installs a working `bgsite` with pip.

Nothing is downloaded: the new environment borrows this one's packages (pip, setuptools,
the client's dependencies), so the client can come only from the server.
"""

import subprocess
import sysconfig
import venv
from pathlib import Path
from typing import Any


def run(*command: str | Path) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_pip_installs_the_served_client_and_its_command_runs(live_server: Any, tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    python, bgsite = environment / "bin" / "python", environment / "bin" / "bgsite"
    own_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    (own_packages / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")

    url = f"{live_server.url}/client/bgsite-client.tar.gz"
    # --ignore-installed: a copy of the client in the borrowed packages must not stand in for this one.
    run(python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps", "--ignore-installed", url)

    assert run(python, "-c", "import bgsite_client; print(bgsite_client.__file__)").startswith(str(own_packages))
    usage = run(bgsite, "--help")
    assert "remove" in usage and "download" in usage
    assert run(bgsite, "--version").startswith("bgsite ")
