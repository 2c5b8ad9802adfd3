"""A pytest plugin: the one-line summary of which target suites ran (loaded by conftest.py).

`make test` runs every suite; those that need something absent (bmv2, the Tofino compiler,
root for network namespaces) skip. ``--suite-summary=FILE`` writes one line saying, per target
suite, whether it ran and, if not, why (the first skip reason), and prints it at the end of
the run, so a green run that skipped a target cannot pass unnoticed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# (suite name, predicate on the test's path relative to the project): first match wins.
_SUITES: list[tuple[str, tuple[str, ...]]] = [
    ("bmv2", ("bmv2_tests/",)),
    ("tofino", ("tests/tofino/",)),
    (
        "namespaces",
        (
            "tests/e2e/",
            "tests/targets/test_dpdk_netns.py",
            "tests/controller/test_controller_restart.py",
        ),
    ),
    ("dpdk", ("tests/targets/test_dpdk_", "tests/bench/test_dpdk_bench.py")),
    ("refmodel", ("tests/pipeline/test_pipeline_vectors.py",)),
]


def _suite_of(path: str) -> str | None:
    for name, prefixes in _SUITES:
        if any(path.startswith(p) for p in prefixes):
            return name
    return None


@dataclass
class _Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        why = self.reasons[0] if self.reasons else "no reason given"
        if self.passed + self.failed == 0:
            return f"{name} skipped ({why})" if self.skipped else f"{name} not collected"
        ran = f"{name} ran ({self.passed} passed"
        ran += f", {self.failed} failed" if self.failed else ""
        ran += f", {self.skipped} skipped: {why}" if self.skipped else ""
        return ran + ")"


_tallies: dict[str, _Tally] = defaultdict(_Tally)


def _reason(longrepr: object) -> str:
    is_location_tuple = isinstance(longrepr, tuple) and len(longrepr) == 3
    text = str(longrepr[2]) if is_location_tuple else str(longrepr)  # type: ignore[index]
    text = text.removeprefix("Skipped: ").strip()
    return text.splitlines()[0] if text else "no reason given"


def _record(path: str, outcome: str, longrepr: object) -> None:
    suite = _suite_of(path)
    if suite is None:
        return
    tally = _tallies[suite]
    if outcome == "passed":
        tally.passed += 1
    elif outcome == "failed":
        tally.failed += 1
    else:
        tally.skipped += 1
        reason = _reason(longrepr)
        if reason not in tally.reasons:
            tally.reasons.append(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite-summary",
        default=None,
        metavar="FILE",
        help="write one line saying which target suites ran and why others were skipped",
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _record(path, report.outcome, report.longrepr)
    elif report.when == "teardown" and report.outcome == "failed":
        _record(path, "failed", report.longrepr)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    # A module that skips as a whole (pytest.skip(..., allow_module_level=True)).
    if report.skipped and report.nodeid.endswith(".py"):
        _record(report.nodeid, "skipped", report.longrepr)


def suite_summary_line() -> str:
    """The one line: every target suite in a fixed order, ran or skipped with its reason."""
    parts = [_tallies[name].line(name) for name, _ in _SUITES]
    return "target suites: " + "; ".join(parts)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    target = config.getoption("--suite-summary")
    if target is None:
        return
    line = suite_summary_line()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(line + "\n")
    terminalreporter.write_line(line)
