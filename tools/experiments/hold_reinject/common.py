"""Helpers shared by the head-hold experiment processes (stdlib only)."""

import struct

SND_IP = "198.18.200.1"
RCV_IP = "198.18.200.6"
PORT = 5201


def read_counters() -> dict:
    """Return all Tcp/TcpExt counters of the calling process's network namespace."""
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for names, vals in zip(lines[0::2], lines[1::2], strict=False):
            pfx, names_s = names.split(":", 1)
            _, vals_s = vals.split(":", 1)
            for n, v in zip(names_s.split(), vals_s.split(), strict=False):
                out[pfx + n] = int(v)
    return out


def delta(before: dict, after: dict, keys) -> dict:
    """Counter differences for the selected keys."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


SND_KEYS = (
    "TcpRetransSegs",
    "TcpExtTCPTimeouts",
    "TcpExtTCPLossProbes",
    "TcpExtTCPLossProbeRecovery",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPDSACKRecv",
    "TcpExtTCPSACKReorder",
    "TcpExtTCPSpuriousRTOs",
    "TcpExtTCPLostRetransmit",
    "TcpExtTCPFastRetrans",
    "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPDSACKIgnoredNoUndo",
    "TcpExtTCPDSACKUndo",
    "TcpExtTCPLossUndo",
    "TcpExtTCPSackRecoveryFail",
)
RCV_KEYS = (
    "TcpExtDelayedACKs",
    "TcpExtDelayedACKLost",
    "TcpExtTCPDSACKOldSent",
    "TcpExtTCPOFOQueue",
    "TcpExtTCPSACKReneging",
    "TcpExtTCPDSACKOfoSent",
)


def tcp_info(sock) -> dict:
    """Parse the fields of struct tcp_info we need (layout of Linux >= 6.7)."""
    import socket

    b = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    u32 = struct.unpack_from("<24I", b, 8)
    info = {
        "ca_state": b[1],
        "retransmits": b[2],
        "backoff": b[4],
        "rto_us": u32[0],
        "ato_us": u32[1],
        "snd_mss": u32[2],
        "rtt_us": u32[15],
        "snd_cwnd": u32[18],
        "total_retrans": u32[23],
    }
    if len(b) >= 248:
        info["bytes_retrans"] = struct.unpack_from("<Q", b, 208)[0]
        info["dsack_dups"] = struct.unpack_from("<I", b, 216)[0]
        info["total_rto"], info["total_rto_recoveries"] = struct.unpack_from("<HH", b, 240)
        info["total_rto_time_ms"] = struct.unpack_from("<I", b, 244)[0]
    return info
