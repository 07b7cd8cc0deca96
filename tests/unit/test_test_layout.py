"""The test suite's own layout: every test the documents cite exists, every marker is
registered and strictly checked, and the unit layer stays pure (no socket, subprocess,
browser or server)."""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
DOCUMENTS = ["README.md", "ARCHITECTURE.md", "RELIABILITY.md", "BENCHMARKS.md", "spec/SPEC.md"]

# `tests/unit/test_blob.py::test_x`, or relative to tests/ as spec/SPEC.md's Appendix A
# writes them (`unit/test_blob.py::test_x`), or by file name alone where the section names
# the directory (RELIABILITY.md's tables); a class method is `file.py::Class::test_y`, and
# `::test_case_09_…` cites every test whose name starts so.
CITED_TEST = re.compile(r"(?<![\w/.-])(?:tests/)?((?:[\w-]+/)*test_\w+\.py)((?:::\w+)+)(…)?")
CITED_FILE = re.compile(r"(?<![\w/.-])(tests/(?:[\w-]+/)*[\w-]+\.py)(?![\w])")
# The unit layer runs no process, opens no socket and starts no server or browser (the
# in-process transport serves the app on a Unix socket; `invitekit demo` uses it, so its test
# is an integration test).
IMPURE = re.compile(
    r"^\s*(?:import (?:subprocess|socket|aiohttp)\b|from (?:subprocess|socket|aiohttp)\b"
    r"|from tests\.support\.browser\b|.*\bInProcessTransport\b)",
    re.M,
)


@cache
def defined_names(path: Path) -> frozenset[str]:
    """`name` and `Class::name` for every function and class the module defines."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def resolve(path: str) -> Path | None:
    """The cited file: relative to tests/, or by name alone the one file so named under it."""
    if "/" in path:
        return TESTS / path if (TESTS / path).is_file() else None
    same_name = list(TESTS.rglob(path))
    return same_name[0] if len(same_name) == 1 else None


def exists(path: str, name: str, prefix: bool) -> bool:
    found = resolve(path)
    if found is None:
        return False
    names = defined_names(found)
    return any(n.startswith(name) for n in names) if prefix else name in names


def citations() -> list[tuple[str, str, str, bool]]:
    found = []
    for doc in DOCUMENTS:
        text = (ROOT / doc).read_text()
        found += [
            (doc, m.group(1), m.group(2)[2:], bool(m.group(3))) for m in CITED_TEST.finditer(text)
        ]
    return found


def test_the_documents_cite_tests() -> None:
    assert len(citations()) > 50  # the regex still finds Appendix A's citations


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_every_test_a_document_cites_exists(doc: str) -> None:
    missing = [
        f"{path}::{name}"
        for cited_in, path, name, prefix in citations()
        if cited_in == doc and not exists(path, name, prefix)
    ]
    assert not missing, f"{doc} cites tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_every_test_file_a_document_names_exists(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = sorted(
        {m.group(1) for m in CITED_FILE.finditer(text)}
        - {m.group(1) for m in CITED_FILE.finditer(text) if (ROOT / m.group(1)).is_file()}
    )
    assert not missing, f"{doc} names test files that do not exist: {missing}"


def test_every_marker_is_registered_and_strict() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = options["ini_options"]
    assert "--strict-markers" in options["addopts"].split()
    registered = {line.split(":", 1)[0] for line in options["markers"]}
    used = set()
    for path in TESTS.rglob("*.py"):
        used |= set(re.findall(r"pytest\.mark\.(\w+)", path.read_text()))
    builtin = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}
    plugins = {"timeout", "asyncio"}
    assert used - builtin - plugins <= registered


def test_the_unit_layer_is_pure() -> None:
    impure = [
        str(path.relative_to(ROOT))
        for path in (TESTS / "unit").rglob("*.py")
        if IMPURE.search(path.read_text())
    ]
    assert not impure, f"unit tests that start processes or open sockets: {impure}"
