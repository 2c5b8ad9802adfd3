"""Pieces small enough to enter: no Python module over 800 lines, no Python function over 80
lines (generated code and tests aside), no C function of the DPDK agent over 120 lines.

Lines are physical lines: a module's count of newlines, a function's span from its ``def`` to
its last line (``ast``), a C function's from the line of its opening brace at file level to
its closing brace (comments and string literals stripped first, so braces in them do not
count). ``DEBT`` lists the pieces known to be over their limit, each to be split; an entry
that is no longer over the limit fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.project.test_import_graph import PACKAGES, REPO, module_files

C_SOURCES = REPO / "dpdk_agent" / "src"
MODULE_LINES, FUNCTION_LINES, C_FUNCTION_LINES = 800, 80, 120

# "path:name" -> why it is still long (split it, then remove the entry)
DEBT: dict[str, str] = {}


def python_files() -> list[Path]:
    """The non-generated Python modules of the packages."""
    return sorted(module_files(REPO, PACKAGES).values())


def python_sizes(path: Path) -> tuple[int, dict[str, int]]:
    """A module's line count and the line span of each function in it (nested ones too)."""
    src = path.read_text()
    spans: dict[str, int] = {}
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            key = node.name
            while key in spans:  # the same name twice in one module (methods of two classes)
                key += "'"
            spans[key] = end - node.lineno + 1
    return src.count("\n"), spans


_TOKEN = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_FUNC_HEAD = re.compile(r"(\w+)\s*\([^;{}]*\)\s*$")


def c_function_sizes(src: str) -> dict[str, int]:
    """Line span of each function defined at file level in C source ``src``."""
    code = _TOKEN.sub(
        lambda m: "\n" * m.group(0).count("\n") if m.group(0)[0] == "/" else '""', src
    )
    spans: dict[str, int] = {}
    depth, head, start, name = 0, "", 0, ""
    line = 1
    for ch in code:
        if ch == "\n":
            line += 1
        if ch == "{":
            if depth == 0:
                m = _FUNC_HEAD.search(head.split(";")[-1].strip())
                start, name = (
                    (line, m.group(1)) if m and "=" not in head.split(";")[-1] else (0, "")
                )
            depth += 1
            head = ""
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if start and name not in ("if", "for", "while", "switch"):
                    spans[name] = line - start + 1
                head = ""
        elif depth == 0:
            head += ch
    return spans


def over_limits() -> dict[str, int]:
    """Every piece over its limit: ``path`` (module) or ``path:name`` (function) -> lines."""
    over: dict[str, int] = {}
    for path in python_files():
        rel = path.relative_to(REPO).as_posix()
        lines, funcs = python_sizes(path)
        if lines > MODULE_LINES:
            over[rel] = lines
        over |= {f"{rel}:{f}": n for f, n in funcs.items() if n > FUNCTION_LINES}
    for path in sorted(C_SOURCES.glob("*.[ch]")):
        rel = path.relative_to(REPO).as_posix()
        funcs = c_function_sizes(path.read_text())
        over |= {f"{rel}:{f}": n for f, n in funcs.items() if n > C_FUNCTION_LINES}
    return over


def test_no_module_or_function_over_its_limit() -> None:
    over = over_limits()
    new = {k: n for k, n in over.items() if k not in DEBT}
    limits = f"modules {MODULE_LINES}, functions {FUNCTION_LINES}, C {C_FUNCTION_LINES}"
    assert not new, f"over the limit ({limits}): {new}"
    paid = sorted(set(DEBT) - set(over))
    assert not paid, f"no longer over the limit, remove from DEBT: {paid}"


def test_the_c_counter_counts_bodies_not_comments_or_strings() -> None:
    src = (
        "static const int table[] = {1, 2};\n"
        "/* a comment { with braces */\n"
        "static int f(int a,\n"
        "             int b)\n"
        "{\n"
        '\tconst char *s = "}";\n'
        "\tif (a) {\n"
        "\t\treturn b; // }\n"
        "\t}\n"
        "\treturn 0;\n"
        "}\n"
        "struct s { int x; };\n"
        "void g(void) { }\n"
    )
    assert c_function_sizes(src) == {"f": 7, "g": 1}


def test_the_python_counter_spans_def_to_last_line(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(FUNCTION_LINES))
    path = tmp_path / "m.py"
    path.write_text(
        f"class A:\n    def f(self) -> None:\n{body.replace('    ', '        ')}\n"
        f"def f() -> None:\n    pass\n\n\nasync def g() -> None:\n{body}"
    )
    lines, funcs = python_sizes(path)
    assert lines == 2 * FUNCTION_LINES + 8
    assert sorted(funcs.values()) == [2, FUNCTION_LINES + 1, FUNCTION_LINES + 1]
    assert sorted(funcs) == ["f", "f'", "g"]  # the method and the function both counted
