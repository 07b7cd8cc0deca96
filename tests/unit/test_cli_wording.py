"""Every English sentence the CLI prints lives in ``invitekit/cli/render.py``.

ARCHITECTURE.md names ``cli/render.py`` the owner of the CLI's wording. This scan keeps it
true: outside ``render.py``, no string literal with prose is handed to anything that shows
text to people — ``print``, ``typer.echo``/``secho``, ``console.print``, the one-line error
helpers (``fail``, ``print_error``), the demo's ``steps`` — or to an exception the CLI
raises itself (its message is printed by ``cli_errors``). Help texts of options and
commands stay beside them (typer reads them there); error *codes* stay with the commands.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import invitekit.cli

CLI = Path(invitekit.cli.__file__).parent
OWNER = "render.py"

#: Calls whose arguments are shown to people.
SHOWN = frozenset({"print", "echo", "secho", "fail", "print_error", "steps"})


def is_prose(text: str) -> bool:
    """Three or more words with letters: a sentence, not a code, a format or a separator.

    ``error: {}: {}`` and ``{}  epoch={}`` are formats; ``--kind must be 'lane' or 'open'``
    and ``the demo needs rine-mls`` are sentences.
    """
    return sum(1 for token in text.split() if any(c.isalpha() for c in token)) >= 3


def _literal_texts(node: ast.AST) -> list[str]:
    """Every string literal under ``node``; an f-string once, as its constant parts with
    ``{}`` between."""
    if isinstance(node, ast.JoinedStr):
        return [
            "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                for v in node.values
            )
        ] + [t for v in node.values if isinstance(v, ast.FormattedValue)
             for t in _literal_texts(v.value)]
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    return [t for child in ast.iter_child_nodes(node) for t in _literal_texts(child)]


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _is_exception(namespace: dict[str, object], name: str | None) -> bool:
    value = namespace.get(name or "") or getattr(builtins, name or "", None)
    return isinstance(value, type) and issubclass(value, BaseException)


def prose_shown(source: str, namespace: dict[str, object], where: str = "") -> list[str]:
    """``where:line: text`` for each prose literal ``source`` shows to people: the arguments
    of the printing calls, and of every exception it builds (resolved in ``namespace``, the
    module's globals: its message reaches people through ``cli_errors``)."""
    found: list[str] = []
    for call in ast.walk(ast.parse(source)):
        if not isinstance(call, ast.Call):
            continue
        name = _callee(call)
        if name not in SHOWN and not _is_exception(namespace, name):
            continue
        for arg in [*call.args, *(k.value for k in call.keywords if k.arg != "file")]:
            found.extend(
                f"{where}:{call.lineno}: {text!r}" for text in _literal_texts(arg) if is_prose(text)
            )
    return found


def prose_outside_render(path: Path) -> list[str]:
    """:func:`prose_shown` for one module of ``invitekit.cli``."""
    module = importlib.import_module(f"invitekit.cli.{path.stem}".removesuffix(".__init__"))
    return prose_shown(path.read_text(encoding="utf-8"), vars(module), path.name)


def _cli_sources() -> list[Path]:
    return sorted(p for p in CLI.glob("*.py") if p.name != OWNER)


def test_the_scan_sees_the_cli() -> None:
    """The scan reads the real command modules."""
    names = {p.name for p in _cli_sources()}
    assert {"client_cmd.py", "demo_cmd.py", "invite_cmd.py", "io.py", "__init__.py"} <= names


@pytest.mark.parametrize(
    ("text", "prose"),
    [
        ("--kind must be 'lane' or 'open'", True),
        ("the demo needs rine-mls: pip install 'invitekit[mls]'", True),
        ("{} must be hex", True),
        ("{} refresh at epoch {}: {}", True),
        ("error: {}: {}", False),
        ("error: usage: {}{}", False),
        ("invitekit {}", False),
        ("[{}] {}", False),
        ("bad-input", False),
        ("interrupted", False),
    ],
)
def test_what_counts_as_prose(text: str, prose: bool) -> None:
    assert is_prose(text) is prose


def test_the_scan_catches_a_sentence() -> None:
    """A sentence printed, failed or put in an exception is found; formats, codes and the
    render module's names are not."""

    class DemoFailed(Exception):
        pass

    source = (
        'print(f"{n} copies were uploaded")\n'
        'raise fail("usage", "give at least one slot")\n'
        'raise DemoFailed("the first upload was refused: " + text)\n'
        'typer.echo("all done now", err=True)\n'
        'err = ValueError(f"{source} is not a file")\n'
        'print(render.NO_CANDIDATES)\n'
        'print(f"error: {code}: {message}", file=sys.stderr)\n'
        'raise fail("bad-input", render.not_hex(what))\n'
        'help_text = describe("three plain words")\n'
    )
    found = prose_shown(source, {"DemoFailed": DemoFailed}, "probe")
    assert [f.split(":")[1] for f in found] == ["1", "2", "3", "4", "5"]


def test_every_printed_sentence_lives_in_render() -> None:
    found = [line for p in _cli_sources() for line in prose_outside_render(p)]
    assert not found, "move these sentences into invitekit/cli/render.py:\n" + "\n".join(found)
