"""Per-round mechanism table: sender state mid-hold (ss) vs. outcome.

Usage: analyze.py RESULTS.jsonl
"""

import json
import re
import sys

from run import stall_span


def ss_field(ss: str, name: str) -> str:
    """Value of 'name:value' in ss -ti output ('' if absent)."""
    m = re.search(rf"\b{name}:(\S+)", ss)
    return m.group(1) if m else ""


def main() -> None:
    """Print one line per round."""
    print(
        "arm   H  hold  span  RTO  cwnd unacked ssthresh notsent  ack1_ms  first_new_ms cc"
        "  | +60ms: cwnd unacked"
    )
    with open(sys.argv[1]) as f:
        rows = [json.loads(line) for line in f]
    rows.sort(key=lambda x: (x["arm"], x["H"]))
    for x in rows:
        h, ss = x["hold"], x["hold"].get("ss_during_hold", "")
        ack1 = h["acks_after"][0][0] if h.get("acks_after") else None
        s2 = h.get("ss_after", "")
        print(
            "%-5s %3d %5.1f %5.1f %3d %5s %7s %8s %7s %8s %12s %s | %s %s"  # noqa: UP031
            % (
                x["arm"],
                x["H"],
                h.get("hold_ms", 0),
                stall_span(x),
                x["snd"]["counters"]["TcpExtTCPTimeouts"],
                ss_field(ss, "cwnd"),
                ss_field(ss, "unacked"),
                ss_field(ss, "ssthresh") or "-",
                ss_field(ss, "notsent"),
                ack1,
                h["first_new"][0] if h.get("first_new") else None,
                x["snd"].get("cc", ""),
                ss_field(s2, "cwnd"),
                ss_field(s2, "unacked"),
            )
        )


if __name__ == "__main__":
    sys.exit(main())
