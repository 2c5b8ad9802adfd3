"""Real, unmodified middleboxes configured in their namespaces (they know nothing of Dysco).

- firewall: nftables, stateful (new connections only with a SYN; established/related accepted;
  invalid dropped);
- nat: nftables source NAT to the box's own address with a random port (addresses and ports
  rewritten);
- monitor: nftables counter on the forward hook (passthrough, counts bytes);
- proxy: haproxy in TCP mode; connections to the server port are redirected (nftables
  ``redirect``) to haproxy, which opens its own connection to the server;
- bytebox: the same haproxy with ``send-proxy-v2``: it prepends a 28-byte PROXY v2 header to the
  client-to-server stream (the byte count changes by a known offset).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from controller.testbed.net import sh

PP2_LEN = 28  # PROXY protocol v2 header for TCP over IPv4, no TLVs
PROXY_PORT_BASE = 18000


def forwarding(ns: str) -> None:
    for k, v in (
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
        ("net.ipv4.conf.eth0.send_redirects", "0"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.eth0.rp_filter", "0"),
        ("net.ipv4.conf.all.accept_redirects", "0"),
    ):
        sh("sysctl", "-qw", f"{k}={v}", ns=ns)


def _nft(ns: str, ruleset: str) -> None:
    r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, text=True,
                       capture_output=True, check=False)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"nft in {ns}: {r.stderr.strip()}")


def firewall(ns: str) -> None:
    _nft(
        ns,
        """
table inet dyfw {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state invalid counter drop
    tcp flags & (syn | ack | fin | rst) == syn ct state new counter accept
    counter drop
  }
}
""",
    )


def nat(ns: str, address: str) -> None:
    _nft(
        ns,
        f"""
table ip dynat {{
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "eth0" ip saddr != {address} meta l4proto tcp counter \
      snat to {address}:40000-49999 random
  }}
}}
""",
    )


def monitor(ns: str) -> None:
    _nft(
        ns,
        """
table inet dymon {
  chain forward {
    type filter hook forward priority 0; policy accept;
    counter
  }
}
""",
    )


def monitor_bytes(ns: str) -> int:
    r = sh("nft", "list", "table", "inet", "dymon", ns=ns, check=False)
    m = re.search(r"counter packets \d+ bytes (\d+)", r.stdout)
    return int(m.group(1)) if m else 0


def haproxy(ns: str, cfg_path: Path, server: str, ports: list[int],
            send_proxy: bool = False) -> subprocess.Popen[str]:  # fmt: skip
    fronts = []
    redirects = []
    for port in ports:
        lp = PROXY_PORT_BASE + (port % 1000)
        fronts.append(
            f"""
frontend fe{port}
  bind 0.0.0.0:{lp}
  default_backend be{port}
backend be{port}
  server s{port} {server}:{port}{" send-proxy-v2" if send_proxy else ""}
"""
        )
        redirects.append(f"    ip daddr {server} tcp dport {port} redirect to :{lp}")
    cfg_path.write_text(
        """global
  log stdout format raw local0
  maxconn 8192
defaults
  mode tcp
  log global
  option logasap
  log-format "RELATE %ci:%cp %bi:%bp %si:%sp"
  timeout connect 5s
  timeout client 1h
  timeout server 1h
"""
        + "".join(fronts)
    )
    _nft(
        ns,
        "table ip dyproxy {\n  chain prerouting {\n"
        "    type nat hook prerouting priority -100; policy accept;\n"
        + "\n".join(redirects)
        + "\n  }\n}\n",
    )
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "haproxy", "-db", "-f", str(cfg_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )  # fmt: skip


_RELATE = re.compile(r"RELATE (\S+):(\d+) (\S+):(\d+) (\S+):(\d+)")


def parse_relate(line: str) -> tuple[str, str] | None:
    """haproxy's log line -> (inbound session tuple, outbound session tuple)."""
    m = _RELATE.search(line)
    if not m:
        return None
    ci, cp, bi, bp, si, sp = m.groups()
    if bi in ("-", "") or not bp.isdigit() or bp == "0":
        return None
    return f"{ci}:{cp}->{si}:{sp}", f"{bi}:{bp}->{si}:{sp}"


def wait_listening(ns: str, ports: list[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    want = {PROXY_PORT_BASE + (int(p) % 1000) for p in ports}
    while time.monotonic() < deadline:
        out = sh("ss", "-ltnH", ns=ns, check=False).stdout
        have = {int(x.rsplit(":", 1)[1]) for x in re.findall(r"\S+:\d+(?=\s)", out) if ":" in x}
        if want <= have:
            return
        time.sleep(0.1)
    raise RuntimeError(f"haproxy in {ns} not listening on {sorted(want)}")
