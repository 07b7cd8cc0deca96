"""The import graph of ``invitekit`` and ``invitekit_service``, read from the source with
:mod:`ast` (no import is executed).

* No cycle: every import counts — module level, under ``if TYPE_CHECKING:``, and inside
  functions (a deferred import that closes a loop is still a loop).
* Every name is imported from its owner: within the two packages, ``from M import name``
  where ``M`` only re-exports ``name`` from a module outside ``M`` (a sibling, a cousin) is
  a detour: import it from the module that defines it. A package may stand for its own
  submodules (``from invitekit.mls import GroupInfoView``), never for its neighbours'
  (``from invitekit.join import Candidate``, which is :mod:`invitekit.selection`'s). So
  code inside the packages never imports through a re-export namespace such as
  ``invitekit.hazmat``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "invitekit": ROOT / "invitekit",
    "invitekit_service": ROOT / "service" / "invitekit_service",
}


@dataclass
class Module:
    """One source file: its dotted name, whether it is a package, and its imports."""

    name: str
    path: Path
    is_package: bool
    #: (line, target module, imported names or () for a plain ``import``)
    imports: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)
    #: names this module binds only by importing them: name -> module imported from
    reexports: dict[str, str] = field(default_factory=dict)


def _module_name(package: str, base: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(base).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join([package, *parts]), is_package


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _defined_names(tree: ast.Module) -> set[str]:
    """Names a module binds by something other than an import (def, class, assignment)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def load_modules(sources: dict[str, tuple[Path, bool, str]] | None = None) -> dict[str, Module]:
    """Every module of the packages (or of ``sources``: name -> (path, is_package, text))."""
    if sources is None:
        sources = {}
        for package, base in PACKAGES.items():
            for path in sorted(base.rglob("*.py")):
                if "proto" in path.relative_to(base).parts[:1]:
                    continue  # generated protobuf code
                name, is_package = _module_name(package, base, path)
                text = path.read_text(encoding="utf-8")
                sources[name] = (path.relative_to(ROOT), is_package, text)
    modules = {
        name: Module(name, path, is_package) for name, (path, is_package, _) in sources.items()
    }
    for name, (path, _, text) in sources.items():
        module = modules[name]
        tree = ast.parse(text, str(path))
        defined = _defined_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports.append((node.lineno, alias.name, ()))
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node)
                names = tuple(alias.name for alias in node.names)
                module.imports.append((node.lineno, source, names))
                for alias in node.names:
                    bound = alias.asname or alias.name
                    submodule = f"{source}.{alias.name}"
                    if bound not in defined and submodule not in modules:
                        module.reexports.setdefault(bound, source)
    return modules


def _edges(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Module -> modules of the packages it imports (a ``from P import sub`` counts as
    importing ``P.sub`` when ``sub`` is a submodule, else as importing ``P``)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module in modules.values():
        for _, target, names in module.imports:
            if not names:
                if target in modules:
                    graph[module.name].add(target)
                continue
            for imported in names:
                submodule = f"{target}.{imported}"
                if submodule in modules:
                    graph[module.name].add(submodule)
                elif target in modules:
                    graph[module.name].add(target)
    for name, targets in graph.items():
        targets.discard(name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _owner(modules: dict[str, Module], source: str, name: str) -> str:
    """Follow re-exports from ``source`` to the module that defines ``name``."""
    seen: set[str] = set()
    while source in modules and name in modules[source].reexports and source not in seen:
        seen.add(source)
        source = modules[source].reexports[name]
    return source


def _is_detour(modules: dict[str, Module], target: str, name: str) -> bool:
    """``from target import name`` takes a floor too many: ``target`` got ``name`` from a
    module outside itself (a package's own submodules are its inside: a package may be the
    face of its own modules, never of its siblings')."""
    source = modules[target].reexports.get(name)
    if source is None or source not in modules:
        return False
    return not (modules[target].is_package and source.startswith(f"{target}."))


def detours(modules: dict[str, Module]) -> list[str]:
    found: list[str] = []
    for module in modules.values():
        for line, target, names in module.imports:
            if target not in modules:
                continue
            for imported in names:
                if _is_detour(modules, target, imported):
                    owner = _owner(modules, target, imported)
                    if owner in modules:
                        rel = module.path
                        found.append(
                            f"{rel}:{line}: {imported} through {target} (owner: {owner})"
                        )
    return found


MODULES = load_modules()


def test_the_graph_sees_every_package() -> None:
    assert "invitekit.join" in MODULES
    assert "invitekit_service.storage.base" in MODULES
    assert "invitekit.selection" in _edges(MODULES)["invitekit.join"]


# A small made-up package: ``a`` imports ``b`` for type checking only, ``b`` imports ``a``
# inside a function; ``pkg.j`` re-exports its sibling ``b``'s ``Thing``, ``c`` takes the
# detour; ``pkg`` (the facade) re-exports ``Thing`` from a module of its own.
_SAMPLE = {
    "pkg": (Path("pkg/__init__.py"), True, "from .b import Thing\nfrom .sub import Own\n"),
    "pkg.j": (Path("pkg/j/__init__.py"), True, "from ..b import Thing\n"),
    "pkg.sub": (Path("pkg/sub/__init__.py"), True, "from .inner import Own\n"),
    "pkg.sub.inner": (Path("pkg/sub/inner.py"), False, "class Own: ...\n"),
    "pkg.a": (
        Path("pkg/a.py"),
        False,
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import Thing\n",
    ),
    "pkg.b": (Path("pkg/b.py"), False, "class Thing:\n    def f(self):\n        from . import a\n"),
    "pkg.c": (Path("pkg/c.py"), False, "from .j import Thing\nfrom .sub import Own\n"),
}


def test_type_checking_and_deferred_imports_are_edges() -> None:
    sample = load_modules(_SAMPLE)
    assert find_cycles(_edges(sample)) == [["pkg.a", "pkg.b"]]


def test_a_name_through_a_neighbour_is_a_detour() -> None:
    sample = load_modules(_SAMPLE)
    assert _is_detour(sample, "pkg.j", "Thing")
    assert not _is_detour(sample, "pkg", "Thing")  # a package is the face of its own
    assert not _is_detour(sample, "pkg.sub", "Own")
    assert not _is_detour(sample, "pkg.b", "Thing")  # the owner itself
    assert detours(sample) == ["pkg/c.py:1: Thing through pkg.j (owner: pkg.b)"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert find_cycles(_edges(MODULES)) == []


def test_every_name_is_imported_from_its_owner() -> None:
    assert detours(MODULES) == []
