"""Receiver (runs in hxd): reads one connection, timestamps every recv, checks integrity."""

import json
import socket
import sys
import time
import zlib

from common import PORT, RCV_IP, RCV_KEYS, delta, read_counters


def main() -> None:
    """Accept one connection, record (time, bytes) per recv, print a JSON summary."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((RCV_IP, PORT))
    ls.listen(1)
    c0 = read_counters()
    print("ready", flush=True)
    conn, _ = ls.accept()
    buf = bytearray(1 << 18)
    mv = memoryview(buf)
    times, sizes = [], []
    crc, total = 0, 0
    while True:
        n = conn.recv_into(buf)
        t = time.monotonic()
        if n == 0:
            break
        crc = zlib.crc32(mv[:n], crc)
        total += n
        times.append(t)
        sizes.append(n)
    conn.close()
    tl, cum = [], 0
    for t, n in zip(times, sizes, strict=False):
        cum += n
        tl.append((round((t - times[0]) * 1e3, 2), cum))
    time.sleep(0.05)
    c1 = read_counters()
    gaps = [(times[i] - times[i - 1], times[i - 1], i) for i in range(1, len(times))]
    # every gap > 3 ms: (start, duration, bytes delivered before the gap, bytes of next recv)
    big, cum = [], 0
    for i in range(1, len(times)):
        cum += sizes[i - 1]
        if times[i] - times[i - 1] > 0.003 and len(big) < 50:
            big.append((times[i - 1], times[i] - times[i - 1], cum, sizes[i]))
    print(
        json.dumps(
            {
                "bytes": total,
                "crc": crc,
                "t_first": times[0],
                "t_last": times[-1],
                "gaps": sorted(gaps, reverse=True)[:5],
                "big": big,
                # full delivery timeline: [ms since first recv, cumulative bytes]
                "timeline": tl,
                "counters": delta(c0, c1, RCV_KEYS),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
