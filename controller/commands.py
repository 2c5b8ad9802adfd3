"""The controller's ``dysco`` subcommands: ``agent`` (the daemon) and the management client
(``sessions``, ``session show``, ``reconfig``, ``policy``, ``status``, ``counters``).

Exit codes (every subcommand): 0 success; 1 the operation failed or was refused; 2 usage or
configuration error; 3 the daemon or the device cannot be reached. Errors are one line on
stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from controller.cli_common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subcommand,
    UsageError,
    fail,
    guard,
    print_json,
    print_table,
)

DEFAULT_SOCKET = Path(os.environ.get("DYSCO_SOCKET", "/run/dysco/dysco.sock"))

# --- common client options ------------------------------------------------------------------


def _client_args(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    g = p.add_argument_group("daemon")
    g.add_argument("--config", type=Path, help="the daemon's config (finds socket and token)")
    g.add_argument("--socket", type=Path, help=f"management socket (default {DEFAULT_SOCKET})")
    g.add_argument("--token-file", type=Path, help="token file (default: socket + .token)")
    g.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    g.add_argument("--debug", action="store_true", help="tracebacks on errors")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.epilog = EXIT_CODES_HELP


def _client(args: argparse.Namespace) -> Any:
    from controller.mgmt import MgmtClient

    sock: Path | None = args.socket
    token: Path | None = args.token_file
    if args.config is not None:
        from controller.config import load_config

        cfg = load_config(args.config)
        sock = sock or cfg.management.socket
        token = token or cfg.management.token_file
    sock = sock or DEFAULT_SOCKET
    token = token or sock.with_suffix(".token")
    return MgmtClient.from_files(sock, token, timeout=args.timeout)


# --- dysco agent --------------------------------------------------------------------------


def _agent_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="the daemon's YAML configuration")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="log level (default info)",
    )  # fmt: skip
    p.add_argument("--debug", action="store_true", help="tracebacks on errors, debug logging")
    p.epilog = EXIT_CODES_HELP


@guard
def _agent_run(args: argparse.Namespace) -> int:
    from controller.config import load_config

    cfg = load_config(args.config)
    if args.check:
        print(f"{args.config}: configuration OK ({cfg.device.name}, {len(cfg.policies)} policies)")
        return EXIT_OK
    level = logging.DEBUG if args.debug else getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_agent_main(cfg))


async def _agent_main(cfg: Any) -> int:
    from controller.daemon import Daemon
    from controller.p4rt.p4info import P4InfoError

    impairments = None
    loss = os.environ.get("DYSCO_TEST_PEER_LOSS")  # fault injection for the e2e suite only
    if loss:
        from controller.peers import Impairments

        impairments = Impairments(loss=float(loss), seed=os.getpid())
    try:
        daemon = Daemon(cfg, impairments=impairments)
    except (P4InfoError, OSError) as e:
        fail(f"{cfg.file}: device: {e}")
        return EXIT_USAGE
    try:
        await daemon.start()
    except OSError as e:  # cannot bind the peer channel / socket
        fail(f"cannot start: {e}")
        return EXIT_USAGE if e.errno in (98, 99, 13) else EXIT_FAILED
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.run_until_stopped()
    finally:
        await daemon.stop()
    return EXIT_OK


# --- dysco status / counters -------------------------------------------------------------


@guard
def _status_run(args: argparse.Namespace) -> int:
    st = _client(args).call("status")
    if args.json:
        print_json(st)
    else:
        print_table("dysco status", ["field", "value"], [[k, v] for k, v in st.items()])
    return EXIT_OK


@guard
def _counters_run(args: argparse.Namespace) -> int:
    c = _client(args).call("counters")
    if args.json:
        print_json(c)
        return EXIT_OK
    rows: list[list[Any]] = []

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in sorted(obj.items()):
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            rows.append([prefix, obj])

    walk("", c)
    print_table("dysco counters", ["counter", "value"], rows)
    return EXIT_OK


# --- dysco sessions / session show ----------------------------------------------------------


def _selector_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selector")
    g.add_argument("--src", help="session source prefix")
    g.add_argument("--dst", help="session destination prefix")
    g.add_argument("--sport", type=int, help="session source port")
    g.add_argument("--dport", type=int, help="session destination port")
    g.add_argument("--peer", help="a neighbour agent address")
    g.add_argument("--agent", metavar="ADDR", help="only the agent of this local host address")
    g.add_argument(
        "--state", choices=["established", "pending", "reconfiguring", "closing"],
        help="session state",
    )  # fmt: skip


def _selector(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: getattr(args, k)
        for k in ("src", "dst", "sport", "dport", "peer", "state", "agent")
        if getattr(args, k, None) is not None
    }


def _sessions_args(p: argparse.ArgumentParser) -> None:
    _selector_args(p)
    p.add_argument("--limit", type=int, help="at most this many sessions")
    _client_args(p)


@guard
def _sessions_run(args: argparse.Namespace) -> int:
    params = _selector(args)
    if args.limit is not None:
        params["limit"] = args.limit
    sessions = _client(args).call("sessions", params)
    if args.json:
        print_json(sessions)
    else:
        print_table(
            f"sessions ({len(sessions)})",
            ["agent", "host", "id", "session", "state", "left peer", "right peer"],
            [
                [
                    s.get("agent_id"),
                    s.get("host"),
                    s["id"],
                    s["session"],
                    s["state"],
                    s["left_peer"],
                    s["right_peer"],
                ]
                for s in sessions
            ],
        )
    return EXIT_OK


def _session_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="one session: path, subsessions, deltas, state, entries")
    show.add_argument("id", help="session id (from `dysco sessions`) or five-tuple a:p->b:q")
    _client_args(show)


@guard
def _session_run(args: argparse.Namespace) -> int:
    ident: Any = int(args.id) if args.id.isdigit() else args.id
    s = _client(args).call("session", {"id": ident})
    if args.json:
        print_json(s)
        return EXIT_OK
    rows: list[list[Any]] = [
        ["id", s["id"]],
        ["session", s["session"]],
        ["state", s["state"]],
        ["path", " -> ".join(s["path"])],
    ]
    for which in ("left", "right"):
        side = s.get(which)
        if side:
            rows += [
                [f"{which}.peer", side["peer"]],
                [f"{which}.subsession", side["subsession"]],
                [f"{which}.session", side["session"]],
                [f"{which}.in_deltas", _fmt_deltas(side["in_deltas"])],
                [f"{which}.out_deltas", _fmt_deltas(side["out_deltas"])],
                [
                    f"{which}.lock",
                    side["lock"] + (f" {side['lock_request']}" if side["lock_request"] else ""),
                ],
            ]
    for e in s.get("entries", []):
        rows.append([f"entry {e['key']}", f"-> {e['rewrite']} slot {e['slot']} {e['role']}"])
    for r in s.get("reconfigs", []):
        rows.append([f"reconfig {r['request']}", f"{r['role']} anchor, {r['phase']}"])
    print_table(f"session {s['id']}", ["field", "value"], rows)
    return EXIT_OK


def _fmt_deltas(d: dict[str, int]) -> str:
    parts = [f"{k}={v}" for k, v in d.items() if v]
    return ", ".join(parts) or "0"


# --- dysco reconfig ---------------------------------------------------------------------------


def _reconfig_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    helps = {
        "insert": "insert middleboxes after this agent (right anchor: the current neighbour)",
        "remove": "remove the middleboxes between this agent and the right anchor",
        "replace": "replace the middleboxes between this agent and the right anchor",
    }
    for kind, h in helps.items():
        q = sub.add_parser(kind, help=h, description=h)
        q.add_argument("session", nargs="?", help="session five-tuple a:p->b:q (or use --all)")
        q.add_argument("--all", action="store_true", help="every session matching the selector")
        if kind != "remove":
            q.add_argument(
                "--box", action="append", default=[], required=True, metavar="ADDR",
                help="a middlebox address (repeat, in order)",
            )  # fmt: skip
        q.add_argument(
            "--right-anchor", metavar="ADDR", required=kind == "replace",
            help="the agent after the segment (insert: default the current neighbour; "
            "remove: default the hop after the neighbour, when known)",
        )  # fmt: skip
        q.add_argument("--wait", type=float, default=10.0, help="seconds to wait for outcomes")
        _selector_args(q)
        _client_args(q)


@guard
def _reconfig_run(args: argparse.Namespace) -> int:
    if bool(args.session) == bool(args.all):
        raise UsageError(f"dysco reconfig {args.kind}: error: give a SESSION or --all")
    params: dict[str, Any] = {
        "kind": args.kind,
        "boxes": getattr(args, "box", []),
        "timeout": args.wait,
    }
    if args.right_anchor:
        params["right_anchor"] = args.right_anchor
    if args.session:
        params["session"] = args.session
    else:
        params["all"] = True
        params.update(_selector(args))
    client = _client(args)
    client.timeout = max(client.timeout, args.wait + 5)
    if args.json or not sys.stderr.isatty():
        result = client.call("reconfig", params)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as prog:
            task = prog.add_task(f"reconfig {args.kind}", total=None)

            def tick(p: dict[str, Any]) -> None:
                prog.update(task, completed=p.get("done", 0), total=p.get("total"))

            result = client.call("reconfig", params, progress=tick)
    ok = result["total"] > 0 and all(r["outcome"] == "completed" for r in result["results"])
    if args.json:
        print_json(result)
    else:
        print_table(
            f"reconfig {args.kind}: {result['total']} session(s) {result['summary']}",
            ["session", "outcome", "reason", "elapsed (s)"],
            [
                [r["session"], r["outcome"], r.get("reason"), _fmt_s(r.get("elapsed"))]
                for r in result["results"]
            ],
        )
    if result["total"] == 0:
        fail("no matching session")
    return EXIT_OK if ok else EXIT_FAILED


def _fmt_s(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, int | float) else ""


# --- dysco policy -------------------------------------------------------------------------------


def _policy_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="the policies, in match order")
    _client_args(lst)
    add = sub.add_parser("add", help="add the policies of a policy YAML file (docs/policies.md)")
    add.add_argument("file", type=Path, help="policy file")
    add.add_argument("--index", type=int, help="insert at this position (default: append)")
    _client_args(add, json_flag=False)
    rm = sub.add_parser("remove", help="remove a policy by name")
    rm.add_argument("name", help="policy name")
    _client_args(rm, json_flag=False)


@guard
def _policy_run(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.action == "list":
        pols = client.call("policy.list")
        if args.json:
            print_json(pols)
        else:
            print_table(
                f"policies ({len(pols)})",
                ["#", "name", "src", "dst", "sport", "dport", "proto", "chain"],
                [
                    [i, p["name"], p["src"] or "*", p["dst"] or "*", p["sport"] or "*",
                     p["dport"] or "*", p["proto"] if p["proto"] is not None else "any",
                     " -> ".join(p["chain"]) or "(none)"]
                    for i, p in enumerate(pols)
                ],
            )  # fmt: skip
        return EXIT_OK
    if args.action == "add":
        from dysco_proto.policy import load_policies

        load_policies(args.file)  # validate locally first: errors name file, line, field
        params: dict[str, Any] = {
            "yaml": args.file.read_text(encoding="utf-8"),
            "filename": str(args.file),
        }
        if args.index is not None:
            params["index"] = args.index
        res = client.call("policy.add", params)
        print(f"added: {', '.join(res['added']) or '(nothing)'}")
        return EXIT_OK
    res = client.call("policy.remove", {"name": args.name})
    print(f"removed: {res['removed']}")
    return EXIT_OK


SUBCOMMANDS = (
    Subcommand("agent", "run the Dysco controller daemon for one device", _agent_args, _agent_run),
    Subcommand("status", "daemon status", lambda p: _client_args(p), _status_run),
    Subcommand("counters", "daemon counters", lambda p: _client_args(p), _counters_run),
    Subcommand("sessions", "list sessions (with a selector)", _sessions_args, _sessions_run),
    Subcommand("session", "one session (`session show ID`)", _session_args, _session_run),
    Subcommand(
        "reconfig",
        "reconfigure live sessions (insert|remove|replace)",
        _reconfig_args,
        _reconfig_run,
    ),
    Subcommand("policy", "policies (list|add|remove)", _policy_args, _policy_run),
)
