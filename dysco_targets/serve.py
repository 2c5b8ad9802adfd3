"""``python -m dysco_targets.serve``: a P4Runtime server (:mod:`dysco_targets.server`) in front
of one backend (:mod:`dysco_targets.backends`), until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from controller.p4rt.tls import ServerTls, TlsConfigError, check_listen_address, server_credentials
from dysco_targets.backend_api import Backend
from dysco_targets.backends import DpdkBackend, RefModelBackend
from dysco_targets.server import P4RuntimeServer

__all__ = ["main", "make_backend"]


def make_backend(kind: str, **kw: object) -> Backend:
    """The backend named ``kind`` (``dpdk`` or ``refmodel``), built with ``kw``."""
    if kind == "dpdk":
        return DpdkBackend(**kw)  # type: ignore[arg-type]
    if kind == "refmodel":
        return RefModelBackend(**kw)  # type: ignore[arg-type]
    raise ValueError(f"unknown backend {kind!r}")


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m dysco_targets.serve``: serve one backend until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(description="P4Runtime server for the Dysco pipeline")
    ap.add_argument("--address", default="127.0.0.1:9559")
    ap.add_argument("--device-id", type=int, default=1)
    ap.add_argument("--backend", choices=("dpdk", "refmodel"), default="dpdk")
    ap.add_argument("--agent-ctl", help="control socket of a running dysco-dpdk-agent")
    ap.add_argument("--tls-cert", help="TLS: the server's certificate chain (PEM)")
    ap.add_argument("--tls-key", help="TLS: the server's private key (PEM)")
    ap.add_argument(
        "--tls-client-ca", help="mutual TLS: clients must present a certificate of this CA"
    )
    ap.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without TLS (any host can then control the device)",
    )
    ap.add_argument("--max-streams", type=int, default=64, help="open StreamChannels at most")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    kw: dict[str, object] = {}
    if args.backend == "dpdk":
        if not args.agent_ctl:
            ap.error("--agent-ctl is required with the dpdk backend")
        kw["ctl_path"] = args.agent_ctl
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert and --tls-key")
    tls = (
        ServerTls(
            Path(args.tls_cert),
            Path(args.tls_key),
            Path(args.tls_client_ca) if args.tls_client_ca else None,
        )
        if args.tls_cert
        else None
    )
    try:
        check_listen_address(args.address, tls, allow_insecure=args.insecure)
        if tls is not None:
            server_credentials(tls)  # unreadable files: one line, before the backend starts
    except TlsConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    srv = P4RuntimeServer(
        make_backend(args.backend, **kw),
        args.address,
        device_id=args.device_id,
        max_streams=args.max_streams,
        tls=tls,
        allow_insecure=args.insecure,
    )
    srv.start()
    mode = "TLS" + (", client certificates required" if tls and tls.client_ca else "")
    print(
        f"p4runtime server on {srv.address} (backend {args.backend}, "
        f"{mode if tls else 'insecure'})",
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
