"""Sender (runs in hxs): paced bulk writes for a fixed duration, then reports TCP stats."""

import json
import os
import socket
import sys
import time
import zlib

from common import PORT, RCV_IP, SND_KEYS, delta, read_counters, tcp_info

CHUNK = 16384


def main() -> None:
    """Send a pseudo-random stream at rate_mbps for dur_s, then report crc/bytes/counters."""
    rate_mbps, dur_s = float(sys.argv[1]), float(sys.argv[2])
    cc = sys.argv[3] if len(sys.argv) > 3 else ""
    pattern = os.urandom(1 << 20) * 2
    c0 = read_counters()
    s = socket.socket()
    if cc:  # per-socket choice only (no sysctl is touched); default is the netns default
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    s.connect((RCV_IP, PORT))
    t_conn = time.monotonic()
    interval = CHUNK * 8 / (rate_mbps * 1e6)
    nxt, off, crc, total = t_conn, 0, 0, 0
    while True:
        now = time.monotonic()
        if now - t_conn >= dur_s:
            break
        if nxt > now:
            time.sleep(nxt - now)
        elif now - nxt > 4 * interval:
            nxt = now  # do not burst to "catch up" after a stall: stay app-paced
        chunk = pattern[off : off + CHUNK]
        s.sendall(chunk)
        crc = zlib.crc32(chunk, crc)
        total += CHUNK
        off = (off + CHUNK) % (1 << 20)
        nxt += interval
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    info = tcp_info(s)
    s_cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()
    s.close()
    time.sleep(0.05)
    c1 = read_counters()
    print(
        json.dumps(
            {
                "bytes": total,
                "crc": crc,
                "t_conn": t_conn,
                "tcp_info": info,
                "cc": s_cc,
                "counters": delta(c0, c1, SND_KEYS),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
