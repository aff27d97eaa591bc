"""The project's own modules compiled to bytecode once per test run, for the processes the suite starts.

The suite starts hundreds of Python processes (servers, worker processes, `manage.py` commands, the client), each
importing bgsite, removal and accounts. Where PYTHONDONTWRITEBYTECODE is set, as it is in this project's CI
environment, no import writes the bytecode it compiles, so each of those processes compiled them from source again
(a tenth of a second of CPU each). compileall writes it whatever that variable says, and skips what is up to date.

pytest itself (the run's process and each of its workers) compiles the test modules, and the modules of the plugins it
rewrites the asserts of (hypothesis, schemathesis), through its assertion rewriting, which keeps what it compiles in
__pycache__ only where bytecode may be written: each worker rewrote some 500 modules at each run (8 s of its
collection's 15 s of CPU). rewritten_modules_kept has it keep them whatever PYTHONDONTWRITEBYTECODE says.
"""

import compileall
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bgsite", "removal", "accounts", "client", "tests")


def project_compiled() -> None:
    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)


def rewritten_modules_kept() -> None:
    """Let this pytest process write the modules it compiles, its rewritten test modules included (each checked
    against its source's modification time and size when read, as any bytecode is)."""
    sys.dont_write_bytecode = False
