"""The management methods (controller/mgmt_handlers.py) and their JSON rendering
(controller/mgmt_json.py) on a real daemon and agent, without a device: selectors, one session's
detail, bad parameters refused before anything is started, reconfiguration outcomes that do
not come in time, policy changes that are all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from controller.config import load_config
from controller.daemon import Daemon
from controller.mgmt import MgmtError
from controller.mgmt_handlers import parse_tuple
from dysco_proto.entries import Direction
from dysco_proto.events import PacketIn, PuntReason
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from tests.controller_support import WEB_POLICY, daemon_yaml, synack_mirrored, write_p4info

SESSION = FiveTuple("10.0.0.1", 40000, "10.0.0.9", 80)

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


def _run(tmp: Path, body: Callable[[Daemon, Call], Awaitable[None]]) -> None:
    """Run ``body`` with a daemon (not connected) that holds one session: host 10.0.0.1
    opened SESSION, chained through box 10.0.0.5 by the web policy."""
    p4info = write_p4info(tmp / "dysco.p4info.txtpb")
    cfg = daemon_yaml(
        tmp, "sw1", "127.0.0.1:9", p4info, ("10.0.0.1", 1), 0,
        [("c5", 39999, ["10.0.0.5"])], WEB_POLICY,
    )  # fmt: skip

    async def main() -> None:
        d = Daemon(load_config(cfg), management=False)
        progress: list[dict[str, Any]] = []

        async def note(p: dict[str, Any]) -> None:
            progress.append(p)

        async def call(method: str, params: dict[str, Any]) -> Any:
            return await d.handle_mgmt(method, params, note)

        seg = Segment(
            SESSION, 1000, 0, TcpFlags.SYN, options=TcpOptions(mss=1460, wscale=7)
        )  # fmt: skip
        d.dispatch(PacketIn(PuntReason.SYN, Direction.OUT, seg))
        synack_mirrored(d, SESSION)
        try:
            await body(d, call)
        finally:
            await d.writer.close()
            d.store.close()

    asyncio.run(main())


def _code(exc: pytest.ExceptionInfo[MgmtError]) -> str:
    return exc.value.code


def test_sessions_filter_by_selector_and_limit(tmp_path: Path) -> None:
    async def body(d: Daemon, call: Call) -> None:
        (one,) = await call("sessions", {})
        assert one["session"] == str(SESSION) and one["state"] == "established"
        assert one["left_peer"] is None and one["right_peer"] == "10.0.0.5"
        assert one["path"] == ["10.0.0.1", "10.0.0.5"]
        assert await call("sessions", {"src": "10.0.0.0/24", "dport": 80, "peer": "10.0.0.5"})
        assert await call("sessions", {"state": "established"})
        assert await call("sessions", {"dport": 81}) == []
        assert await call("sessions", {"dst": "10.0.1.0/24"}) == []
        assert await call("sessions", {"peer": "10.0.0.6"}) == []
        assert await call("sessions", {"state": "closing"}) == []
        assert await call("sessions", {"limit": 0}) == []

    _run(tmp_path, body)


def test_session_detail_by_id_tuple_or_subsession(tmp_path: Path) -> None:
    async def body(d: Daemon, call: Call) -> None:
        by_id = await call("session", {"id": 1})
        assert by_id["right"]["peer"] == "10.0.0.5" and by_id["left"] is None
        # the entries the side installed, as the shadow holds them
        keys = {e["key"] for e in by_id["entries"]}
        assert keys == {str(k) for k in d.shadow}
        assert len(keys) == 2 and by_id["reconfigs"] == []
        assert await call("session", {"id": str(SESSION)}) == by_id
        assert await call("session", {"id": by_id["right"]["subsession"]}) == by_id
        assert await call("session", {"id": "1"}) == by_id  # a number given as text
        with pytest.raises(MgmtError) as e:
            await call("session", {"id": 2})
        assert _code(e) == "not_found"
        with pytest.raises(MgmtError) as e:
            await call("session", {"id": "10.0.0.1:1->10.0.0.2:2"})
        assert _code(e) == "not_found"
        for bad in ({}, {"id": None}, {"id": "not a tuple"}, {"id": [1]}):
            with pytest.raises(MgmtError) as e:
                await call("session", bad)
            assert _code(e) == "bad_request", bad

    _run(tmp_path, body)


@pytest.mark.parametrize(
    "params",
    [
        {"all": True},  # no kind
        {"all": True, "kind": "teleport", "boxes": ["10.0.0.7"]},
        {"all": True, "kind": "insert"},  # no box
        {"all": True, "kind": "insert", "boxes": ["10.0.0.300"]},
        {"all": True, "kind": "replace", "boxes": ["10.0.0.7"]},  # no right anchor
        {"all": True, "kind": "insert", "boxes": ["10.0.0.7"], "right_anchor": "x"},
        {"kind": "insert", "boxes": ["10.0.0.7"]},  # no session, selector or all
        {"kind": "insert", "boxes": ["10.0.0.7"], "session": "10.0.0.1:1"},
        {"kind": "insert", "boxes": ["10.0.0.7"], "src": "10.0.0.0/33"},
        {"kind": "insert", "boxes": ["10.0.0.7"], "sport": "http"},
    ],
)
def test_bad_reconfig_requests_start_nothing(tmp_path: Path, params: dict[str, Any]) -> None:
    async def body(d: Daemon, call: Call) -> None:
        events = d.counters.events
        with pytest.raises(MgmtError) as e:
            await call("reconfig", params)
        assert _code(e) == "bad_request"
        assert d.counters.events == events and not d._outcomes
        assert not d.agent.reconfigs()

    _run(tmp_path, body)


def test_reconfig_of_an_unknown_session_is_not_found(tmp_path: Path) -> None:
    async def body(d: Daemon, call: Call) -> None:
        params = {"kind": "insert", "boxes": ["10.0.0.7"], "session": "10.0.0.2:1->10.0.0.9:80"}
        with pytest.raises(MgmtError) as e:
            await call("reconfig", params)
        assert _code(e) == "not_found" and not d.agent.reconfigs()

    _run(tmp_path, body)


def test_reconfig_without_an_answer_ends_in_timeout_and_is_forgotten(tmp_path: Path) -> None:
    """No peer controller answers (the daemon has no peer channel): the request is started
    at the agent, reported as ``timeout``, and the daemon stops tracking its outcome."""

    async def body(d: Daemon, call: Call) -> None:
        params = {"kind": "insert", "boxes": ["10.0.0.7"], "dport": 80, "timeout": 0.05}
        res = await call("reconfig", params)
        assert res["total"] == 1 and res["summary"] == {"timeout": 1}
        assert res["results"] == [{"session": str(SESSION), "outcome": "timeout", "reason": ""}]
        assert [r.session for r in d.agent.reconfigs()] == [SESSION]  # it was started
        assert not d._outcomes  # nobody waits for it any more
        none = await call("reconfig", {**params, "dport": 81})
        assert none == {"total": 0, "summary": {}, "results": []}

    _run(tmp_path, body)


def test_policy_changes_are_all_or_nothing(tmp_path: Path) -> None:
    async def body(d: Daemon, call: Call) -> None:
        assert [p["name"] for p in await call("policy.list", {})] == ["web"]
        two = (
            "policies:\n"
            "  - {name: ssh, match: {dport: 22}, chain: [10.0.0.5]}\n"
            "  - {name: web, match: {dport: 8080}, chain: [10.0.0.5]}\n"
        )
        with pytest.raises(MgmtError) as e:
            await call("policy.add", {"yaml": two})
        assert _code(e) == "refused"
        assert [p["name"] for p in await call("policy.list", {})] == ["web"]
        with pytest.raises(MgmtError) as e:
            await call("policy.add", {"yaml": "policies: [{name: x}]"})
        assert _code(e) == "bad_request"
        one = "policies:\n  - {name: ssh, match: {dport: 22}, chain: [10.0.0.5]}\n"
        assert await call("policy.add", {"yaml": one, "index": 0}) == {"added": ["ssh"]}
        listed = await call("policy.list", {})
        assert [p["name"] for p in listed] == ["ssh", "web"]
        assert listed[0]["dport"] == "22" and listed[0]["chain"] == ["10.0.0.5"]
        assert await call("policy.remove", {"name": "ssh"}) == {"removed": "ssh"}
        with pytest.raises(MgmtError) as e:
            await call("policy.remove", {"name": "ssh"})
        assert _code(e) == "not_found"

    _run(tmp_path, body)


def test_status_counters_and_unknown_methods(tmp_path: Path) -> None:
    async def body(d: Daemon, call: Call) -> None:
        st = await call("status", {})
        assert st["sessions"] == 1 and st["entries"] == 2 and st["connected"] is False
        assert st["ready"] is False and st["policies"] == 1
        counters = await call("counters", {})
        assert (
            counters["events"] == 2 and "writer" in counters and "agent" in counters
        )  # the SYN, the SYN-ACK mirror
        with pytest.raises(MgmtError) as e:
            await call("sessions.delete", {})
        assert _code(e) == "unknown_method"

    _run(tmp_path, body)


def test_parse_tuple() -> None:
    assert parse_tuple("10.0.0.1:1->10.0.0.2:2") == FiveTuple("10.0.0.1", 1, "10.0.0.2", 2)
    assert parse_tuple(" 10.0.0.1:1 -> 10.0.0.2:2/17").proto == 17
    for bad in ("10.0.0.1:1", "10.0.0.1->10.0.0.2:2", "a:1->b:2", "10.0.0.1:x->10.0.0.2:2"):
        with pytest.raises(MgmtError) as e:
            parse_tuple(bad)
        assert _code(e) == "bad_request" and bad in e.value.message
