"""The management API's methods: one request's parameters checked, the daemon asked, the
answer rendered (``docs/controller.md``, Management API).

:mod:`controller.mgmt` is the transport (socket, token, framing, hardening); this module is
what a request means; :mod:`controller.mgmt_json` renders the agent's views. Every bad parameter
is a :class:`~controller.mgmt.MgmtError` (``bad_request``, ``not_found``, ``refused``), raised
before anything is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller import mgmt_json
from controller.mgmt import MgmtError, Progress
from dysco_proto.actions import Observe
from dysco_proto.agent import SessionView
from dysco_proto.events import BoxOffset, ReconfigKind, RelateProxy
from dysco_proto.packet import FiveTuple
from dysco_proto.policy import ConfigError, PolicyTable, parse_policies

if TYPE_CHECKING:
    from controller.agents import AgentUnit
    from controller.daemon import Daemon

Outcome = dict[str, Any]


class MgmtHandlers:
    """The management methods of one :class:`~controller.daemon.Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._sync: dict[str, Callable[[dict[str, Any]], Any]] = {
            "sessions": self.sessions,
            "session": self.session,
            "policy.list": lambda _p: [mgmt_json.policy_dict(p) for p in daemon.agent.policies],
            "policy.add": self.policy_add,
            "policy.remove": self.policy_remove,
            "relate": self.relate,
            "box_offset": self.box_offset,
            "status": lambda _p: daemon.status(),
            "counters": lambda _p: daemon.counter_dict(),
        }

    async def handle(self, method: str, params: dict[str, Any], progress: Progress) -> Any:
        """Answer one request (see :mod:`controller.mgmt`); ``progress`` gets partial counts."""
        if method == "reconfig":
            return await self.reconfig(params, progress)
        fn = self._sync.get(method)
        if fn is None:
            raise MgmtError("unknown_method", f"unknown method {method!r}")
        return fn(params)

    # -- sessions -------------------------------------------------------------------------------

    def units(self, params: dict[str, Any]) -> list[AgentUnit]:
        """The agents a request is for: the one serving ``agent`` (a local host address),
        else all of them."""
        if params.get("agent") is None:
            return list(self.daemon.units.values())
        addr = _ipv4(params["agent"], "agent")
        u = self.daemon.unit_for(addr)
        if u is None:
            raise MgmtError("not_found", f"no agent of this controller serves {addr}")
        return [u]

    def sessions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """``sessions``: the sessions matching a selector (and ``agent``), brief, at most
        ``limit``; each names its agent (``agent_id``) and local host (``host``)."""
        sel = selector(params)
        out = [
            _with_agent(mgmt_json.session_dict(v, brief=True), u, v)
            for u in self.units(params)
            for v in u.agent.sessions()
            if mgmt_json.matches(v, sel)
        ]
        limit = params.get("limit")
        if isinstance(limit, int) and limit >= 0:
            out = out[:limit]
        return out

    def session(self, params: dict[str, Any]) -> dict[str, Any]:
        """``session``: one session in full (by id or five-tuple), its entries and the
        reconfigurations this agent anchors on it."""
        ident = params.get("id")
        found = None
        for u in self.units(params):
            found = self._find(ident, u)
            if found is not None:
                break
        if found is None:
            raise MgmtError("not_found", f"no session {ident}")
        d = _with_agent(mgmt_json.session_dict(found, brief=False), u, found)
        shadow = u.shadow
        keys = {k for s in mgmt_json.sides(found) for k in mgmt_json.side_keys(s)}
        d["entries"] = [mgmt_json.entry_dict(shadow[k]) for k in sorted(keys) if k in shadow]
        tuples = {s.session for s in mgmt_json.sides(found)}
        d["reconfigs"] = [
            {
                "request": f"{r.request.anchor}/{r.request.number}",
                "role": r.role,
                "phase": r.phase,
                "peer_anchor": r.peer_anchor,
            }
            for r in u.agent.reconfigs()
            if r.session in tuples
        ]
        return d

    def _find(self, ident: Any, u: AgentUnit) -> SessionView | None:
        all_views = u.agent.sessions()
        if isinstance(ident, int):
            return next((v for v in all_views if v.id == ident), None)
        if not isinstance(ident, str):
            raise MgmtError("bad_request", "session: 'id' (number or five-tuple) is required")
        if ident.isdigit():  # a number given as text
            return next((v for v in all_views if v.id == int(ident)), None)
        t = parse_tuple(ident)
        return next(
            (
                v
                for v in all_views
                if t in {s.session for s in mgmt_json.sides(v)} | {mgmt_json.subsession(v)}
            ),
            None,
        )

    # -- reconfiguration ------------------------------------------------------------------------

    async def reconfig(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``reconfig``: start one reconfiguration per target session, report progress, wait
        for their outcomes until ``timeout``; returns the outcomes and a summary."""
        kind, boxes, right_anchor, timeout = _reconfig_params(params)
        targets = self._reconfig_targets(params)
        loop = asyncio.get_running_loop()
        started: list[tuple[int | None, FiveTuple, asyncio.Future[Outcome]]] = []
        for u, t in targets:
            side = u.agent.right_by_stuple.get(t)
            if side is None:
                continue
            anchor = right_anchor or u.agent.default_right_anchor(t, kind)
            if anchor is None:  # remove: splice out the next box; needs the hop after it
                fut: asyncio.Future[Outcome] = loop.create_future()
                reason = "right anchor unknown: pass right_anchor"
                fut.set_result({"session": str(t), "outcome": "refused", "reason": reason})
                started.append((None, t, fut))
                continue
            tag, fut = self.daemon.start_reconfig(t, anchor, boxes, kind, u.addresses[0])
            started.append((tag, t, fut))
        results = await _collect(started, timeout, progress)
        for waited, _t, f in started:
            if waited is not None and not f.done():
                self.daemon.abandon_reconfig(waited)
        summary: dict[str, int] = {}
        for r in results:
            summary[r["outcome"]] = summary.get(r["outcome"], 0) + 1
        return {"total": len(started), "summary": summary, "results": results}

    def _reconfig_targets(self, params: dict[str, Any]) -> list[tuple[AgentUnit, FiveTuple]]:
        """(agent, session) to reconfigure: each session with a right side at the agent
        (``agent``: only the agent of that local address)."""
        units = self.units(params)
        if "session" in params:
            t = parse_tuple(_param(params, "session", str))
            u = next((x for x in units if t in x.agent.right_by_stuple), None)
            if u is None:
                raise MgmtError("not_found", f"no session {t} with a right side at this agent")
            return [(u, t)]
        sel = selector(params)
        if not sel and not params.get("all"):
            raise MgmtError("bad_request", "give a session, a selector or all=true")
        return [
            (u, v.right.session)
            for u in units
            for v in u.agent.sessions()
            if v.right is not None and not v.closing and mgmt_json.matches(v, sel)
        ]

    # -- policies and local boxes ---------------------------------------------------------------

    def policy_add(self, params: dict[str, Any]) -> dict[str, Any]:
        """``policy.add``: parse a policy document, refuse duplicate names, add all or none."""
        text = params.get("yaml")
        if not isinstance(text, str):
            raise MgmtError("bad_request", "policy.add needs 'yaml' (a policy document)")
        filename = str(params.get("filename") or "<policy>")
        try:
            policies = parse_policies(text, filename=filename, names=self.daemon.config.names)
        except ConfigError as e:
            raise MgmtError("bad_request", str(e)) from None
        index = params.get("index")
        table: PolicyTable = self.daemon.agent.policies
        for p in policies:
            if p.name in table:
                raise MgmtError("refused", f"a policy named {p.name!r} already exists")
        for i, p in enumerate(policies):
            table.add(p, None if not isinstance(index, int) else index + i)
        return {"added": [p.name for p in policies]}

    def policy_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        """``policy.remove``: remove the policy ``name``."""
        name = _param(params, "name", str)
        try:
            self.daemon.agent.policies.remove(name)
        except KeyError:
            raise MgmtError("not_found", f"no policy named {name!r}") from None
        return {"removed": name}

    def relate(self, params: dict[str, Any]) -> dict[str, Any]:
        """``relate``: a local TCP-terminating proxy (the agent of ``agent``, default of the
        outbound source) spliced ``inbound`` to ``outbound``."""
        inbound = parse_tuple(_param(params, "inbound", str))
        outbound = parse_tuple(_param(params, "outbound", str))
        unit = self.units(params)[0] if params.get("agent") is not None else None
        acts = self.daemon.dispatch(RelateProxy(inbound, outbound), unit)
        return {"observed": [a.kind for a in acts if isinstance(a, Observe)]}

    def box_offset(self, params: dict[str, Any]) -> dict[str, Any]:
        """``box_offset``: a local box (the agent of ``agent``, default the first holding the
        session) declares the byte offset it applies."""
        session = parse_tuple(_param(params, "session", str))
        lr, rl = int(params.get("lr") or 0), int(params.get("rl") or 0)
        unit = self.units(params)[0] if params.get("agent") is not None else None
        acts = self.daemon.dispatch(BoxOffset(session, lr, rl), unit)
        return {"observed": [a.kind for a in acts if isinstance(a, Observe)]}


def _with_agent(d: dict[str, Any], u: AgentUnit, v: SessionView) -> dict[str, Any]:
    """A session's JSON with the agent holding it: its agent id and local host address."""
    side = v.left or v.right
    d["agent_id"] = u.agent_id
    d["host"] = side.local if side is not None else u.addresses[0]
    return d


async def _collect(
    started: list[tuple[int | None, FiveTuple, asyncio.Future[Outcome]]],
    timeout: float,
    progress: Progress,
) -> list[Outcome]:
    """Wait for the outcomes until ``timeout``, reporting progress after each one; the
    outcomes in start order, then a ``timeout`` one for every reconfiguration still going."""
    loop = asyncio.get_running_loop()
    futures = [f for _tag, _t, f in started]
    deadline = loop.time() + timeout
    pending = set(futures)
    done = 0
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        finished, pending = await asyncio.wait(
            pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        done += len(finished)
        with contextlib.suppress(Exception):
            await progress({"done": done, "total": len(futures)})
    results = [f.result() for f in futures if f.done() and not f.cancelled()]
    results += [
        {"session": str(t), "outcome": "timeout", "reason": ""}
        for tag, t, f in started
        if tag is not None and f in pending
    ]
    return results


def _reconfig_params(
    params: dict[str, Any],
) -> tuple[ReconfigKind, tuple[str, ...], str | None, float]:
    """The kind, new boxes, right anchor (if given) and timeout of a ``reconfig`` request."""
    kind_text = _param(params, "kind", str)
    try:
        kind = ReconfigKind(kind_text)
    except ValueError:
        raise MgmtError("bad_request", f"unknown reconfiguration kind {kind_text!r}") from None
    boxes = tuple(_ipv4(b, "boxes") for b in params.get("boxes") or [])
    right_anchor = params.get("right_anchor")
    if right_anchor is not None:
        right_anchor = _ipv4(right_anchor, "right_anchor")
    timeout = float(params.get("timeout") or 10.0)
    if kind is ReconfigKind.INSERT and not boxes:
        raise MgmtError("bad_request", "insert needs at least one box")
    if kind is ReconfigKind.REPLACE and not boxes:
        raise MgmtError("bad_request", "replace needs at least one new box")
    if kind is ReconfigKind.REPLACE and right_anchor is None:
        raise MgmtError("bad_request", "replace needs the right anchor")
    return kind, boxes, right_anchor, timeout


# -- parameters ---------------------------------------------------------------------------------


def _param(params: dict[str, Any], name: str, typ: type) -> Any:
    v = params.get(name)
    if not isinstance(v, typ):
        raise MgmtError("bad_request", f"parameter {name!r} ({typ.__name__}) is required")
    return v


def _ipv4(v: Any, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(v)))
    except ValueError:
        raise MgmtError("bad_request", f"{what}: not an IPv4 address: {v!r}") from None


def parse_tuple(text: str) -> FiveTuple:
    """Parse ``a.b.c.d:p->e.f.g.h:q[/proto]`` (the form :class:`FiveTuple` prints)."""
    try:
        body, _, proto = text.partition("/")
        left, right = body.split("->")
        sip, sport = left.rsplit(":", 1)
        dip, dport = right.rsplit(":", 1)
        return FiveTuple(
            str(ipaddress.IPv4Address(sip.strip())),
            int(sport),
            str(ipaddress.IPv4Address(dip.strip())),
            int(dport),
            int(proto) if proto else 6,
        )
    except ValueError:
        raise MgmtError(
            "bad_request", f"not a session five-tuple (a.b.c.d:p->e.f.g.h:q): {text!r}"
        ) from None


def selector(params: dict[str, Any]) -> dict[str, Any]:
    """The session selector of a request (``src``, ``dst``, ``sport``, ``dport``, ``peer``,
    ``state``), parsed for :func:`controller.mgmt_json.matches`."""
    sel: dict[str, Any] = {}
    for k in ("src", "dst"):
        if params.get(k):
            try:
                sel[k] = ipaddress.IPv4Network(str(params[k]), strict=False)
            except ValueError:
                raise MgmtError("bad_request", f"{k}: not an IPv4 prefix: {params[k]!r}") from None
    for k in ("sport", "dport"):
        if params.get(k) is not None:
            try:
                sel[k] = int(params[k])
            except (TypeError, ValueError):
                raise MgmtError("bad_request", f"{k}: not a port: {params[k]!r}") from None
    if params.get("peer"):
        sel["peer"] = _ipv4(params["peer"], "peer")
    if params.get("state"):
        sel["state"] = str(params["state"])
    return sel


__all__ = ["MgmtHandlers", "parse_tuple", "selector"]
