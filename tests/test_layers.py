"""The layering the code keeps (docs/architecture.md): checked on the source, so a shortcut shows here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_accounts_never_imports_removal() -> None:
    """removal builds on accounts (keys, who is calling); the other way round would be a cycle."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in imported_modules(path) if name.split(".")[0] == "removal")
        for path in (ROOT / "accounts").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
