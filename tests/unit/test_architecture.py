"""The arrows of ARCHITECTURE.md, checked on the source: consensus/ and
contracts/ stay free of I/O, clocks, randomness and the node; crypto/ sits
below everything else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PURE_BANNED = ("asyncio", "aiohttp", "plyvel", "time", "random", "os", "socket", "threading", "node",
               "importlib")
CRYPTO_BANNED = ("node", "consensus", "contracts")


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in `source`, at any depth,
    including `__import__("x")` calls; relative imports are resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            if node.module:
                found.append((node.lineno, ".".join([*base, node.module])))
            else:  # from . import x, from .. import x
                found.extend((node.lineno, ".".join([*base, alias.name])) for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(folder: str, banned: tuple[str, ...], root: Path = ROOT) -> list[str]:
    problems = []
    files = sorted((root / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/: the check would pass vacuously"
    for path in files:
        relative = path.relative_to(root)
        package = ".".join(relative.parent.parts)
        for line, module in imported_modules(path.read_text(), package):
            if module.split(".")[0] in banned:
                problems.append(f"{relative}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("folder", ["consensus", "contracts"])
def test_pure_cores_import_no_io_clock_randomness_or_node(folder):
    problems = violations(folder, PURE_BANNED)
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_crypto_imports_nothing_above_it():
    problems = violations("crypto", CRYPTO_BANNED)
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


# --- the checker itself must be able to fail -----------------------------------

@pytest.mark.parametrize("source, expected", [
    ("import os", "os"),
    ("import os.path", "os.path"),
    ("import time as clock", "time"),
    ("from random import choice", "random"),
    ("import node.storage", "node.storage"),
    ("from node import ledger", "node"),
    ("from node.runtime import Node", "node.runtime"),
    ("def f():\n    import asyncio\n", "asyncio"),
    ("try:\n    import plyvel\nexcept ImportError:\n    pass\n", "plyvel"),
    ("x = __import__('socket')", "socket"),
    ("from ..node import api", "node"),
    ("from .. import node", "node"),
])
def test_checker_sees_every_import_form(source, expected):
    modules = [m for _, m in imported_modules(source, "contracts")]
    assert expected in modules
    assert expected.split(".")[0] in PURE_BANNED


def test_checker_resolves_relative_imports_inside_the_package():
    assert [m for _, m in imported_modules("from .state import Overlay", "contracts")] == ["contracts.state"]
    assert [m for _, m in imported_modules("from . import state", "contracts")] == ["contracts.state"]


def test_checker_does_not_flag_lookalike_names():
    source = "import timeit\nimport osmosis\nfrom nodes import x\nimport random_things\n"
    flagged = [m for _, m in imported_modules(source, "contracts") if m.split(".")[0] in PURE_BANNED]
    assert flagged == []


def test_violation_message_names_file_line_and_import(tmp_path):
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "good.py").write_text("from crypto import encoding\n")
    (tmp_path / "contracts" / "bad.py").write_text('"""doc"""\n\nimport node.storage\n')
    assert violations("contracts", PURE_BANNED, root=tmp_path) == ["contracts/bad.py:3 imports node.storage"]
