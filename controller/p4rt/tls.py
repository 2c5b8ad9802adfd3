"""TLS for P4Runtime: credentials of the project's server and of the controller's client.

The P4Runtime specification recommends TLS with certificates on both sides (section
"Security concerns"). Both ends take PEM files:

- server: its certificate chain and key; with ``client_ca`` every client must present a
  certificate signed by that CA (mutual TLS, required: grpcio cannot ask for an optional
  client certificate and verify it only when present);
- client: the CA that signed the server's certificate; with ``cert``/``key`` a client
  certificate for mutual TLS; ``server_name`` when the certificate does not name the host
  the client dials.

Without TLS the server listens on loopback (or a Unix socket) only, unless told explicitly
that an insecure remote listener is wanted (:func:`check_listen_address`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsConfigError(ValueError):
    """A TLS setting cannot be used (unreadable file, missing half of a pair, ...)."""


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key (PEM files), and optionally the CA its clients'
    certificates must be signed by (then a client without one is refused)."""

    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass(frozen=True)
class ClientTls:
    """What the client trusts (``ca``), its own certificate for mutual TLS (``cert`` and
    ``key``, both or neither) and the name to expect in the server's certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None


def _read(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TlsConfigError(f"cannot read the {what} {path}: {e.strerror or e}") from None
    if b"-----BEGIN" not in data:
        raise TlsConfigError(f"the {what} {path} is not a PEM file")
    return data


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """gRPC server credentials for ``tls`` (mutual TLS required when ``client_ca`` is set)."""
    pair = (_read(tls.key, "TLS key"), _read(tls.cert, "TLS certificate"))
    if tls.client_ca is None:
        return grpc.ssl_server_credentials([pair])
    ca = _read(tls.client_ca, "client CA")
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=True)


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    """gRPC channel credentials for ``tls``."""
    if (tls.cert is None) != (tls.key is None):
        raise TlsConfigError("give both the client certificate and its key, or neither")
    ca = _read(tls.ca, "CA certificate")
    key = _read(tls.key, "client key") if tls.key is not None else None
    cert = _read(tls.cert, "client certificate") if tls.cert is not None else None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def channel_options(tls: ClientTls | None) -> list[tuple[str, str]]:
    """Extra channel options for ``tls`` (the expected server name, when overridden)."""
    if tls is not None and tls.server_name:
        return [("grpc.ssl_target_name_override", tls.server_name)]
    return []


def is_loopback(address: str) -> bool:
    """True for a Unix socket target or a ``host:port`` whose host is a loopback address."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_address(address: str, tls: ServerTls | None, *, allow_insecure: bool) -> None:
    """Refuse an insecure listener reachable from other hosts (raises :class:`TlsConfigError`):
    without TLS the server listens on loopback or a Unix socket unless ``allow_insecure``."""
    if tls is None and not allow_insecure and not is_loopback(address):
        raise TlsConfigError(
            f"refusing to listen on {address} without TLS: give a certificate and key "
            "(--tls-cert/--tls-key), listen on loopback, or pass --insecure to accept "
            "unauthenticated clients from the network"
        )
