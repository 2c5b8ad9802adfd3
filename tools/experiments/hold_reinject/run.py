"""Driver (root netns): interleaved rounds of (arm, H); writes JSON lines, prints a table.

Usage: run.py OUT.jsonl [--rounds N] [--hs 30,60,100] [--rate 200] [--delay 0]
Assumes netns.sh up has been run (run.sh does setup + teardown).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def nsproc(ns: str, *args: str, nice: int = 10) -> subprocess.Popen:
    """Start a niced python script of this directory inside netns ns."""
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "nice", "-n", str(nice), PY, *args],
        cwd=HERE,
        stdout=subprocess.PIPE,
        text=True,
    )


def one_round(arm: str, h_ms: int, rate: float, margin: int, cc: str, delay: float) -> dict:
    """One fresh connection: 1 s warm-up, one hold, ~1.3 s after.  delay > 0: bridge mode."""
    procs = []
    try:
        rcv = nsproc("hxd", "rcv.py")
        procs.append(rcv)
        assert rcv.stdout.readline().strip() == "ready"
        if delay:
            mac = subprocess.run(
                ["ip", "netns", "exec", "hxd", "cat", "/sys/class/net/hxd-0/address"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            hold = nsproc("hxr", "bridge.py", arm, str(h_ms), str(delay), mac, "4.2", nice=0)
            procs.append(hold)
            time.sleep(0.3)
        snd = nsproc("hxs", "snd.py", str(rate), "2.6", cc)
        procs.append(snd)
        if not delay:
            time.sleep(1.0)
            hold = nsproc("hxr", "hold.py", arm, str(h_ms), str(margin), nice=0)  # timing-critical
            procs.append(hold)
        h = json.loads(hold.communicate(timeout=15)[0])
        s = json.loads(snd.communicate(timeout=15)[0])
        r = json.loads(rcv.communicate(timeout=15)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return {"arm": arm, "H": h_ms, "hold": h, "snd": s, "rcv": r}


def stall_span(x: dict) -> float:
    """ms from the head's arrival at the router until the receiver resumes: end of the
    receiver gap (> 10 ms) in progress at the head's arrival, extended by any further gap
    > 10 ms starting less than 2 ms after the previous one ended (a re-injected head or an
    RTO retransmission delivers a single recv in between; the stall goes on)."""
    # bridge mode: the head would have reached the receiver delay_ms after the router
    t0 = x["hold"]["t_head"] + x["hold"].get("delay_ms", 0.0) / 1e3
    g = [(s, d) for s, d, _, _ in x["rcv"]["big"] if d > 0.010 and s + d > t0]
    if not g or g[0][0] > t0 + 0.005:
        return 0.0
    end = g[0][0] + g[0][1]
    for s, d in g[1:]:
        if s - end > 0.002:
            break
        end = s + d
    return (end - t0) * 1e3


def held_done(x: dict) -> float:
    """ms from the head's (would-be) arrival at the receiver until the receiver has read every
    byte that was held (needs the receiver timeline); NaN if unknown."""
    h, rc = x["hold"], x["rcv"]
    if "timeline" not in rc or not h.get("max_end_rel"):
        return float("nan")
    t0 = h["t_head"] + h.get("delay_ms", 0.0) / 1e3
    t0_rel = (t0 - rc["t_first"]) * 1e3
    before = [c for t, c in rc["timeline"] if t <= t0_rel - 1.0]
    if not before:
        return float("nan")
    target = before[-1] + h["max_end_rel"] - h.get("head_rel", 0)
    for t, c in rc["timeline"]:
        if c >= target:
            return t - t0_rel
    return float("nan")


def leaked(x: dict) -> bool:
    """True if held data reached the receiver anyway (nft rule late): the first ACK after
    the release already covers more than the head plus the re-injected segments."""
    h = x["hold"]
    a = h.get("acks_after") or []
    return h.get("leaked", 0) > 0 or (
        bool(a) and a[0][1] > h.get("head_rel", 0) + (3000 if x["arm"] == "none" else 6000)
    )


def summarize(rows: list) -> None:
    """Print one line per (arm, H); rounds where the hold leaked are excluded."""
    print("excluded (hold leaked):", [(x["arm"], x["H"]) for x in rows if leaked(x)])
    rows = [x for x in rows if not leaked(x)]
    print(
        "arm   H  n  done_med done_max stall_med stall_max gap_med gap_max  hold_med ack1_med"
        " retx_med RTOs TLPs SackRec "
        "DSACKrcv intact race"
    )
    for arm in ("none", "once", "twice", "seg2", "seg3", "seg4", "o1", "o3", "h+3"):
        for h_ms in sorted({x["H"] for x in rows}):
            sel = [x for x in rows if x["arm"] == arm and x["H"] == h_ms]
            if not sel:
                continue
            gaps = [x["rcv"]["gaps"][0][0] * 1e3 for x in sel]
            spans = [stall_span(x) for x in sel]
            done = [held_done(x) for x in sel]
            holds = [x["hold"].get("hold_ms", float("nan")) for x in sel]
            ack1 = [x["hold"]["acks_after"][0][0] for x in sel if x["hold"].get("acks_after")]
            retx = [x["hold"]["first_retx"][0] for x in sel if x["hold"].get("first_retx")]
            c = [x["snd"]["counters"] for x in sel]
            intact = all(
                x["snd"]["bytes"] == x["rcv"]["bytes"] and x["snd"]["crc"] == x["rcv"]["crc"]
                for x in sel
            )
            race = sum(bool(x["hold"].get("race", True)) for x in sel)

            def med(v):
                return statistics.median(v) if v else float("nan")

            print(
                "%-5s %3d %2d %8.1f %8.1f %9.1f %9.1f %7.1f %7.1f %8.1f %8.1f %8.1f %4d %4d %7d"  # noqa: UP031
                " %8d %6s %4d"
                % (
                    arm,
                    h_ms,
                    len(sel),
                    med(done),
                    max(done),
                    med(spans),
                    max(spans),
                    med(gaps),
                    max(gaps),
                    med(holds),
                    med(ack1),
                    med(retx),
                    sum(k["TcpExtTCPTimeouts"] for k in c),
                    sum(k["TcpExtTCPLossProbes"] for k in c),
                    sum(k["TcpExtTCPSackRecovery"] for k in c),
                    sum(k["TcpExtTCPDSACKRecv"] for k in c),
                    "yes" if intact else "NO",
                    race,
                )
            )


def main() -> None:
    """Run the interleaved matrix and print the summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hs", default="30,60,100")
    ap.add_argument("--arms", default="none,once,twice")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="one-way data-path delay in ms via bridge.py (needs netns.sh up bridge)",
    )
    ap.add_argument("--cc", default="", help="per-socket TCP_CONGESTION (default: netns default)")
    a = ap.parse_args()
    if a.summary_only:
        with open(a.out) as f:
            summarize([json.loads(line) for line in f])
        return
    hs = [int(x) for x in a.hs.split(",")]
    arms = a.arms.split(",")
    margin = int(a.rate * 1e6 / 8 * 0.03)  # cut ~30 ms of data ahead of the newest seq
    rows = []
    with open(a.out, "a") as f:
        for rnd in range(a.rounds):
            combos = [(arm, h) for h in hs for arm in arms]
            random.shuffle(combos)
            for arm, h in combos:
                row = one_round(arm, h, a.rate, margin, a.cc, a.delay)
                row["round"] = rnd
                rows.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()
                print(
                    rnd,
                    arm,
                    h,
                    "gap %.1f ms" % (row["rcv"]["gaps"][0][0] * 1e3),
                    "RTO",
                    row["snd"]["counters"]["TcpExtTCPTimeouts"],
                    flush=True,
                )
    summarize(rows)


if __name__ == "__main__":
    sys.exit(main())
