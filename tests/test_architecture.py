"""Data flows one way through the stages; the local server shares nothing with the client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "narrator"

#: What each part of the package may import from narrator (besides itself).
ALLOWED = {
    "reading": {"errors", "settings"},
    "service": {"errors", "events", "settings", "local", "audioformat"},
    "output": {"", "errors", "events", "settings", "reading", "planning", "audioformat"},
    "planning": {
        *("errors", "events", "settings", "reading", "output", "service"),
        *("audioformat", "segmenting"),
    },
    "segmenting": {"service"},
    "local": set(),
    "audioformat": set(),
    "report": {"output"},
}


def narrator_imports(path: Path) -> set[str]:
    """The first component under ``narrator`` of every narrator module ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "narrator":
                found.add(parts[1] if len(parts) > 1 else "")
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_stage_imports_only_what_comes_before_it(part: str) -> None:
    files = [p for p in PACKAGE.rglob("*.py") if part_of(p) == part]
    assert files
    for path in files:
        stray = narrator_imports(path) - ALLOWED[part] - {part}
        assert not stray, f"{path.relative_to(PACKAGE)} imports narrator.{sorted(stray)}"


def test_only_the_cli_and_the_package_root_call_the_core_entry_point() -> None:
    for path in PACKAGE.rglob("*.py"):
        if part_of(path) not in ("cli", "__init__", "__main__"):
            assert "run" not in narrator_imports(path) or part_of(path) == "run", path
            assert "cli" not in narrator_imports(path), path
