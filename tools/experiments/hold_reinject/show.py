"""Print per-round details of a results file (debug aid)."""

import json
import sys

with open(sys.argv[1]) as f:
    lines = f.read().splitlines()
for line in lines:
    x = json.loads(line)
    h = x["hold"]
    print(
        x["arm"],
        x["H"],
        {
            k: (round(v, 1) if isinstance(v, float) else v)
            for k, v in h.items()
            if k
            in (
                "race",
                "hold_ms",
                "release_lag_ms",
                "held_frames",
                "head_rel",
                "max_end_rel",
                "inject_ms",
                "first_retx",
                "first_new",
            )
        },
    )
    print("  ss:", " ".join(h.get("ss_during_hold", "").split()))
    print("  data", h.get("data_after"))
    print("  acks", h.get("acks_after"))
    print(
        "  big gaps (start rel head ms, dur ms, bytes)",
        [
            (round((g[0] - h["t_head"]) * 1e3, 1), round(g[1] * 1e3, 1), g[3])
            for g in x["rcv"]["big"]
        ],
    )
    print("  snd", x["snd"]["tcp_info"], {k: v for k, v in x["snd"]["counters"].items() if v})
    print(
        "  rcv",
        {k: v for k, v in x["rcv"]["counters"].items() if v},
        x["snd"]["bytes"] == x["rcv"]["bytes"] and x["snd"]["crc"] == x["rcv"]["crc"],
    )
