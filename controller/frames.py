"""Compatibility alias: the frame codec lives in :mod:`dysco_proto.frames` (one implementation)."""

from dysco_proto.frames import (
    ETHERTYPE_IPV4,
    ETHERTYPE_PROBE,
    ParsedFrame,
    build_frame,
    build_probe_frame,
    build_udp_frame,
    mac_bytes,
    parse_frame,
)

__all__ = [
    "ETHERTYPE_IPV4",
    "ETHERTYPE_PROBE",
    "ParsedFrame",
    "build_frame",
    "build_probe_frame",
    "build_udp_frame",
    "mac_bytes",
    "parse_frame",
]
