"""Scenarios: live traffic through the testbed, reconfigurations at set times, verdicts.

A run passes only if every session's bytes arrived complete and identical in both directions
(length and SHA-256 at the far end), no RST was captured on the client or the server (a
host's closed socket answering a late segment after its own FIN is reported apart,
:func:`after_close`), and every reconfiguration ended with the expected outcome.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from dysco_testbed.bed import Testbed

TRAFFIC = [sys.executable, "-m", "dysco_testbed.traffic"]


@dataclass
class Step:
    at: float  # seconds after the traffic started
    name: str
    anchor: str  # host whose controller is the left anchor
    kind: str  # insert | remove | replace
    right_anchor: str
    boxes: list[str] = field(default_factory=list)
    expect: str = "completed"  # or: refused, cancelled, any-one (see concurrent)
    concurrent: Step | None = None  # issued at the same instant (scenario 6)
    before: Any = None  # callable(tb) run just before the request (scenario 7)
    timeout: float = 15.0


@dataclass
class Spec:
    name: str
    port: int = 9000
    sessions: int = 1
    seconds: float = 8.0
    rate: float = 2e6
    stagger: float = 0.0
    sample_ms: float = 100.0  # receive sample interval of both ends (traffic --sample-ms)
    steps: list[Step] = field(default_factory=list)
    during: Any = None  # callable(tb, t0) in a thread (scenario 10)


@dataclass
class StepResult:
    name: str
    at: float
    kind: str
    anchor: str
    expect: str
    outcomes: dict[str, int]
    elapsed_ms: float
    ok: bool
    detail: Any = None


@dataclass
class Result:
    name: str
    passed: bool = False
    bytes_sent: int = 0
    bytes_verified: int = 0
    sessions: int = 0
    sessions_ok: int = 0
    rst_seen: int = 0
    # RSTs a host's closed socket sent after its own FIN (``after_close``): not in rst_seen
    rst_after_close: int = 0
    reconfigs: list[StepResult] = field(default_factory=list)
    samples_c2s: list[list[float]] = field(default_factory=list)
    samples_s2c: list[list[float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "bytes_sent": self.bytes_sent,
            "bytes_verified": self.bytes_verified,
            "sessions": self.sessions,
            "sessions_ok": self.sessions_ok,
            "rst_seen": self.rst_seen,
            "rst_after_close": self.rst_after_close,
            "reconfig_ms": [r.elapsed_ms for r in self.reconfigs],
            "reconfigs": [r.__dict__ for r in self.reconfigs],
            "problems": self.problems,
            **self.extra,
        }


def failure_summary(d: dict[str, Any]) -> str:
    """One readable failure message of a result's ``to_dict()``: what went wrong, not the
    whole sample series (a string: pytest shortens a tuple's repr in the middle)."""
    steps = [
        f"{x['name']}: expected {x['expect']}, got {x['outcomes']} in {x['elapsed_ms']} ms"
        + ("" if x["ok"] else f" detail={str(x['detail'])[:600]}")
        for x in d["reconfigs"]
    ]
    keep = ("sessions", "sessions_ok", "rst_seen", "bytes_sent", "bytes_verified")
    summary = {k: d[k] for k in keep}
    problems = d["problems"]
    more = f" (and {len(problems) - 12} more)" if len(problems) > 12 else ""
    sockets = "\n".join(d.get("unfinished_server_sockets", []))
    return f"{d['name']}: {summary} steps={steps} problems={problems[:12]}{more}" + (
        f"\nserver sockets of unfinished sessions:\n{sockets}" if sockets else ""
    )


_SEGMENT = re.compile(r" IP (\S+) > (\S+): Flags \[([^\]]*)\], seq (\d+)(?::(\d+))?")


def after_close(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split captured RSTs into (counted, after close). A RST is *after close* when the same
    host sent a FIN on the same tuple earlier in the capture and the RST carries exactly the
    sequence number after that FIN: the host's stream was complete and its socket closed, and
    it answered a late segment, as standard TCP does (RFC 9293: a closed connection answers
    any segment but a RST with a RST). Seen on the rack: the server (passive close) sent its
    FIN again before the client's ACK of it arrived (a loaded path), the client's TIME_WAIT
    acknowledged the copy, and that ACK found the server's socket closed; without Dysco the
    same delays draw the same RST. Any other RST is counted (``rst_seen``). ``lines`` are
    tcpdump lines with absolute sequence numbers (``-S``), FINs and RSTs."""
    fin_next: set[tuple[str, str, int]] = set()
    counted: list[str] = []
    late: list[str] = []
    for line in lines:
        m = _SEGMENT.search(line)
        if m is None:
            continue
        src, dst, flags, seq, end = m.groups()
        if "R" in flags:
            (late if (src, dst, int(seq)) in fin_next else counted).append(line)
        elif "F" in flags:
            last = int(end) if end is not None else int(seq)
            fin_next.add((src, dst, (last + 1) & 0xFFFFFFFF))
    return counted, late


class Capture:
    """RSTs and FINs seen on a host's interface (tcpdump; :func:`after_close` splits them)."""

    def __init__(self, tb: Testbed, host: str) -> None:
        flt = "tcp[tcpflags] & (tcp-rst|tcp-fin) != 0"
        self.p = tb.spawn(host, ["tcpdump", "-i", "eth0", "-n", "-S", "-l", flt], name="tcpdump")
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            if " IP " in line:
                self.lines.append(line.strip())

    def stop(self) -> list[str]:
        time.sleep(0.2)
        self.p.terminate()
        try:
            self.p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.t.join(timeout=2)
        return self.lines


def request(tb: Testbed, s: Step, port: int) -> StepResult:
    params: dict[str, Any] = {
        "kind": s.kind,
        "dst": tb.addr("server"),
        "dport": port,
        "right_anchor": tb.addr(s.right_anchor),
        "boxes": [tb.addr(b) for b in s.boxes],
        "timeout": s.timeout,
        "agent": tb.addr(s.anchor),  # the anchor host's agent (a device may serve several)
    }
    t0 = time.monotonic()
    try:
        r = tb.mgmt(s.anchor, "reconfig", params, timeout=30)
    except Exception as e:
        r = {"summary": {"error": 1}, "results": [], "error": str(e)}
    ms = (time.monotonic() - t0) * 1000
    summary = dict(r.get("summary") or {})
    elapsed = [x.get("elapsed") for x in r.get("results", []) if x.get("elapsed") is not None]
    if elapsed:  # the agent's own measure: request to one path again (seconds)
        ms = max(float(e) for e in elapsed) * 1000
    total = sum(summary.values())
    ok = total > 0 and summary.get(s.expect, 0) == total if s.expect != "any" else total > 0
    return StepResult(s.name, s.at, s.kind, s.anchor, s.expect, summary, round(ms, 2), ok, r)


def run(tb: Testbed, spec: Spec, log: Any = print) -> Result:
    res = Result(spec.name)
    caps = [Capture(tb, "client"), Capture(tb, "server")]
    srv = tb.spawn("server", [*TRAFFIC, "server", "--port", str(spec.port)], name="traffic")
    assert srv.stdout is not None
    srv.stdout.readline()
    server_lines: list[str] = []
    threading.Thread(target=lambda: server_lines.extend(srv.stdout), daemon=True).start()  # type: ignore[arg-type]
    # its stderr read too: a full pipe would stop the server, and a failure's words are kept
    server_err: collections.deque[str] = collections.deque(maxlen=20)
    threading.Thread(target=lambda: server_err.extend(srv.stderr), daemon=True).start()  # type: ignore[arg-type]
    time.sleep(0.3)
    cli = tb.spawn("client", [*TRAFFIC, "client", "--connect", tb.addr("server"), "--port",
                              str(spec.port), "--sessions", str(spec.sessions), "--seconds",
                              str(spec.seconds), "--rate", str(spec.rate), "--stagger",
                              str(spec.stagger), "--tag", spec.name,
                              "--sample-ms", str(spec.sample_ms)])  # fmt: skip
    client_lines: list[str] = []
    assert cli.stdout is not None
    reader = threading.Thread(target=lambda: client_lines.extend(cli.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    t0 = time.monotonic()
    during = None
    if spec.during is not None:
        during = threading.Thread(target=spec.during, args=(tb, t0, res), daemon=True)
        during.start()
    if spec.steps:
        _connected(client_lines, spec.sessions)
    for s in spec.steps:
        delay = t0 + s.at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if s.before is not None:
            s.before(tb)
        log(f"  t={time.monotonic() - t0:5.1f}s {s.name}: {s.kind} at {s.anchor}")
        if s.concurrent is not None:
            out: list[StepResult] = []
            th = [threading.Thread(target=lambda x=x, o=out: o.append(request(tb, x, spec.port)))
                  for x in (s, s.concurrent)]  # fmt: skip
            for t in th:
                t.start()
            for t in th:
                t.join()
            got = sorted(k for r in out for k, v in r.outcomes.items() for _ in range(v))
            ok = got == ["completed", "refused"]
            r = StepResult(s.name, s.at, s.kind, s.anchor, "one completed, one refused",
                           {k: got.count(k) for k in set(got)},
                           max(x.elapsed_ms for x in out), ok, [x.detail for x in out])  # fmt: skip
        else:
            r = request(tb, s, spec.port)
        res.reconfigs.append(r)
        log(f"  t={time.monotonic() - t0:5.1f}s {s.name}: {r.outcomes} in {r.elapsed_ms:.1f} ms"
            f" -> {'ok' if r.ok else 'UNEXPECTED'}")  # fmt: skip
    try:
        cli.wait(timeout=spec.seconds + 60)
    except subprocess.TimeoutExpired:
        cli.kill()
        res.problems.append("client did not finish")
    reader.join(timeout=5)
    if during is not None:
        during.join(timeout=30)
    if not _wait_server_reports(server_lines, client_lines):
        _unfinished(tb, srv, server_err, spec, res)
    srv.terminate()
    srv.wait(timeout=5)
    rsts, late = zip(*(after_close(c.stop()) for c in caps), strict=True)
    res.rst_seen = sum(len(x) for x in rsts)
    res.rst_after_close = sum(len(x) for x in late)
    if res.rst_seen:
        res.problems.append(f"RST seen: {(rsts[0] + rsts[1])[:3]}")
    if res.rst_after_close:
        res.extra["rst_after_close_lines"] = (late[0] + late[1])[:3]
    _verdict(res, spec, client_lines, server_lines)
    res.passed = (
        not res.problems
        and res.sessions_ok == spec.sessions
        and res.rst_seen == 0
        and all(r.ok for r in res.reconfigs)
    )
    return res


def _connected(client_lines: list[str], sessions: int, limit: float = 30.0) -> None:
    """Wait until the client's sessions are connected (their SYN-ACK came back through the
    whole chain), at most ``limit`` seconds: no step starts before.

    Steps are timed from the client's start, and on a loaded machine a session's set-up
    can take longer than a step's time: a request sent while the chain SYN had not yet
    reached a box found no session there and was refused (``nack-not_found``), which says
    nothing about the reconfiguration the step is about (refusing a request for a session
    still being set up is the protocol's answer). The scenarios test established sessions;
    where set-up is quick the steps keep their times."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if sum('"connected"' in line for line in list(client_lines)) >= sessions:
            return
        time.sleep(0.01)


def _wait_server_reports(
    server_lines: list[str], client_lines: list[str], limit: float = 30.0
) -> bool:
    """Wait until the server reported every session the client reported (at most ``limit`` s).

    A client that closed its socket is done, its kernel is not: the tail of its data and its
    FIN may still be on their way, through a lossy box after retransmission timeouts of a
    second or more. Stopping the server then resets a session that would have completed."""
    seeds = {json.loads(x)["seed"][2:] for x in client_lines if x.startswith('{"seed"')}
    end = time.monotonic() + limit
    complete = False
    while time.monotonic() < end:
        done = {json.loads(x)["seed"][2:] for x in list(server_lines) if x.startswith('{"seed"')}
        if seeds <= done:
            complete = True
            break
        time.sleep(0.05)
    time.sleep(0.5)  # the last segments of the close
    return complete


def _unfinished(
    tb: Testbed, srv: subprocess.Popen[Any], err: collections.deque[str], spec: Spec, res: Result
) -> None:
    """What a run whose server did not report every session leaves to read: whether the
    server process still runs (and its last words), and the server's sockets of the
    scenario's port as the kernel has them (``ss -tni``: state, queues, retransmissions)."""
    rc = srv.poll()
    if rc is not None:
        res.problems.append(f"the traffic server exited early (rc {rc}): {''.join(err)[-600:]}")
    sockets = subprocess.run(
        ["ip", "netns", "exec", tb.hosts["server"].ns, "ss", "-tni", f"sport = :{spec.port}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    res.extra["unfinished_server_sockets"] = sockets.splitlines()[:41]


def _verdict(res: Result, spec: Spec, client_lines: list[str], server_lines: list[str]) -> None:
    cl = [json.loads(x) for x in client_lines if x.startswith('{"seed"')]
    sv = {}
    for x in server_lines:
        if x.startswith('{"seed"'):
            d = json.loads(x)
            sv[d["seed"][2:]] = d
    res.sessions = spec.sessions
    for c in cl:
        seed = c["seed"][2:]
        s = sv.get(seed)
        res.bytes_sent += c["sent"] + (s["sent"] if s else 0)
        if c.get("error"):
            res.problems.append(f"session {seed}: client error {c['error']}")
        if s is None:
            res.problems.append(
                f"session {seed}: the server never finished it (the client sent {c['sent']},"
                f" received {c['rcvd']})"
            )
            continue
        ok_cs = c["sent"] == s["rcvd"] and c["sent_sha256"] == s["rcvd_sha256"]
        ok_sc = s["sent"] == c["rcvd"] and s["sent_sha256"] == c["rcvd_sha256"]
        if ok_cs:
            res.bytes_verified += c["sent"]
        if ok_sc:
            res.bytes_verified += s["sent"]
        if ok_cs and ok_sc and c["sent"] > 0 and s["sent"] > 0:
            res.sessions_ok += 1
        else:
            res.problems.append(
                f"session {seed}: c->s {c['sent']}/{s['rcvd']} {'ok' if ok_cs else 'MISMATCH'},"
                f" s->c {s['sent']}/{c['rcvd']} {'ok' if ok_sc else 'MISMATCH'}"
            )
        if c["n"] == 0:
            res.samples_s2c = c["samples"]
            res.samples_c2s = s["samples"]
    if len(cl) < spec.sessions:
        res.problems.append(f"only {len(cl)} of {spec.sessions} client sessions reported")
