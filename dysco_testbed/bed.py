"""The testbed: hosts in namespaces behind data-plane devices, one controller per device.

Layout (``docs/testbed.md``)::

    host ns (eth0) --veth-- device ns (h0)  [DPDK agent]  (net) --veth-- core ns (br0) -- ...

Each device is one ``dysco-dpdk-agent`` in its own namespace (EAL --no-huge, af_packet vdevs
on ``h0``... and ``net``), a P4Runtime server (DPDK backend, in this process) on a loopback
port, and a controller (``dysco agent --config``, its own process). Devices reach each other
through a bridge in the core namespace with static FDB entries (no flooding).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dysco_pipeline.pipeline import CPU_PORT
from dysco_testbed import middleboxes
from dysco_testbed.loopback_ports import free_ports
from dysco_testbed.net import PREFIX, STATE, cleanup, offloads_off, record_pid, sh

REPO = Path(__file__).resolve().parents[1]
BMV2_JSON = REPO / "p4src" / "build" / "dysco.json"
TARGETS = ("dpdk", "bmv2")
"""Data planes the testbed runs: the DPDK agent (default), or bmv2's simple_switch_grpc."""


HOST_TOOLS = ("ip", "nft", "haproxy", "tcpdump", "ethtool", "bridge")
"""What the testbed runs in its namespaces (``make setup`` installs them)."""


def missing_for(target: str) -> str | None:
    """``None`` if a testbed on ``target`` can run here, else one line saying what is missing."""
    if os.geteuid() != 0:
        return "the testbed needs root (network namespaces)"
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if missing:
        return f"the testbed needs {' '.join(missing)} (make setup installs them)"
    if target == "bmv2":
        if bmv2_switch() is None:
            return "the bmv2 testbed needs simple_switch_grpc (see /opt/p4tools/env.sh)"
        return None
    from dysco_targets.dpdk_ctl import agent_available

    ok, why = agent_available()
    return None if ok else f"the testbed needs the DPDK agent: {why}"


def bmv2_switch() -> str | None:
    """Path of simple_switch_grpc (PATH, then /opt/p4tools/bin), or ``None``."""
    found = shutil.which("simple_switch_grpc")
    if found is None and Path("/opt/p4tools/bin/simple_switch_grpc").exists():
        found = "/opt/p4tools/bin/simple_switch_grpc"
    return found if found is not None and BMV2_JSON.exists() else None


SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
DPDK_MAX_HOSTS = 15  # the DPDK agent's AGENT_MAX_PORTS (16) minus the network port


@dataclass
class Host:
    name: str
    address: str
    box: str | None
    mac: str
    index: int
    ns: str = ""
    policies: list[dict[str, Any]] = field(default_factory=list)
    device: Device | None = None


@dataclass
class Device:
    name: str
    index: int
    hosts: list[Host]
    mac: str
    ns: str = ""
    ctl_path: str = ""
    proc: subprocess.Popen[bytes] | None = None
    server: Any = None
    p4rt_address: str = ""
    control_port: int = 0
    config_path: Path | None = None
    controller: subprocess.Popen[bytes] | None = None
    mgmt_socket: Path | None = None
    core: int = 0


def load_topology(path: Path | None) -> dict[str, Any]:
    """A testbed YAML: ``path``, or a built-in scenario by name (``rack`` ->
    ``scenarios/rack.yaml``), default ``scenarios/default.yaml``."""
    p = path or SCENARIO_DIR / "default.yaml"
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:
        named = SCENARIO_DIR / f"{p}.yaml"
        if not named.exists():
            known = ", ".join(sorted(q.stem for q in SCENARIO_DIR.glob("*.yaml")))
            raise ValueError(f"no scenario {str(p)!r} (a YAML file or one of: {known})")
        p = named
    with open(p) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or "hosts" not in doc:
        raise ValueError(f"{p}: a testbed needs 'hosts'")
    return doc


class Testbed:
    """Bring up / tear down one testbed run. Use as a context manager."""

    def __init__(self, topo: dict[str, Any], *, target: str = "dpdk", log: Any = None,
                 peer_loss: float = 0.0, rid: str | None = None,
                 server_procs: bool = False, agent_max_sleep_us: int = 500) -> None:  # fmt: skip
        if target not in TARGETS:
            raise RuntimeError(f"unknown target {target!r} (one of: {', '.join(TARGETS)})")
        if target == "bmv2" and bmv2_switch() is None:
            raise RuntimeError(
                "target bmv2 needs simple_switch_grpc (on PATH or under /opt/p4tools/bin) and "
                "p4src/build/dysco.json"
            )
        self.topo = topo
        self.target = target
        self.rid = rid or secrets.token_hex(2)
        self.pfx = f"{PREFIX}{self.rid}"
        self.dir = STATE / self.rid
        self.log = log or (lambda m: None)
        self.peer_loss = peer_loss
        # each device's P4Runtime server in a process of its own (else: threads of this one,
        # all eight behind this interpreter's lock)
        self.server_procs = server_procs
        self.agent_max_sleep_us = agent_max_sleep_us  # the agents' longest idle sleep
        self.key = secrets.token_hex(32)
        self.hosts: dict[str, Host] = {}
        self.devices: list[Device] = []
        self.procs: list[subprocess.Popen[Any]] = []
        self.box_threads: list[threading.Thread] = []
        self.relations: list[dict[str, Any]] = []
        self._closed = False
        for i, (name, h) in enumerate(topo["hosts"].items(), start=1):
            self.hosts[name] = Host(
                name, str(h["address"]), h.get("box"), f"02:54:00:00:00:{i:02x}", i,
                ns=f"{self.pfx}-{name}", policies=list(h.get("policies") or []),
            )  # fmt: skip
        groups = topo.get("devices") or [[n] for n in self.hosts]
        for i, g in enumerate(groups, start=1):
            names = g["hosts"] if isinstance(g, dict) else g
            if target == "dpdk" and len(names) > DPDK_MAX_HOSTS:
                raise ValueError(
                    f"device d{i} has {len(names)} hosts: the DPDK agent has at most "
                    f"{DPDK_MAX_HOSTS + 1} ports ({DPDK_MAX_HOSTS} hosts and the network); "
                    "use --target bmv2"
                )
            dev = Device(f"d{i}", i, [self.hosts[n] for n in names], f"02:d5:00:00:00:{i:02x}")
            dev.ns = f"{self.pfx}-d{i}"
            dev.core = i % max(1, os.cpu_count() or 1)
            for h in dev.hosts:
                h.device = dev
            self.devices.append(dev)

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):
                self._old[sig] = signal.signal(sig, self._on_signal)
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
        for sig, h in self._old.items():
            with contextlib.suppress(ValueError):
                signal.signal(sig, h)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def log_tails(self, lines: int = 60) -> str:
        """The last ``lines`` of every controller log of this testbed, for the report of a
        failed test (CI keeps only what a test prints; the directory goes at close)."""
        out = []
        for f in sorted(self.dir.glob("*.controller.log")):
            with contextlib.suppress(OSError):
                tail = f.read_text(errors="replace").splitlines()[-lines:]
                out += [f"--- {f.name} (last {len(tail)} lines)", *tail]
        return "\n".join(out)

    def addr(self, name: str) -> str:
        return self.hosts[name].address

    def up(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "owner").write_text(str(os.getpid()))
        t0 = time.monotonic()
        self._build_net()
        self.log(f"namespaces and veths up ({time.monotonic() - t0:.1f}s)")
        if self.target == "bmv2":
            self._start_bmv2()
            what = "bmv2 switches"
        else:
            self._start_devices()
            what = "DPDK agents + P4Runtime servers"
        self.log(f"{len(self.devices)} {what} up ({time.monotonic() - t0:.1f}s)")
        self._start_controllers()
        self.log(f"{len(self.devices)} controllers up ({time.monotonic() - t0:.1f}s)")
        self._start_boxes()
        self.log(f"middleboxes configured ({time.monotonic() - t0:.1f}s)")

    def down(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for d in self.devices:
            if d.server is not None:
                with contextlib.suppress(Exception):
                    d.server.stop(0.2)
        keep = os.environ.get("DYSCO_TESTBED_LOGS")
        if keep and self.dir.exists():
            dst = Path(keep) / self.rid
            dst.mkdir(parents=True, exist_ok=True)
            for f in self.dir.iterdir():
                if f.suffix in (".log", ".yaml", ".cfg"):
                    with contextlib.suppress(OSError):
                        shutil.copy(f, dst / f.name)
        cleanup(self.rid)

    # -- network ---------------------------------------------------------------------------

    def _build_net(self) -> None:
        core = f"{self.pfx}-core"
        for ns in [core, *(d.ns for d in self.devices), *(h.ns for h in self.hosts.values())]:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=ns, check=False)
            sh("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", ns=ns, check=False)
        sh("ip", "-n", core, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", core, "link", "set", "br0", "up")
        gw = "198.18.0.1"
        for d in self.devices:
            for j, h in enumerate(d.hosts):
                a, b = f"{self.pfx}h{h.index}", f"{self.pfx}H{h.index}"
                sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
                sh("ip", "link", "set", a, "netns", d.ns)
                sh("ip", "-n", d.ns, "link", "set", a, "name", f"h{j}")
                sh("ip", "link", "set", b, "netns", h.ns)
                sh("ip", "-n", h.ns, "link", "set", b, "name", "eth0")
                sh("ip", "-n", h.ns, "link", "set", "eth0", "address", h.mac)
                sh("ip", "-n", h.ns, "addr", "add", f"{h.address}/32", "dev", "eth0")
                sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
                sh("ip", "-n", d.ns, "link", "set", f"h{j}", "up")
                # only the testbed's prefix, via a gateway that exists as a neighbour entry
                sh("ip", "-n", h.ns, "route", "add", gw, "dev", "eth0")
                sh("ip", "-n", h.ns, "route", "add", "198.18.0.0/15", "via", gw, "dev", "eth0")
                sh("ip", "-n", h.ns, "neigh", "add", gw, "lladdr", d.mac, "dev", "eth0",
                   "nud", "permanent")  # fmt: skip
                offloads_off("eth0", h.ns)
                offloads_off(f"h{j}", d.ns)
            a, b = f"{self.pfx}n{d.index}", f"{self.pfx}N{d.index}"
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", d.ns)
            sh("ip", "-n", d.ns, "link", "set", a, "name", "net")
            sh("ip", "link", "set", b, "netns", core)
            sh("ip", "-n", core, "link", "set", b, "name", f"p{d.index}")
            sh("ip", "-n", core, "link", "set", f"p{d.index}", "master", "br0")
            sh("ip", "-n", core, "link", "set", f"p{d.index}", "up")
            sh("ip", "-n", d.ns, "link", "set", "net", "up")
            sh("bridge", "-n", core, "link", "set", "dev", f"p{d.index}", "learning", "off",
               "flood", "off", "mcast_flood", "off", check=False)  # fmt: skip
            sh("bridge", "-n", core, "fdb", "add", d.mac, "dev", f"p{d.index}", "master",
               "static")  # fmt: skip
            offloads_off("net", d.ns)
            offloads_off(f"p{d.index}", core)

    # -- devices ---------------------------------------------------------------------------

    def _start_devices(self) -> None:
        from dysco_targets.backends import DpdkBackend
        from dysco_targets.dpdk_ctl import build_agent
        from dysco_targets.server import P4RuntimeServer

        binary = build_agent()
        for d in self.devices:
            d.ctl_path = str(self.dir / f"{d.name}.ctl")
            vdevs: list[str] = []
            for j in range(len(d.hosts)):
                vdevs += ["--vdev", f"net_af_packet{j},iface=h{j}"]
            vdevs += ["--vdev", f"net_af_packet{len(d.hosts)},iface=net"]
            args = ["ip", "netns", "exec", d.ns, str(binary), "--no-huge", "-m", "256",
                    "--no-pci", "--no-shconf", "--no-telemetry",
                    f"--file-prefix={self.pfx}{d.name}",
                    "--log-level=lib.eal:error", "-l", str(d.core), *vdevs, "--",
                    "--ctl", d.ctl_path, "--sessions", "8192", "--max-sleep-us",
                    str(self.agent_max_sleep_us)]  # fmt: skip
            logf = open(self.dir / f"{d.name}.agent.log", "wb")  # noqa: SIM115
            d.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
            self.procs.append(d.proc)
            record_pid(self.rid, d.proc.pid, f"dpdk-agent {d.name}")
        for d in self.devices:
            deadline = time.monotonic() + 60
            while not os.path.exists(d.ctl_path):
                assert d.proc is not None
                if d.proc.poll() is not None:
                    raise RuntimeError(
                        f"DPDK agent {d.name} exited: "
                        + (self.dir / f"{d.name}.agent.log").read_text(errors="replace")[-2000:]
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DPDK agent {d.name} did not start")
                time.sleep(0.05)
            if self.server_procs:
                d.p4rt_address = self._server_process(d)
                continue
            backend = DpdkBackend(ctl_path=d.ctl_path)
            d.server = P4RuntimeServer(backend, "127.0.0.1:0", workers=4).start()
            d.p4rt_address = d.server.address

    def _server_process(self, d: Device, timeout: float = 60) -> str:
        """Start ``python -m dysco_targets.serve`` over ``d``'s agent; its address."""
        logf = open(self.dir / f"{d.name}.p4rt.log", "ab")  # noqa: SIM115
        p = subprocess.Popen(
            [sys.executable, "-m", "dysco_targets.serve", "--backend", "dpdk", "--agent-ctl",
             d.ctl_path, "--address", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=logf, text=True, cwd=str(REPO),
        )  # fmt: skip
        self.procs.append(p)
        record_pid(self.rid, p.pid, f"p4runtime-server {d.name} {self.rid}")
        assert p.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if line.startswith("p4runtime server on "):
                return line.split()[3]
            if not line and p.poll() is not None:
                break
        raise RuntimeError(f"P4Runtime server of {d.name} did not start (see {logf.name})")

    def _start_bmv2(self) -> None:
        """One simple_switch_grpc per device, in the device's namespace, on the same veths
        (port j: host j, port n: the network), CPU port 255. Its gRPC server listens on a
        Unix socket (reachable from the controllers in the root namespace); the controller
        pushes the compiled pipeline (``p4src/build/``)."""
        binary = bmv2_switch()
        assert binary is not None
        for d in self.devices:
            ifaces: list[str] = []
            for j in range(len(d.hosts)):
                ifaces += ["-i", f"{j}@h{j}"]
            ifaces += ["-i", f"{len(d.hosts)}@net"]
            sock = self.dir / f"{d.name}.p4rt.sock"
            d.p4rt_address = f"unix://{sock}"
            args = ["ip", "netns", "exec", d.ns, binary, "--no-p4", *ifaces,
                    "--thrift-port", "9090", "--log-level", "error", "--device-id", "1", "--",
                    "--grpc-server-addr", d.p4rt_address, "--cpu-port", str(CPU_PORT)]  # fmt: skip
            logf = open(self.dir / f"{d.name}.switch.log", "wb")  # noqa: SIM115
            env = dict(os.environ)
            lib = Path(binary).resolve().parent.parent / "lib"
            if lib.is_dir():
                env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
            d.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env)
            self.procs.append(d.proc)
            record_pid(self.rid, d.proc.pid, f"simple_switch_grpc {d.name}")
        for d in self.devices:
            sock = Path(d.p4rt_address.removeprefix("unix://"))
            deadline = time.monotonic() + 30
            while not sock.exists():
                assert d.proc is not None
                if d.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"simple_switch_grpc {d.name} did not start: "
                        + (self.dir / f"{d.name}.switch.log").read_text(errors="replace")[-2000:]
                    )
                time.sleep(0.05)

    # -- controllers -----------------------------------------------------------------------

    def device_config(self, d: Device) -> dict[str, Any]:
        n_ports = len(d.hosts)
        routes = []
        for other in self.devices:
            if other is d:
                continue
            for h in other.hosts:
                routes.append({"prefix": f"{h.address}/32", "port": n_ports, "mac": other.mac})
        peers = [
            {"name": o.name, "endpoint": f"127.0.0.1:{o.control_port}",
             "addresses": [h.address for h in o.hosts]}
            for o in self.devices if o is not d
        ]  # fmt: skip
        names = {h.name: h.address for h in self.hosts.values()}
        policies: list[dict[str, Any]] = []
        for h in d.hosts:
            for p in h.policies:
                q = dict(p)
                q["name"] = f"{h.name}-{p['name']}"
                m = dict(q.get("match") or {})
                m.setdefault("src", h.address)
                q["match"] = {
                    k: (names.get(v, v) if k in ("src", "dst") else v) for k, v in m.items()
                }
                policies.append(q)
        device: dict[str, Any] = {"name": d.name, "address": d.p4rt_address, "mac": d.mac,
                                  "push_pipeline": "auto"}  # fmt: skip
        if self.target == "bmv2":
            device["device_config"] = str(BMV2_JSON)
        return {
            "device": device,
            "ports": {
                # one agent per host (agent ids 1, 2, ...): any hosts of a session may share
                # a device
                "hosts": [{"name": h.name, "port": j, "address": h.address, "mac": h.mac,
                           "agent_id": j + 1} for j, h in enumerate(d.hosts)],
                "network": {"port": n_ports, "mac": "ff:ff:ff:ff:ff:ff"},
            },
            "routes": routes,
            "agent": {"seed": d.index, "port_range": "20000-60999"},
            "control": {"listen": f"127.0.0.1:{d.control_port}", "key": self.key},
            "peers": peers,
            "names": names,
            "policies": policies,
            # generous retransmission and anchor timers: 2 shared cores, 8 DPDK agents,
            # 8 controllers, the boxes and the traffic all compete for CPU. 100 concurrent
            # reconfigurations (e2e 8) spend 1.4-3.3 s each in the hold phase with one busy
            # process beside the testbed, and over 4 s under a compile: hold_timeout 8 s.
            "timers": {"idle_timeout": 300, "retired_timeout": 2, "idle_scan": 0.5, "rto": 0.1,
                       "max_backoff": 1.0, "anchor_timeout": 10.0, "hold_timeout": 8.0,
                       "syn_retries": 10,
                       "max_retries": 20},
            "management": {"socket": str(self.dir / f"{d.name}.sock")},
        }  # fmt: skip

    def _start_controllers(self) -> None:
        for d, port in zip(self.devices, free_ports(len(self.devices), "udp"), strict=True):
            d.control_port = port
        for d in self.devices:
            self._spawn_controller(d)
        for d in self.devices:
            self._wait_controller(d)

    def _spawn_controller(self, d: Device) -> None:
        cfg = self.device_config(d)
        d.config_path = self.dir / f"{d.name}.yaml"
        d.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        d.config_path.chmod(0o600)  # it holds the control key inline
        d.mgmt_socket = Path(cfg["management"]["socket"])
        env = dict(os.environ)
        if self.peer_loss:
            env["DYSCO_TEST_PEER_LOSS"] = str(self.peer_loss)
        logf = open(self.dir / f"{d.name}.controller.log", "ab")  # noqa: SIM115
        d.controller = subprocess.Popen(
            [sys.executable, "-c", "import sys; from controller.cli import main; sys.exit(main())",
             "agent", "--config", str(d.config_path),
             "--log-level", os.environ.get("DYSCO_TESTBED_LOG_LEVEL", "info")],
            stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=str(REPO),
        )  # fmt: skip
        self.procs.append(d.controller)
        record_pid(self.rid, d.controller.pid, f"dysco-controller {d.name} {self.rid}")

    def _wait_controller(self, d: Device, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert d.controller is not None
            if d.controller.poll() is not None:
                raise RuntimeError(
                    f"controller {d.name} exited: "
                    + (self.dir / f"{d.name}.controller.log").read_text(errors="replace")[-2000:]
                )
            try:
                st = self.mgmt(d, "status", timeout=2)
                if st.get("ready"):
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"controller {d.name} not ready")
            time.sleep(0.1)

    def restart_controller(self, d: Device) -> float:
        """Kill a controller (SIGKILL) and start it again; returns seconds until it is ready."""
        assert d.controller is not None
        d.controller.kill()
        d.controller.wait()
        t0 = time.monotonic()
        self._spawn_controller(d)
        self._wait_controller(d)
        return time.monotonic() - t0

    def mgmt(self, d: Device | str, method: str, params: dict[str, Any] | None = None,
             timeout: float = 30) -> Any:  # fmt: skip
        from controller.mgmt import MgmtClient

        dev = d if isinstance(d, Device) else self.device_of(d)
        assert dev.mgmt_socket is not None
        c = MgmtClient.from_files(dev.mgmt_socket, dev.mgmt_socket.with_suffix(".token"),
                                  timeout=timeout)  # fmt: skip
        return c.call(method, params or {})

    def device_of(self, host: str) -> Device:
        h = self.hosts[host]
        assert h.device is not None
        return h.device

    # -- middleboxes -----------------------------------------------------------------------

    def _start_boxes(self) -> None:
        server = next((h for h in self.hosts.values() if h.box is None and h.name == "server"),
                      None)  # fmt: skip
        for h in self.hosts.values():
            if h.box is None:
                continue
            middleboxes.forwarding(h.ns)
            if h.box == "firewall":
                middleboxes.firewall(h.ns)
            elif h.box == "nat":
                middleboxes.nat(h.ns, h.address)
            elif h.box == "natr":
                middleboxes.nat_random(h.ns, h.address)
            elif h.box == "natfw":
                middleboxes.nat_strict(h.ns, h.address)
            elif h.box == "delay":
                middleboxes.delay(h.ns)
                dp = subprocess.Popen(
                    ["ip", "netns", "exec", h.ns, sys.executable, "-m",
                     "dysco_testbed.delayer", "--queue", "0", "--delay", "0.02",
                     "--jitter", "0.005", "--loss", "0.01", "--run", f"{PREFIX}{self.rid}"],
                    cwd=str(Path(__file__).resolve().parents[1]),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                self.procs.append(dp)  # type: ignore[arg-type]
                record_pid(self.rid, dp.pid, f"delayer {h.name} {self.rid} dysco")
            elif h.box == "socat":
                assert server is not None, "a proxy needs a host named 'server'"
                ports = [int(p) for p in self.topo.get("proxy_ports", {}).get(h.name, [9000])]
                for sp in middleboxes.socat(h.ns, server.address, ports):
                    self.procs.append(sp)
                    record_pid(self.rid, sp.pid, f"socat {h.name} {self.rid} dysco")
                    t = threading.Thread(target=self._relate_loop, args=(h, sp), daemon=True)
                    t.start()
                    self.box_threads.append(t)
            elif h.box == "monitor":
                middleboxes.monitor(h.ns)
            elif h.box in ("proxy", "bytebox"):
                assert server is not None, "a proxy needs a host named 'server'"
                ports = [int(p) for p in self.topo.get("proxy_ports", {}).get(h.name, [9000])]
                cfg = self.dir / f"{h.name}.haproxy.cfg"
                p = middleboxes.haproxy(h.ns, cfg, server.address, ports,
                                        send_proxy=h.box == "bytebox")  # fmt: skip
                self.procs.append(p)
                record_pid(self.rid, p.pid, f"haproxy {h.name} {self.rid}")
                t = threading.Thread(target=self._relate_loop, args=(h, p), daemon=True)
                t.start()
                self.box_threads.append(t)
            else:
                raise ValueError(f"host {h.name}: unknown box {h.box!r}")
        for h in self.hosts.values():
            if h.box in ("proxy", "bytebox", "socat"):
                middleboxes.wait_listening(
                    h.ns, self.topo.get("proxy_ports", {}).get(h.name, [9000])
                )

    def _relate_loop(self, h: Host, p: subprocess.Popen[str]) -> None:
        """haproxy logs each connection pair as it is established: relate them at its agent."""
        assert p.stdout is not None
        socat = middleboxes.SocatRelate() if h.box == "socat" else None
        for line in p.stdout:
            rel = socat.feed(line) if socat is not None else middleboxes.parse_relate(line)
            if rel is None:
                continue
            inbound, outbound = rel
            item: dict[str, Any] = {"host": h.name, "inbound": inbound, "outbound": outbound}
            try:
                item["relate"] = self.mgmt(
                    h.name, "relate",
                    {"inbound": inbound, "outbound": outbound, "agent": h.address}, timeout=5,
                )  # fmt: skip
                if h.box == "bytebox":
                    item["offset"] = self.mgmt(
                        h.name, "box_offset",
                        {"session": inbound, "lr": middleboxes.PP2_LEN, "rl": 0,
                         "agent": h.address}, timeout=5,
                    )  # fmt: skip
            except Exception as e:
                item["error"] = f"{type(e).__name__}: {e}"
            self.relations.append(item)

    # -- processes in host namespaces ------------------------------------------------------

    def spawn(self, host: str, args: list[str], *, text: bool = True,
              name: str = "") -> subprocess.Popen[Any]:  # fmt: skip
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.hosts[host].ns, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, cwd=str(REPO),
        )  # fmt: skip
        self.procs.append(p)
        record_pid(self.rid, p.pid, f"{name or args[0]} {self.rid}")
        return p

    def status(self) -> dict[str, Any]:
        out = {}
        for d in self.devices:
            try:
                out[d.name] = self.mgmt(d, "status", timeout=3)
            except Exception as e:
                out[d.name] = {"error": str(e)}
        return out


def summary(tb: Testbed) -> str:
    return json.dumps({d.name: [h.name for h in d.hosts] for d in tb.devices})
