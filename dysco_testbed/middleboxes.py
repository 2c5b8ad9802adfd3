"""Real, unmodified middleboxes configured in their namespaces (they know nothing of Dysco).

- firewall: nftables, stateful (new connections only with a SYN; established/related accepted;
  invalid dropped);
- nat: nftables source NAT to the box's own address with a random port (addresses and ports
  rewritten);
- monitor: nftables counter on the forward hook (passthrough, counts bytes);
- proxy: haproxy in TCP mode; connections to the server port are redirected (nftables
  ``redirect``) to haproxy, which opens its own connection to the server;
- bytebox: the same haproxy with ``send-proxy-v2``: it prepends a 28-byte PROXY v2 header to the
  client-to-server stream (the byte count changes by a known offset);
- natr: nftables ``masquerade random,fully-random`` (random port mapping);
- natfw: source NAT with the firewall's strict ruleset in front (``ct state invalid drop``,
  new connections only with a SYN): a NAT with strict connection tracking;
- socat: a second TCP proxy implementation (``socat TCP-LISTEN,fork TCP:server``), relations
  read from its ``-d -d`` log;
- delay: every forwarded TCP packet through an nfqueue (``NFQUEUE`` rule) to
  :mod:`dysco_testbed.delayer` (20 ms +- 5 ms, 1% loss: delay, reordering, loss).

Every box runs its distribution defaults: no conntrack sysctl is changed.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from dysco_testbed.net import sh

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


_STRICT = """
table inet dyfw {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state invalid counter drop
    tcp flags & (syn | ack | fin | rst) == syn ct state new counter accept
    counter drop
  }
}
"""


def invalid_count(ns: str) -> int:
    """Packets the strict ruleset dropped as ``ct state invalid`` (0 if there is none)."""
    r = sh("nft", "list", "table", "inet", "dyfw", ns=ns, check=False)
    m = re.search(r"ct state invalid counter packets (\d+)", r.stdout)
    return int(m.group(1)) if m else 0


def nat_random(ns: str, address: str) -> None:
    _nft(
        ns,
        f"""
table ip dynat {{
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "eth0" ip saddr != {address} meta l4proto tcp counter masquerade random,fully-random
  }}
}}
""",
    )


def nat_strict(ns: str, address: str) -> None:
    nat(ns, address)
    _nft(ns, _STRICT)


def delay(ns: str, queue: int = 0) -> None:
    """Every forwarded TCP packet to nfqueue ``queue`` (``bypass``: forwarded unqueued while
    no delayer listens). These kernels have ``nfnetlink_queue`` and the xtables ``NFQUEUE``
    target but not nftables' own ``queue`` expression (``CONFIG_NFT_QUEUE``), so the rule is
    written with ``iptables`` (iptables-nft: it lands in an nftables ``ip filter`` table)."""
    sh("iptables", "-A", "FORWARD", "-p", "tcp", "-j", "NFQUEUE", "--queue-num", str(queue),
       "--queue-bypass", ns=ns)  # fmt: skip


def socat(ns: str, server: str, ports: list[int]) -> list[subprocess.Popen[str]]:
    """One ``socat`` per port behind an nftables ``redirect`` (like the haproxy box)."""
    procs = []
    redirects = []
    for port in ports:
        lp = PROXY_PORT_BASE + (port % 1000)
        redirects.append(f"    ip daddr {server} tcp dport {port} redirect to :{lp}")
        procs.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "socat",
                    "-d",
                    "-d",
                    f"TCP-LISTEN:{lp},fork,reuseaddr",
                    f"TCP:{server}:{port}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
        )
    _nft(
        ns,
        "table ip dyproxy {\n  chain prerouting {\n"
        "    type nat hook prerouting priority -100; policy accept;\n"
        + "\n".join(redirects)
        + "\n  }\n}\n",
    )
    return procs


_S_ACCEPT = re.compile(r"socat\[(\d+)\] N accepting connection from AF=2 (\S+):(\d+) on")
_S_FORK = re.compile(r"socat\[(\d+)\] N forked off child process (\d+)")
_S_OPEN = re.compile(r"socat\[(\d+)\] N opening connection to AF=2 (\S+):(\d+)")
_S_DONE = re.compile(r"socat\[(\d+)\] N successfully connected from local address AF=2 (\S+):(\d+)")


class SocatRelate:
    """Reads socat's ``-d -d`` log: the listener logs the accepted client, then the child it
    forked; the child logs the server it connects to and its own local address."""

    def __init__(self) -> None:
        self._client: str | None = None
        self._by_child: dict[str, str] = {}
        self._server: dict[str, str] = {}

    def feed(self, line: str) -> tuple[str, str] | None:
        """One log line -> (inbound session tuple, outbound session tuple) once known."""
        if m := _S_ACCEPT.search(line):
            self._client = f"{m.group(2)}:{m.group(3)}"
        elif (m := _S_FORK.search(line)) and self._client is not None:
            self._by_child[m.group(2)] = self._client
            self._client = None
        elif m := _S_OPEN.search(line):
            self._server[m.group(1)] = f"{m.group(2)}:{m.group(3)}"
        elif m := _S_DONE.search(line):
            pid = m.group(1)
            client, server = self._by_child.pop(pid, None), self._server.pop(pid, None)
            if client is not None and server is not None:
                return f"{client}->{server}", f"{m.group(2)}:{m.group(3)}->{server}"
        return None


def firewall(ns: str) -> None:
    _nft(ns, _STRICT)


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
