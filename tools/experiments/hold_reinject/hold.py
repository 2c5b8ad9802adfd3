"""Hold emulator (runs in hxr): drops snd->rcv data with seq >= cut for H ms, then
optionally re-injects the captured head segment (seq == first held byte) 0/1/2 times.

Usage: hold.py ARM(none|once|twice|segN|oK|h+K) H_MS MARGIN_BYTES
The cut is placed MARGIN_BYTES ahead of the newest seq seen, so the nft drop rule is in
place before the head arrives (checked: 'race' in the output).  The head is the first
frame arriving on the router's sender-side veth (AF_PACKET, before the forward-chain
drop) whose seq is at/after the cut.
"""

import json
import select
import socket
import struct
import subprocess
import sys
import time

from common import RCV_IP, SND_IP

M32 = 0xFFFFFFFF
WIN = 1 << 30  # seq-space window that counts as "at or above cut"
PACKET_OUTGOING = 4
# The nft commit that removes the drop rule returns ~8-16 ms late (RCU grace period); the
# rule is gone somewhat before it returns.  Start it this much early; hold_ms is measured.
LAG_COMP = 0.008
SS_AT = 0.02
# seconds after the head when the sender's socket state is snapshotted, and again this
# long after the release (after any delayed ACK)
SS2_AT = 0.06


def parse(frame: bytes):
    """Return (src, dst, seq, ack, payload_len, tcp_options, ip_packet) or None."""
    ip = frame[14:]
    if len(ip) < 40 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack_from("!H", ip, 2)[0]
    tcp = ip[ihl:tot]
    seq, ack = struct.unpack_from("!II", tcp, 4)
    doff = (tcp[12] >> 4) * 4
    return (
        socket.inet_ntoa(ip[12:16]),
        socket.inet_ntoa(ip[16:20]),
        seq,
        ack,
        tot - ihl - doff,
        tcp[20:doff],
        bytes(ip[:tot]),
    )


def sack_blocks(opts: bytes):
    """SACK blocks (absolute seq pairs) from TCP options."""
    i, out = 0, []
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        ln = opts[i + 1]
        if k == 5:
            out += [struct.unpack_from("!II", opts, j) for j in range(i + 2, i + ln, 8)]
        i += max(ln, 2)
    return out


def csum16(data: bytes) -> int:
    """Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fix_packet(ip: bytes) -> bytes:
    """Decrement TTL (as forwarding would) and recompute the TCP checksum: a frame taken
    off a veth may carry CHECKSUM_PARTIAL (pseudo-header sum only)."""
    p = bytearray(ip)
    ihl = (p[0] & 15) * 4
    p[8] -= 1
    p[10:12] = b"\0\0"  # IP_HDRINCL: kernel fills the IP checksum
    tcp = p[ihl:]
    tcp[16:18] = b"\0\0"
    pseudo = bytes(p[12:20]) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp[16:18] = struct.pack("!H", csum16(pseudo + bytes(tcp)))
    return bytes(p[:ihl]) + bytes(tcp)


def nft_proc():
    """Pre-spawned 'nft -f -' that executes when its stdin is closed (no exec latency)."""
    return subprocess.Popen(["nft", "-f", "-"], stdin=subprocess.PIPE)


def nft_run(proc, text: str) -> None:
    """Feed and run a pre-spawned nft process."""
    proc.stdin.write(text.encode())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("nft failed: " + text)


def rel(x: int, base: int) -> int:
    """Sequence offset of x from base (signed 32-bit)."""
    d = (x - base) & M32
    return d - (1 << 32) if d >= 1 << 31 else d


def pkt_socket(ifname: str):
    """AF_PACKET socket on one interface, all IPv4 frames (both directions)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((ifname, 0x0800))
    return s


def seq_set(cut: int) -> str:
    """nft interval set for seq in [cut, cut + WIN) modulo 2^32."""
    end = cut + WIN
    if end <= M32:
        return f"{{ {cut}-{end} }}"
    return f"{{ {cut}-{M32}, 0-{end - (1 << 32)} }}"


def _ss_snapshot() -> subprocess.Popen[bytes]:
    """The sender socket's state (cwnd, unacked, notsent, sndbuf), read by `ss` in hxs."""
    cmd = ["nice", "-n", "10", "ip", "netns", "exec", "hxs", "ss", "-tinmH", "dport", "= :5201"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE)


def hold_phase(s_in, s_out, cut: int, h_s: float, t_installed: float) -> dict:
    """Read sender-side frames until the head is seen and H has elapsed since it."""
    st = {
        "head": None,
        "t_head": None,
        "held_frames": 0,
        "max_end_rel": 0,
        "max_frame": 0,
        "leaked": 0,
    }
    deadline = time.monotonic() + 3.0
    while True:
        now = time.monotonic()
        if st["t_head"] is not None and now >= st["t_head"] + h_s - LAG_COMP:
            return st
        if now > deadline:
            return st
        if st["t_head"] is not None and "ss" not in st and now >= st["t_head"] + SS_AT:
            # snapshot of the sender socket mid-hold: cwnd, unacked, notsent, sndbuf
            st["ss"] = _ss_snapshot()
        end = st["t_head"] + h_s - LAG_COMP if st["t_head"] is not None else deadline
        if st["t_head"] is not None and "ss" not in st:
            end = min(end, st["t_head"] + SS_AT)
        rd = select.select([s_in, s_out], [], [], max(0.0, end - now))[0]
        if s_out in rd:
            # forwarded toward the receiver although at/after the cut: the hold leaked
            fr, ad = s_out.recvfrom(65535)
            q = parse(fr) if ad[2] == PACKET_OUTGOING else None
            if q and q[0] == SND_IP and q[4] > 0 and 0 <= rel(q[2], cut) < WIN:
                st["leaked"] += 1
        if s_in not in rd:
            continue
        frame, addr = s_in.recvfrom(65535)
        t = time.monotonic()
        p = parse(frame)
        if addr[2] == PACKET_OUTGOING or p is None or p[0] != SND_IP or p[4] == 0:
            continue
        st["max_frame"] = max(st["max_frame"], len(frame))
        r = rel(p[2], cut)
        if 0 <= r < WIN:
            st["held_frames"] += 1
            st["max_end_rel"] = max(st["max_end_rel"], r + p[4])
            if st["head"] is None:
                st.update(head=p, t_head=t, race=t < t_installed, head_rel=r, first=[])
            if len(st["first"]) < 4:
                st["first"].append(p)  # first held segments in arrival (= seq) order


def observe(s_in, s_out, cut: int, t0: float, dur: float, max_end_rel: int) -> dict:
    """After release: first data frames from the sender and first ACKs from the receiver."""
    data, acks, first_retx, first_new, ss2 = [], [], None, None, None
    stop = t0 + dur
    while time.monotonic() < stop:
        if ss2 is None and time.monotonic() > t0 + SS2_AT:
            ss2 = _ss_snapshot()
        rd = select.select(
            [s_in, s_out],
            [],
            [],
            max(0.0, min(stop, t0 + SS2_AT + 0.001) - time.monotonic())
            if ss2 is None
            else max(0.0, stop - time.monotonic()),
        )[0]
        for s in rd:
            frame, addr = s.recvfrom(65535)
            t = (time.monotonic() - t0) * 1e3
            p = parse(frame)
            if p is None or addr[2] == PACKET_OUTGOING:
                continue
            if s is s_in and p[0] == SND_IP and p[4] > 0:
                r = rel(p[2], cut)
                if len(data) < 6:
                    data.append((round(t, 2), r, p[4]))
                if first_retx is None and 0 <= r < max_end_rel:
                    first_retx = (round(t, 2), r)
                if first_new is None and r >= max_end_rel:
                    first_new = (round(t, 2), r)
            elif s is s_out and p[0] == RCV_IP and len(acks) < 6:
                sk = [(rel(a, cut), rel(b, cut)) for a, b in sack_blocks(p[5])]
                acks.append((round(t, 2), rel(p[3], cut), sk))
    return {
        "data_after": data,
        "acks_after": acks,
        "first_retx": first_retx,
        "first_new": first_new,
        "ss_after": ss2.communicate()[0].decode() if ss2 else "",
    }


def main() -> None:
    """Run one hold: place cut, drop, capture head, release, re-inject, observe."""
    arm, h_s, margin = sys.argv[1], float(sys.argv[2]) / 1e3, int(sys.argv[3])
    # none: drop all; once/twice: head re-injected 1x/2x; segN: first N held segments 1x each;
    # oK: only the K-th held segment after the head (an out-of-order one); h+K: head and that one
    if arm in ("none", "once", "twice"):
        idx, n_inject = [0], {"none": 0, "once": 1, "twice": 2}[arm]
    elif arm.startswith("seg"):
        idx, n_inject = list(range(int(arm[3:]))), 1
    elif arm.startswith("o"):
        idx, n_inject = [int(arm[1:])], 1
    else:
        idx, n_inject = [0, int(arm[2:])], 1
    install = nft_proc()
    s_in = pkt_socket("hxr-s")
    # bound now: binding an AF_PACKET socket waits for an RCU grace period (~10 ms)
    s_out = pkt_socket("hxr-d")
    while True:
        frame, addr = s_in.recvfrom(65535)
        p = parse(frame)
        if p and addr[2] != PACKET_OUTGOING and p[0] == SND_IP and p[4] > 0:
            break
    cut = (p[2] + p[4] + margin) & M32
    nft_run(
        install,
        f"add rule ip hxhold hxfwd ip saddr {SND_IP} ip daddr {RCV_IP} ip length > 52 "
        f"tcp sequence {seq_set(cut)} drop\n",
    )
    t_installed = time.monotonic()
    release = nft_proc()
    st = hold_phase(s_in, s_out, cut, h_s, t_installed)
    t_phase_end = time.monotonic()
    t_sock = time.monotonic()
    nft_run(release, "flush chain ip hxhold hxfwd\n")
    t_release = time.monotonic()
    ss_out = st["ss"].communicate()[0].decode() if st.get("ss") else ""
    out = {
        "arm": arm,
        "H_ms": h_s * 1e3,
        "cut": cut,
        "t_installed": t_installed,
        "t_release": t_release,
        "held_frames": st["held_frames"],
        "max_frame": st["max_frame"],
        "max_end_rel": st["max_end_rel"],
        "leaked": st["leaked"],
        "release_lag_ms": (t_release - t_phase_end) * 1e3,
        "sock_lag_ms": (t_sock - t_phase_end) * 1e3,
        "ss_during_hold": ss_out,
    }
    if st["head"] is None:
        out["error"] = "no head"
        print(json.dumps(out), flush=True)
        return
    head = st["head"]
    out.update(
        t_head=st["t_head"],
        race=st["race"],
        head_rel=st["head_rel"],
        head_len=head[4],
        hold_ms=(t_release - st["t_head"]) * 1e3,
    )
    if n_inject:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        chosen = [st["first"][i] for i in idx if i < len(st["first"])]
        pkts = [fix_packet(p[6]) for p in chosen]
        out["injected_rel"] = [(rel(p[2], cut), p[4]) for p in chosen]
        for pkt in pkts:
            for _ in range(n_inject):
                raw.sendto(pkt, (RCV_IP, 0))
        out["inject_ms"] = (time.monotonic() - t_release) * 1e3
    out.update(observe(s_in, s_out, cut, t_release, 0.6, st["max_end_rel"]))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
