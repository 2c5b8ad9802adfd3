"""The testbed's failure message (``dysco_testbed.scenarios.failure_summary``): CI keeps only a
failed test's report, so the message must carry every problem's words (the rack's e2e 8 once
failed with its tuple message cut in the middle) and the server's sockets when sessions did
not finish."""

from __future__ import annotations

from typing import Any

from dysco_testbed.scenarios import Result, StepResult, failure_summary


def _failed(problems: int, sockets: list[str] | None = None) -> dict[str, Any]:
    r = Result("8-100-sessions-one-selector", sessions=100, sessions_ok=100 - problems)
    r.reconfigs.append(
        StepResult("insert", 4.0, "insert", "client", "completed", {"completed": 100}, 812.5, True)
    )
    r.problems = [
        f"session 8-100-sessions-one-selector-{81 + i}: the server never finished it"
        f" (the client sent 49152, received 49152)"
        for i in range(problems)
    ]
    if sockets is not None:
        r.extra["unfinished_server_sockets"] = sockets
    return r.to_dict()


def test_every_problem_is_spelled_out_up_to_twelve() -> None:
    msg = failure_summary(_failed(3))
    assert msg.count("the server never finished it (the client sent 49152") == 3
    assert "'sessions_ok': 97" in msg and "insert: expected completed" in msg
    assert "server sockets" not in msg


def test_more_problems_are_counted_and_the_sockets_follow() -> None:
    line = "ESTAB 0 0 198.18.3.2:9002 198.18.3.1:36090 rto:204 retrans:0/3"
    msg = failure_summary(_failed(19, ["State Recv-Q Send-Q", line]))
    assert msg.count("never finished") == 12 and "(and 7 more)" in msg
    assert msg.endswith(f"server sockets of unfinished sessions:\nState Recv-Q Send-Q\n{line}")
