"""The packages match the layers: no import cycle between modules, and imports point down only.

The graph is built from the source (``ast``), not by importing: every ``import`` and
``from ... import`` statement counts, at module level or inside a function (a lazy import is
still a dependency), except those under ``if TYPE_CHECKING:`` (never executed). An edge goes to
the imported module itself: ``from pkg import name`` points at ``pkg.name`` when that is a
module of the repository, else at ``pkg``.

Layers, bottom up: ``dysco_proto`` (the protocol, sans-IO) <- ``dysco_pipeline`` (the pipeline
contract and its byte-level model) <- ``controller`` (the per-device daemon and P4Runtime client)
<- ``dysco_targets`` (the P4Runtime server and its backends) <- ``dysco_testbed`` <-
``dysco_bench``; the ``dysco`` command line (``controller.cli``) is the one module of the
controller that reaches up, to register the testbed's and the benches' subcommands.
``dysco_tools`` (the model checker's runner, the simulator's command line) stands beside the
testbed: it uses the protocol and the controller's command-line helpers, nothing of the targets.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "dysco_proto",
    "dysco_pipeline",
    "controller",
    "dysco_targets",
    "dysco_testbed",
    "dysco_bench",
    "dysco_tools",
)
GENERATED = ("controller/p4rt/gen/", "controller/p4rt/tofino_pb/")
CLI_MODULES = frozenset({"controller.cli"})

Graph = dict[str, set[str]]


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Module name -> source file for each ``*.py`` under ``packages`` (no generated code)."""
    mods: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(GENERATED) or "__pycache__" in rel:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, nested ones included, except ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The repository modules that module ``name`` (source ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        out.update(t for t in targets if t in known and t != name)
    return out


def import_graph(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> Graph:
    """Module -> the repository modules it imports."""
    mods = module_files(root, packages)
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (each one holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        # iterative Tarjan: (node, iterator over its successors)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, succ = work[-1]
            advanced = False
            for nxt in succ:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _top(module: str) -> str:
    return module.partition(".")[0]


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Imports that point up the layers (see the module docstring)."""
    bad: list[str] = []
    forbidden = {
        "dysco_proto": {"dysco_pipeline", "controller", "dysco_targets", "dysco_testbed",
                        "dysco_bench", "dysco_tools"},
        "dysco_pipeline": {"controller", "dysco_targets", "dysco_testbed", "dysco_bench",
                           "dysco_tools"},
        "controller": {"dysco_targets", "dysco_testbed", "dysco_bench", "dysco_tools"},
        "dysco_tools": {"dysco_pipeline", "dysco_targets", "dysco_testbed", "dysco_bench"},
        "dysco_targets": {"dysco_testbed", "dysco_bench"},
        "dysco_testbed": {"dysco_bench"},
    }  # fmt: skip
    for mod, deps in sorted(graph.items()):
        if mod in CLI_MODULES:
            continue
        for dep in sorted(deps):
            if _top(dep) in forbidden.get(_top(mod), set()):
                bad.append(f"{mod} imports {dep}")
    return bad


# --- the repository ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_graph_covers_every_package(graph: Graph) -> None:
    assert {_top(m) for m in graph} == set(PACKAGES)
    # function-level imports count: the CLI registers the benches' subcommands at module level,
    # and the bench command imports its benchmarks lazily
    assert "dysco_bench.bench_cli" in graph["controller.cli"]
    assert "dysco_bench.soak" in graph["dysco_bench.bench_cli"]


def test_no_import_cycle_between_modules(graph: Graph) -> None:
    assert cycles(graph) == []


def test_imports_point_down_the_layers(graph: Graph) -> None:
    assert layer_violations(graph) == []


# --- the checker itself ------------------------------------------------------------------------


def _write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from pkg.c import g\n    return g\n",
            "pkg/c.py": "import pkg.a\n",
            "pkg/d.py": "from . import a\n",
        },
    )
    g = import_graph(tmp_path, ["pkg"])
    assert g["pkg.a"] == {"pkg.b"}
    assert g["pkg.b"] == {"pkg.c"}
    assert g["pkg.d"] == {"pkg.a"}
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import B\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.a import A\nelse:\n    import pkg.c\n"
            ),
            "pkg/c.py": "",
        },
    )
    g = import_graph(tmp_path, ["pkg"])
    assert g["pkg.b"] == {"pkg.c"}
    assert cycles(g) == []


def test_an_upward_import_is_reported() -> None:
    g = {
        "dysco_proto.agent": {"dysco_pipeline.pipeline"},
        "controller.daemon": {"dysco_bench.soak", "dysco_proto.agent"},
        "controller.cli": {"dysco_bench.bench_cli"},
        "dysco_pipeline.pipeline": set(),
        "dysco_bench.soak": set(),
        "dysco_bench.bench_cli": set(),
    }
    assert layer_violations(g) == [
        "controller.daemon imports dysco_bench.soak",
        "dysco_proto.agent imports dysco_pipeline.pipeline",
    ]
