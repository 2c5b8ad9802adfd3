"""Prometheus metrics of one daemon (optional; served on a loopback port).

Each daemon has its own registry (several daemons may run in one process in tests).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from dysco_proto.actions import Outcome


class Metrics:
    """The daemon's metrics. ``observe(kind, fields)`` maps agent observations onto them,
    ``finished`` a reconfiguration's typed outcome."""

    def __init__(self, device: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["device"]
        self.device = device
        r = self.registry
        self.sessions = Gauge("dysco_sessions", "Sessions held by the agent", labels, registry=r)
        self.entries = Gauge("dysco_entries", "Entries installed by the agent", labels, registry=r)
        self.setups = Counter("dysco_setups", "Sessions set up", labels, registry=r)
        self.reconfigs = Counter(
            "dysco_reconfigs",
            "Reconfiguration outcomes (left anchor)",
            [*labels, "outcome"],
            registry=r,
        )
        self.reconfig_latency = Histogram(
            "dysco_reconfig_seconds",
            "Reconfiguration latency at the left anchor",
            labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.punts = Counter("dysco_punts", "Packet-ins by reason", [*labels, "reason"], registry=r)
        self.errors = Counter("dysco_errors", "Errors by kind", [*labels, "kind"], registry=r)
        self.writes = Counter("dysco_entry_writes", "Entry updates written", labels, registry=r)
        self.write_batches = Counter(
            "dysco_write_batches", "P4Runtime write requests", labels, registry=r
        )
        self.packet_outs = Counter("dysco_packet_outs", "Packet-outs sent", labels, registry=r)
        self.control = Counter(
            "dysco_control_messages", "Peer-channel messages", [*labels, "direction"], registry=r
        )
        self._server: Any = None

    def serve(self, host: str, port: int) -> None:
        """Expose the registry over HTTP on ``host:port`` (a background thread)."""
        self._server = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        """Stop the HTTP endpoint, if any."""
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=1)
            self._server = None

    def finished(self, outcome: Outcome, elapsed: float | None) -> None:
        """Account for one reconfiguration's end (a
        :class:`~dysco_proto.actions.ReconfigFinished`); latency of completed ones only."""
        self.reconfigs.labels(self.device, outcome.value).inc()
        if outcome is Outcome.COMPLETED and elapsed is not None:
            self.reconfig_latency.labels(self.device).observe(elapsed)

    def observe(self, kind: str, fields: dict[str, Any]) -> None:
        """Account for one agent observation."""
        d = self.device
        if kind == "session.new":
            self.setups.labels(d).inc()
        elif kind in ("control.rejected", "setup.ports_exhausted", "setup.conflict"):
            self.errors.labels(d, kind).inc()
