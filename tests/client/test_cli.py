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
        (["Holiday\t2026"], [], {"name": "Holiday 2026"}),  # as the page names it: the server refuses a tab
        (["Holiday 2026"], ["--name", " Shoes "], {"name": "Shoes"}),
    ],
)
def test_a_run_names_its_batches_after_the_one_folder_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[str], flags: list[str], name: dict[str, str]
) -> None:
    for folder in ("Holiday 2026", "other", "x" * 120, "Holiday\t2026"):
        (tmp_path / folder).mkdir()
    (tmp_path / "Holiday 2026" / "a.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    args = parser().parse_args(["remove", *paths, "-o", "out", *flags])
    assert _batch_name(args) == name


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("x" * 101, "bgsite: --name: 100 characters at most, not 101"),
        ("Shoes\tspring", "bgsite: --name: a line break, tab or other control character has no place in a name"),
        ("Shoes\u2028spring", "bgsite: --name: a line break, tab or other control character has no place in a name"),
    ],
)
def test_a_name_given_that_the_server_would_refuse_stops_the_run_before_it_uploads(
    tmp_path: Path, name: str, said: str
) -> None:
    """A --name too long was cut without a word, where the API refuses it (400): a name given is taken whole or
    refused; only a folder's name, which nobody chose for a batch, is made to fit."""
    args = parser().parse_args(["remove", str(tmp_path), "-o", "out", "--name", name])
    with pytest.raises(SystemExit, match=said):
        _batch_name(args)
