"""Package hygiene: the dependency direction, the shipped grammar, the public names."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import sluice.query

PACKAGE = Path(sluice.query.__file__).parent
FORBIDDEN = (
    "grpc",
    "google.protobuf",
    "pymilvus",
    "sluice.api",
    "sluice.engine",
    "sluice.storage",
    "sluice.client",
)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_query_imports_nothing_above_it() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for name in imported_modules(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 600, path.name


def test_grammar_is_package_data() -> None:
    grammar = resources.files("sluice.query").joinpath("filter.lark")
    assert grammar.is_file()
    assert "start:" in grammar.read_text(encoding="utf-8")


def test_public_api() -> None:
    for name in ("parse", "bind", "evaluate", "pk_terms", "compile_filter", "ExprParams"):
        assert hasattr(sluice.query, name), name
