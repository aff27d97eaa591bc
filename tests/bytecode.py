"""The project's own modules compiled to bytecode once per test run, for the processes the suite starts.

The suite starts hundreds of Python processes (servers, worker processes, `manage.py` commands, the client), each
importing bgsite, removal and accounts. Where PYTHONDONTWRITEBYTECODE is set, as it is in this project's CI
environment, no import writes the bytecode it compiles, so each of those processes compiled them from source again
(a tenth of a second of CPU each). compileall writes it whatever that variable says, and skips what is up to date.
"""

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bgsite", "removal", "accounts", "client", "tests")


def project_compiled() -> None:
    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)
