"""Where the controller's CPU goes, from a ``py-spy record --format raw`` profile.

``py-spy record --subprocesses --format raw -o prof.txt -- dysco bench controller --target
dpdk --json --entries 0 --rounds 1``, then ``python -m dysco_bench.profile_split prof.txt``:
per process (the bench process holds the daemon; its children are the P4Runtime server and
the tap), the share of samples by category, each sample counted under the deepest frame that
matches one (``CATEGORIES``, in that order for the same frame). ``--leaves PID`` lists the most
frequent uncategorised stacks of one process.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("state-store commit (export, JSON, SQLite)", "flush_store"),
    ("state-store commit (export, JSON, SQLite)", "checkpointer.py"),
    ("agent decision (dysco_proto)", "(dysco_proto/"),
    ("entry encoding (_FastEncoder)", "entry_update_raw"),
    ("packet-in decode (translate)", "Translator.packet_in"),
    ("packet-out encode (translate)", "Translator.packet_out"),
    ("packet-out: gRPC stream write", "send_packets"),
    ("Write RPC (client side)", "_write_once"),
    ("Write RPC (client side)", "OrderedWriter._execute"),
    ("Write RPC (client side)", "timed_execute"),
    ("full-table read-back (idle scan, device check)", "read_table_entries"),
    ("full-table read-back (idle scan, device check)", "device_sync.py"),
    ("full-table read-back (idle scan, device check)", "_idle_scan"),
    ("state-store checkpoint thread (mostly waiting)", "_WalCheckpointer"),
    ("packet-in: gRPC stream read, dispatch glue", "_on_stream_message"),
    ("packet-in: gRPC stream read, dispatch glue", "P4RuntimeClient._run"),
    ("packet-in: gRPC stream read, dispatch glue", "_on_packet_in"),
    ("packet-in: gRPC stream read, dispatch glue", "HopClock.__init__.<locals>.packet_in"),
    ("server: Read", "P4RuntimeServicer.Read"),
    ("server: Write", "P4RuntimeServicer.Write"),
    ("server: Write", "write_raw"),
    ("server: stream (packet-ins out, packet-outs in)", "P4RuntimeServicer.StreamChannel"),
    ("server: stream (packet-ins out, packet-outs in)", "_on_stream_request"),
    ("server: the agent socket's reader thread", "_read_loop"),
    ("start-up (imports)", "importlib"),
    ("tap (injects SYNs, reads chain SYNs)", "sessions_tap"),
)
OTHER = "event loop, gRPC core, threads, other"
_PROC = re.compile(r'process (\d+):"([^"]*)"')


def _samples(path: str) -> list[tuple[str, str, list[str], int]]:
    """(pid, command, frames leaf last, count) of every stack in a raw py-spy profile."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            parts = stack.split(";")
            if not n.isdigit() or not stack:
                continue
            procs = [i for i, p in enumerate(parts) if p.startswith("process ")]
            if not procs:  # one process recorded (py-spy record --pid): no process frames
                out.append(("-", "the recorded process", parts, int(n)))
                continue
            m = _PROC.match(parts[procs[-1]])
            if m is not None:
                out.append((m.group(1), m.group(2), parts[procs[-1] + 1 :], int(n)))
    return out


def category(frames: list[str]) -> str:
    """The category of the deepest frame that matches one."""
    for f in reversed(frames):
        for name, needle in CATEGORIES:
            if needle in f:
                return name
    return OTHER


def split(path: str) -> dict[str, tuple[str, Counter[str]]]:
    """Per process id: its command and samples by category."""
    out: dict[str, tuple[str, Counter[str]]] = {}
    for pid, cmd, frames, n in _samples(path):
        out.setdefault(pid, (cmd, Counter()))[1][category(frames)] += n
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m dysco_bench.profile_split PROFILE [--leaves PID]", file=sys.stderr)
        return 2
    if "--leaves" in argv:
        pid = argv[argv.index("--leaves") + 1]
        leaves: Counter[str] = Counter()
        for p, _cmd, frames, n in _samples(argv[0]):
            if p == pid and category(frames) == OTHER:
                leaves[";".join(f.split(" (")[0] for f in frames[-3:])] += n
        for k, v in leaves.most_common(20):
            print(f"{v:6d} {k}")
        return 0
    for pid, (cmd, c) in sorted(split(argv[0]).items(), key=lambda kv: -kv[1][1].total()):
        print(f"{pid} {cmd[:80]}: {c.total()} samples")
        for k, v in c.most_common():
            print(f"  {100 * v / c.total():5.1f} %  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
