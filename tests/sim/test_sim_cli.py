"""The ``dysco sim`` command line: argument errors, output formats, exit status."""

from __future__ import annotations

import json

import pytest

from controller import cli
from dysco_proto.sim import runner
from dysco_proto.sim.scenario import SimParams
from tests.sim_fakes import fake_agent, fake_datapath

REQUIRED_KEYS = {
    "sessions",
    "reconfigs_requested",
    "reconfigs_completed",
    "reconfigs_refused",
    "reconfigs_cancelled",
    "violations",
    "bytes_sent",
    "bytes_delivered",
    "leaked_entries",
}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["sim", "--sessions", "0"], "--sessions: must be >= 1"),
        (["sim", "--sessions", "x"], "--sessions: not an integer"),
        (["sim", "--reconfigs", "-1"], "--reconfigs: must be >= 0"),
        (["sim", "--loss", "1.5"], "--loss: must be a probability in [0, 1]"),
        (["sim", "--dup", "-0.1"], "--dup: must be a probability"),
        (["sim", "--reorder", "abc"], "--reorder: not a number"),
        (["sim", "--seed", "1.5"], "--seed: invalid int value"),
        (["sim", "--bogus"], "unrecognized arguments: --bogus"),
        (["sim", "--sessions", "5000"], "--sessions must be in 1..4000"),
        (["sim", "--trace", "5", "--trace-filter", "("], "--trace-filter is not a regular"),
        ([], "a subcommand is required"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ],
)
def test_bad_arguments_one_line_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sim", "--help"]) == 0
    assert "--reconfigs" in capsys.readouterr().out


def _fake_run(params: SimParams) -> runner.SimReport:
    return runner.Simulation(params, agent_factory=fake_agent, datapath_factory=fake_datapath).run()


def test_json_output_and_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[SimParams] = []

    def fake(params: SimParams) -> runner.SimReport:
        seen.append(params)
        return _fake_run(params)

    monkeypatch.setattr(runner, "run", fake)
    argv = ["sim", "--sessions", "3", "--reconfigs", "4", "--loss", "0.1", "--seed", "9"]
    status = cli.main([*argv, "--json"])
    out = capsys.readouterr().out
    d = json.loads(out)  # exactly one JSON object
    assert d.keys() >= REQUIRED_KEYS
    assert seen[0].sessions == 3 and seen[0].reconfigs == 4 and seen[0].loss == 0.1
    assert seen[0].seed == 9
    # the stand-ins cannot carry offset boxes' prefixes or proxies: violations are likely;
    # the exit status must follow the violations either way
    assert status == (0 if not d["violations"] else 1)
    assert d["reconfigs_requested"] == 4


def test_human_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(runner, "run", _fake_run)
    cli.main(["sim", "--sessions", "2", "--reconfigs", "2", "--seed", "3"])
    out = capsys.readouterr().out
    assert "reconfigs requested" in out and "requests by kind" in out


def test_violation_gives_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad(params: SimParams) -> runner.SimReport:
        rep = _fake_run(params)
        rep.violations = ["synthetic"]
        rep.violation_count = 1
        return rep

    monkeypatch.setattr(runner, "run", bad)
    assert cli.main(["sim", "--sessions", "1", "--reconfigs", "0", "--json"]) == 1


def test_registry_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        cli.register(cli.Subcommand("sim", "again", lambda p: None, lambda a: 0))
