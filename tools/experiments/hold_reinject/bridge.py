"""Userspace delay line + hold (runs in hxr) for runs with a real RTT (no sch_netem here).

Usage: bridge.py ARM H_MS DELAY_MS RCV_MAC DURATION_S
The kernel forwards receiver->sender (ACKs) at once; sender->receiver frames are dropped in
the forward chain (netns.sh bridge rule) and instead relayed by this process from hxr-s to
hxr-d after DELAY_MS.  One second after the first data frame, cut = end of the newest
relayed data; every data frame with seq >= cut is dropped for H ms from the arrival of the
head (the first such frame), then the arm's re-injection goes through the same delay line.
"""

import collections
import json
import select
import sys
import time

from common import RCV_IP, SND_IP
from hold import M32, PACKET_OUTGOING, WIN, parse, pkt_socket, rel, sack_blocks

SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23


def arm_spec(arm: str):
    """(indexes of held segments to re-inject, copies of each)."""
    if arm in ("none", "once", "twice"):
        return [0], {"none": 0, "once": 1, "twice": 2}[arm]
    if arm.startswith("seg"):
        return list(range(int(arm[3:]))), 1
    if arm.startswith("o"):
        return [int(arm[1:])], 1
    return [0, int(arm[2:])], 1


def main() -> None:
    """Relay, hold, re-inject, observe; print one JSON line."""
    arm, h_s, d_s = sys.argv[1], float(sys.argv[2]) / 1e3, float(sys.argv[3]) / 1e3
    rcv_mac, dur = bytes.fromhex(sys.argv[4].replace(":", "")), float(sys.argv[5])
    idx, copies = arm_spec(arm)
    s_in, s_d = pkt_socket("hxr-s"), pkt_socket("hxr-d")
    for s in (s_in, s_d):  # our own relayed frames and kernel-forwarded ACKs: not needed
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    with open("/sys/class/net/hxr-d/address") as f:
        my_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    eth = rcv_mac + my_mac + b"\x08\x00"
    line = collections.deque()
    st = {
        "t_first": None,
        "cut": None,
        "t_head": None,
        "t_release": None,
        "held": [],
        "max_end": None,
        "acks": [],
        "data": [],
        "first_retx": None,
        "first_new": None,
    }
    t_end = time.monotonic() + dur
    while time.monotonic() < t_end:
        now = time.monotonic()
        timeout = 0.05 if not line else max(0.0, line[0][0] - now)
        if st["t_head"] is not None and st["t_release"] is None:
            timeout = min(timeout, max(0.0, st["t_head"] + h_s - now))
        rd = select.select([s_in, s_d], [], [], timeout)[0]
        now = time.monotonic()
        if s_in in rd:
            relay_in(s_in, st, line, eth, now, d_s, h_s)
        if s_d in rd:
            frame, addr = s_d.recvfrom(65535)
            p = parse(frame)
            if (
                p
                and addr[2] != PACKET_OUTGOING
                and p[0] == RCV_IP
                and st["t_release"]
                and len(st["acks"]) < 6
            ):
                sk = [(rel(a, st["cut"]), rel(b, st["cut"])) for a, b in sack_blocks(p[5])]
                st["acks"].append(
                    (round((now - st["t_release"]) * 1e3, 2), rel(p[3], st["cut"]), sk)
                )
        if st["t_head"] is not None and st["t_release"] is None and now >= st["t_head"] + h_s:
            st["t_release"] = now
            for i in idx:
                if i < len(st["held"]):
                    for _ in range(copies):
                        line.append((now + d_s, eth + st["held"][i][6]))
        while line and line[0][0] <= time.monotonic():
            s_d.send(line.popleft()[1])
    out = {
        "arm": arm,
        "H_ms": h_s * 1e3,
        "delay_ms": d_s * 1e3,
        "cut": st["cut"],
        "t_head": st["t_head"],
        "t_release": st["t_release"],
        "race": False,
        "hold_ms": (st["t_release"] - st["t_head"]) * 1e3 if st["t_release"] else None,
        "held_frames": st.get("n_held", 0),
        "max_end_rel": st.get("max_end_rel"),
        "injected_rel": [
            (rel(p[2], st["cut"]), p[4]) for i, p in enumerate(st["held"]) if i in idx and copies
        ]
        if st["cut"] is not None
        else [],
        "acks_after": st["acks"],
        "data_after": st["data"],
        "first_retx": st["first_retx"],
        "first_new": st["first_new"],
    }
    print(json.dumps(out), flush=True)


def relay_in(s_in, st: dict, line, eth: bytes, now: float, d_s: float, h_s: float) -> None:
    """Read one sender-side frame; relay it after the delay unless it is held."""
    frame, addr = s_in.recvfrom(65535)
    if addr[2] == PACKET_OUTGOING:
        return
    p = parse(frame)
    if p is None or p[0] != SND_IP:
        return
    ip = p[6]
    if p[4] > 0:
        end = (p[2] + p[4]) & M32
        if st["t_first"] is None:
            st["t_first"] = now
        if st["cut"] is None and now >= st["t_first"] + 1.0:
            st["cut"] = st["max_end"]  # first byte not yet sent: the next segment is the head
        if st["cut"] is not None:
            r = rel(p[2], st["cut"])
            if st["t_release"] is None and 0 <= r < WIN:
                if st["t_head"] is None:
                    st["t_head"] = now
                st["n_held"] = st.get("n_held", 0) + 1
                st["max_end_rel"] = max(st.get("max_end_rel") or 0, r + p[4])
                if len(st["held"]) < 4:
                    st["held"].append(p)
                return
            if st["t_release"] is not None:
                t = round((now - st["t_release"]) * 1e3, 2)
                if len(st["data"]) < 6:
                    st["data"].append((t, r, p[4]))
                if st["first_retx"] is None and 0 <= r < (st.get("max_end_rel") or 0):
                    st["first_retx"] = (t, r)
                if st["first_new"] is None and r >= (st.get("max_end_rel") or 0):
                    st["first_new"] = (t, r)
        if st["max_end"] is None or 0 < rel(end, st["max_end"]) < WIN:
            st["max_end"] = end
    line.append((now + d_s, eth + ip))


if __name__ == "__main__":
    sys.exit(main())
