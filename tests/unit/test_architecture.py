"""The arrows and rooms of ARCHITECTURE.md, checked on the source:
consensus/ and contracts/ stay free of I/O, clocks, randomness, metrics,
each other and the node; crypto/ sits below everything else; inside node/ the runtime
never imports the API, the CLI or the dev tools, the auditor never imports
the runtime, and only the CLI imports the simulator; the replica's parts
import neither the replica nor one another; no module imports itself in a
circle; modules and classes stay a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = {"crypto": "crypto", "consensus": "consensus", "contracts": "contracts", "node": "node",
                   "netsim": "network-sim/netsim"}

IO_CLOCK_RANDOMNESS = ("asyncio", "aiohttp", "plyvel", "time", "random", "os", "socket", "threading",
                       "importlib")
OBSERVATION = ("prometheus_client",)  # the node observes the pure cores from outside (node.runtime.metrics)
# importer prefix -> module prefixes it must never import
FORBIDDEN = {
    "crypto": ("node", "consensus", "contracts", "netsim"),
    "consensus": (*IO_CLOCK_RANDOMNESS, *OBSERVATION, "node", "contracts", "netsim"),
    "contracts": (*IO_CLOCK_RANDOMNESS, *OBSERVATION, "node", "consensus", "netsim"),
    "netsim": ("node",),
    "node.runtime": ("node.api", "node.cli", "node.devtools", "node.audit", "node.client", "node.mpc", "netsim"),
    "node.audit": ("node.runtime", "node.api", "node.cli", "node.devtools", "netsim"),
    "node.api": ("node.cli", "node.devtools", "netsim"),
    "node.client": ("node.runtime", "node.api", "node.cli", "node.devtools", "node.audit", "netsim"),
    "node.devtools": ("node.cli", "node.api", "netsim"),
    "node.mpc": ("node.api", "node.cli", "node.devtools", "netsim"),
}
NODE_MODULE_LINES_MAX = 400
MODULE_LINES_MAX = 700
CLASS_METHODS_MAX = 30


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
                found.extend((node.lineno, ".".join([*base, node.module, alias.name])) for alias in node.names)
            else:  # from . import x, from .. import x
                found.extend((node.lineno, ".".join([*base, alias.name])) for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def project_modules(root: Path = ROOT, folders: dict[str, str] = PACKAGE_FOLDERS) -> dict[str, Path]:
    """Every module of the project by its import name."""
    modules = {}
    for package, folder in folders.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [x for x in path.relative_to(root / folder).with_suffix("").parts if x != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(modules: dict[str, Path], forbidden: dict[str, tuple[str, ...]] = FORBIDDEN,
               root: Path = ROOT) -> list[str]:
    problems = []
    for name, path in sorted(modules.items()):
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        banned = [b for importer, bans in forbidden.items() if is_under(name, importer) for b in bans]
        reported = set()
        for line, imported in imported_modules(path.read_text(), package):
            hit = next((b for b in banned if is_under(imported, b)), None)
            if hit is not None and (line, hit) not in reported:
                reported.add((line, hit))
                problems.append(f"{path.relative_to(root)}:{line} imports {imported}")
    return problems


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name resolves to its longest known prefix)."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = {resolve(imported) for _, imported in imported_modules(path.read_text(), package)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


# --- the rules ------------------------------------------------------------------

def test_every_arrow_holds():
    modules = project_modules()
    assert {"node.runtime.driver", "node.audit.auditor", "node.cli", "consensus.replica"} <= set(modules)
    problems = violations(modules)
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_no_import_cycle_among_the_project_modules():
    found = cycles(import_graph(project_modules()))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(group) for group in found)


def test_every_package_says_what_it_is_for_and_what_it_must_not_import():
    for name, path in project_modules().items():
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert len(doc) > 80 and "import" in doc, f"{name}: package docstring missing or says no arrows"


def test_modules_and_classes_stay_readable():
    problems = []
    for name, path in project_modules().items():
        source = path.read_text()
        lines = len(source.splitlines())
        limit = NODE_MODULE_LINES_MAX if is_under(name, "node") else MODULE_LINES_MAX
        if lines > limit:
            problems.append(f"{name}: {lines} lines (at most {limit})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) >= CLASS_METHODS_MAX:
                    problems.append(f"{name}.{node.name}: {len(methods)} methods (fewer than {CLASS_METHODS_MAX})")
    assert not problems, "\n".join(problems)


REPLICA_PARTS = ("requests", "votes", "slots", "viewchange", "checkpoints", "catchup", "outbox", "proposal")


@pytest.mark.parametrize("part", [*REPLICA_PARTS, "agreement"])
def test_the_replicas_parts_do_not_import_the_replica(part):
    modules = {m for _, m in imported_modules((ROOT / "consensus" / f"{part}.py").read_text(), "consensus")}
    assert not any(is_under(m, "consensus.replica") for m in modules)


@pytest.mark.parametrize("part", REPLICA_PARTS)
def test_the_replicas_parts_do_not_import_one_another(part):
    modules = {m for _, m in imported_modules((ROOT / "consensus" / f"{part}.py").read_text(), "consensus")}
    others = {f"consensus.{other}" for other in (*REPLICA_PARTS, "agreement") if other != part}
    assert not modules & others, f"consensus/{part}.py imports {sorted(modules & others)}"


# --- the checkers themselves must be able to fail -----------------------------------

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
    assert expected.split(".")[0] in FORBIDDEN["contracts"]


def test_checker_resolves_relative_imports_inside_the_package():
    assert [m for _, m in imported_modules("from .state import Overlay", "contracts")] == [
        "contracts.state", "contracts.state.Overlay"]
    assert [m for _, m in imported_modules("from . import state", "contracts")] == ["contracts.state"]


def test_checker_does_not_flag_lookalike_names():
    source = "import timeit\nimport osmosis\nfrom nodes import x\nimport random_things\nimport node_tools\n"
    flagged = [m for _, m in imported_modules(source, "contracts")
               if any(is_under(m, banned) for banned in FORBIDDEN["contracts"])]
    assert flagged == []


def write_tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return project_modules(root, {"contracts": "contracts", "node": "node", "consensus": "consensus"})


def test_violation_message_names_file_line_and_import(tmp_path):
    modules = write_tree(tmp_path, {
        "contracts/__init__.py": "", "contracts/good.py": "from crypto import encoding\n",
        "contracts/bad.py": '"""doc"""\n\nimport node.storage\n',
        "consensus/__init__.py": "", "consensus/worse.py": "from contracts.good import x\n",
    })
    assert violations(modules, root=tmp_path) == ["consensus/worse.py:1 imports contracts.good",
                                                  "contracts/bad.py:3 imports node.storage"]


def test_the_rooms_of_node_are_enforced(tmp_path):
    modules = write_tree(tmp_path, {
        "node/__init__.py": "", "node/runtime/__init__.py": "", "node/api/__init__.py": "",
        "node/audit/__init__.py": "", "node/cli/__init__.py": "import netsim.run\nfrom node.runtime import x\n",
        "node/runtime/driver.py": "from node.api.app import make_app\nfrom node.runtime.ledger import Ledger\n",
        "node/runtime/ledger.py": "from node import devtools\n",
        "node/audit/auditor.py": "from ..runtime.storage import Storage\n",
        "node/api/app.py": "from node.runtime.driver import Node\nimport netsim\n",
    })
    assert violations(modules, root=tmp_path) == [
        "node/api/app.py:2 imports netsim",
        "node/audit/auditor.py:1 imports node.runtime.storage",
        "node/runtime/driver.py:1 imports node.api.app",
        "node/runtime/ledger.py:1 imports node.devtools",
    ]


def test_cycle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f2"}, "f2": {"f"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["f", "f2"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_cycle_finder_sees_a_cycle_through_from_imports(tmp_path):
    modules = write_tree(tmp_path, {
        "contracts/__init__.py": "", "contracts/executor.py": "from contracts import governance\n",
        "contracts/governance.py": "def run():\n    from contracts.executor import TX_TYPES\n",
    })
    assert cycles(import_graph(modules)) == [["contracts.executor", "contracts.governance"]]
