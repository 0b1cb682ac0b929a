"""The layers of docs/architecture.md, enforced: a package never imports one drawn above it.

Bottom to top: protocol, conf -> streams -> domain (notifications, projects, collaboration, delivery:
models, queries, payloads, logs, services) -> realtime sending (groups, hub, brokers,
publish) -> entry points (api, realtime.consumers, auth middleware, cli) -> server (wiring).
observability is fed: it measures and aggregates, and reaches nothing above it. Imports inside
functions count too: a late import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "clarion"
DOMAIN = ("clarion.notifications", "clarion.projects", "clarion.collaboration", "clarion.delivery")
ENTRY = ("clarion.api", "clarion.cli", "clarion.server", "clarion.realtime.consumers")

# package (prefix) -> what it must never import (prefixes)
FORBIDDEN = {
    "clarion.protocol": ("clarion.", "django"),
    "clarion.streams": (*DOMAIN, "clarion.realtime", "clarion.auth", *ENTRY),
    "clarion.observability": (*DOMAIN, "clarion.realtime", "clarion.streams", "clarion.auth", *ENTRY),
    "clarion.realtime": (*DOMAIN, "clarion.api", "clarion.cli", "clarion.server"),
    "clarion.notifications": ENTRY,
    "clarion.projects": ENTRY,
    "clarion.collaboration": ENTRY,
    "clarion.delivery": ENTRY,
    "clarion.auth": ("clarion.api", "clarion.cli", "clarion.server"),
    "clarion.api": ("clarion.cli", "clarion.server", "clarion.realtime.consumers"),
    "clarion.cli": ("clarion.api", "clarion.realtime.consumers"),
}
# Where a package may import what its rule forbids, and why (keep this list short).
ALLOWED = {
    ("clarion.protocol", "clarion.protocol"),  # itself
    ("clarion.realtime.consumers", "clarion.notifications"),  # consumers are entry points
    ("clarion.realtime.consumers", "clarion.projects"),
    ("clarion.realtime.consumers", "clarion.collaboration"),
    ("clarion.realtime.consumers", "clarion.delivery"),  # acks become receipts
    ("clarion.realtime.lifespan", "clarion.delivery"),  # the lifespan is an entry point: it starts the worker
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".") \
        or (not prefix.startswith("clarion") and name.split(".")[0] == prefix)


def violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        importer = module_name(path)
        rules = [(package, banned) for package, banned in FORBIDDEN.items() if _within(importer, package)]
        for imported in imports_of(path):
            for package, banned in rules:
                for prefix in banned:
                    if not _within(imported, prefix):
                        continue
                    if any(_within(importer, a) and _within(imported, b) for a, b in ALLOWED):
                        continue
                    found.append(f"{importer} imports {imported} ({package} may not import {prefix})")
    return sorted(set(found))


def test_no_package_imports_against_the_direction_of_the_layers():
    assert violations() == []


@pytest.mark.parametrize("importer, imported", [
    ("clarion.streams.relay", "clarion.notifications.models"),
    ("clarion.realtime.hub", "clarion.projects.models"),
    ("clarion.observability.sampling", "clarion.realtime.hub"),
    ("clarion.protocol.frames", "django.conf"),
])
def test_the_walk_would_catch_an_import_against_the_direction(importer, imported):
    rules = [(package, banned) for package, banned in FORBIDDEN.items() if _within(importer, package)]
    assert any(_within(imported, prefix) for _, banned in rules for prefix in banned)
