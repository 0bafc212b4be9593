"""The package layout is the architecture: lower layers never import upper ones or gRPC."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sluice"

#: Layer -> imports it must never make.
FORBIDDEN = {
    "storage": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.index",
        "sluice.query",
    ),
    "index": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.query",
    ),
    "query": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.index",
    ),
    # Shared by every layer, like sluice.schema: it imports none of them.
    "types": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
    ),
    "index/scalar": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "faiss",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.query",
    ),
    "text": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.rank",
    ),
    "rank": (
        "grpc",
        "google.protobuf",
        "pymilvus",
        "sluice.api",
        "sluice.rest",
        "sluice.engine",
        "sluice.client",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.text",
    ),
    "engine": ("grpc", "google.protobuf", "pymilvus", "sluice.api", "sluice.client", "sluice.rest"),
    # Settings are shared by every layer, so they import nothing else of Sluice.
    "config": (
        "grpc",
        "pymilvus",
        "sluice.api",
        "sluice.client",
        "sluice.engine",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.text",
        "sluice.rank",
        "sluice.rest",
        "sluice.errors",
        "sluice.schema",
    ),
    # The API and the clients reach the engine only through its public surface
    # (``sluice.engine`` itself) and never touch the layers below it.
    "api": (
        "sluice.rest",
        "starlette",
        "uvicorn",
        "sluice.client",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.text",
        "sluice.rank",
        "sluice.engine.",
    ),
    "client": (
        "sluice.rest",
        "sluice.api",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.text",
        "sluice.rank",
        "sluice.engine.",
    ),
    # The RESTful API sits above the gRPC servicer: it may use the API and the engine's
    # public surface, and nothing below imports it.
    "rest": (
        "sluice.client",
        "sluice.storage",
        "sluice.index",
        "sluice.query",
        "sluice.text",
        "sluice.rank",
        "sluice.engine.",
    ),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _matches(name: str, forbidden: str) -> bool:
    """``pkg`` forbids the package and its modules; ``pkg.`` only its modules."""
    if forbidden.endswith("."):
        return name.startswith(forbidden)
    return name == forbidden or name.startswith(forbidden + ".")


def test_every_package_is_covered() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    top_level = {layer.split("/")[0] for layer in FORBIDDEN}
    assert packages == top_level, "add each package's import rules to FORBIDDEN"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            if any(_matches(name, bad) for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_shared_modules_import_no_layer() -> None:
    for name in ("errors.py", "schema.py", "telemetry.py"):
        imported = _imports(PACKAGE / name)
        assert not any(i.startswith(("sluice.", "grpc", "pymilvus")) for i in imported), name


def test_no_module_is_huge() -> None:
    big = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert not big, f"modules past 600 lines: {big}"
