"""The `bgsite` command-line client (client/) as a source distribution that this server hands out.

Users of a self-hosted server seldom have the repository, so the account page gives them
`pip install <this server>/client/bgsite-client.tar.gz`. The archive is made from client/
in memory, once per process: `bgsite_client-<version>/` (named and versioned from
client/pyproject.toml) holding pyproject.toml and the package. pip builds it with the
backend pyproject.toml names, exactly as it builds `pip install ./client`; it reads the
metadata from that backend, so the archive needs no PKG-INFO of its own.
"""

import functools
import gzip
import io
import tarfile
import tomllib
from pathlib import Path

from django.conf import settings


@functools.cache
def client_sdist() -> bytes:
    client_dir = settings.BASE_DIR / "client"
    project = tomllib.loads((client_dir / "pyproject.toml").read_text())["project"]
    top = f"{project['name'].replace('-', '_')}-{project['version']}"
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for path in _client_files(client_dir):
            tar.add(path, arcname=f"{top}/{path.relative_to(client_dir).as_posix()}", filter=_anonymous)
    return buffer.getvalue()


def _client_files(client_dir: Path) -> list[Path]:
    package = (path for path in (client_dir / "bgsite_client").rglob("*") if path.is_file())
    return [client_dir / "pyproject.toml", *sorted(path for path in package if "__pycache__" not in path.parts)]


def _anonymous(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """Readable by anyone, owned by nobody in particular: the server's user names stay here."""
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mode = 0o644
    return member
