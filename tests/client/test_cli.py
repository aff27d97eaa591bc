"""bgsite_client.cli: what a `bgsite remove` run calls the batches it makes."""

from pathlib import Path

import pytest
from bgsite_client.cli import _batch_name, parser


@pytest.mark.parametrize(
    ("paths", "flags", "name"),
    [
        (["Holiday 2026"], [], {"name": "Holiday 2026"}),  # one folder: its name
        (["Holiday 2026/"], ["--name", "Shoes"], {"name": "Shoes"}),
        (["Holiday 2026"], ["--name", ""], {}),  # asked for none
        (["Holiday 2026", "other"], [], {}),  # two folders: no one name
        (["Holiday 2026/a.jpg"], [], {}),  # a file
        (["x" * 120], [], {"name": "x" * 100}),  # cut to what the server takes
    ],
)
def test_a_run_names_its_batches_after_the_one_folder_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[str], flags: list[str], name: dict[str, str]
) -> None:
    for folder in ("Holiday 2026", "other", "x" * 120):
        (tmp_path / folder).mkdir()
    (tmp_path / "Holiday 2026" / "a.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    args = parser().parse_args(["remove", *paths, "-o", "out", *flags])
    assert _batch_name(args) == name
