"""docs/security.md names a test as the proof of each defence: every one must exist."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")}


def test_every_test_named_in_docs_security_exists():
    references = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOC)
    assert len(references) > 40
    for path, name in references:
        assert (ROOT / path).is_file(), path
        if name:
            assert name in _tests_in(ROOT / path), f"{path}::{name} is named in docs/security.md but does not exist"


def test_every_security_test_is_named_in_docs_security():
    """The other way round: a security test nobody points to is a defence nobody documented."""
    for path in sorted((ROOT / "tests" / "security").glob("test_*.py")):
        if path.name == "test_security_doc.py":
            continue
        for name in _tests_in(path):
            relative = path.relative_to(ROOT).as_posix()
            assert f"{relative}::{name}" in DOC, f"{relative}::{name} is not in docs/security.md"
