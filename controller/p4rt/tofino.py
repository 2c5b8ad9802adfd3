"""Tofino: chip defaults, the compiled build bf-p4c writes, and the pipeline device configs.

A Tofino switch takes the compiled program as the ``p4_device_config`` of
``SetForwardingPipelineConfig``, in the form of the P4Runtime server it runs:

- **Stratum** (``stratum_bfrt``): a serialized ``stratum.hal.barefoot.BfPipelineConfig``
  (``controller/p4rt/tofino_pb/stratum/bf.proto``, vendored from Stratum's
  ``stratum/hal/lib/barefoot/bf.proto``): the program name, ``bfrt.json`` and one profile per
  pipeline with its ``context.json``, binary and hardware pipes.
- **The SDE's own server** (``bf_switchd`` with PI, ``pi_tofino``): the packed layout that
  ``_pi_update_device_start`` in open-p4studio ``pkgsrc/bf-drivers/src/pi/pi_imp.c`` unpacks,
  each length a 32-bit little-endian integer (PI's ``retrieve_uint32`` in
  ``src/utils/serialize.c`` is a ``memcpy`` on the little-endian x86 host)::

      u32 len | program name | u32 len | binary (tofino.bin) | u32 len | context.json
      | u32 len | pipeline name | u32 len | bfrt.json

  (the last two pairs are optional there; we always send them).

Chip defaults live in :data:`CHIPS` and nowhere else.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dysco_pipeline.pipeline import CPU_CLONE_SESSION

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_ROOT = PROJECT_ROOT / "p4src" / "build"


class TofinoBuildError(ValueError):
    """The compiled build is missing a file or a file is not what bf-p4c writes."""


@dataclass(frozen=True)
class ChipInfo:
    """What differs between Tofino generations (defaults documented in docs/deploy-tofino.md)."""

    name: str
    arch: str  # bf-p4c --arch
    binary: str  # file name of the binary under <build>/<pipe>/
    cpu_port: int  # PCIe CPU port (device port number) the controller clones mirrors to
    clone_max_len: int  # clone session packet_length_bytes: larger than any frame


# The PCIe CPU port: open-p4studio pkgsrc/bf-drivers/src/lld/lld_sku.c lld_get_pcie_cpu_port
# (Tofino 1: 192 with 2 pipes, 320 with 4; Tofino 2: port 0 of the CPU pipe). Defaults are for
# the boxes the TNA program defaults to (p4src/tna/dysco.p4 CPU_PORT); others set cpu_port.
# clone_max_len: Stratum passes packet_length_bytes to the SDE's max_pkt_len unchanged, and
# Tofino 2 truncates mirrors to max_pkt_len + 4 (pipe_mgr_tof2_mirror_buffer.c), so 0 would cut
# every copy to 4 bytes; 16383 is the largest length and truncates nothing.
CHIPS: dict[str, ChipInfo] = {
    "tofino": ChipInfo("tofino", "tna", "tofino.bin", 192, 16383),
    "tofino2": ChipInfo("tofino2", "t2na", "tofino2.bin", 0, 16383),
}
"""Per-chip defaults, the one place they are written down."""

SERVERS = ("stratum", "sde")
"""P4Runtime servers a Tofino switch runs: Stratum (stratum_bfrt) or the SDE's (bf_switchd+PI)."""

STRATUM_MAX_CLONE_SESSION = 1015  # stratum/hal/lib/barefoot/bfrt_constants.h kMaxCloneSessionId
SDE_MAX_CLONE_SESSION = 32767  # PI proto/frontend/src/pre_clone_mgr.h kMaxCloneSessionId - 1
P4_NAME = "dysco"


@dataclass(frozen=True)
class TofinoConfig:
    """``device`` fields of ``target: tofino`` (validated by :mod:`controller.config`)."""

    chip: str
    server: str
    pipe: str = "pipe"
    build: Path | None = None  # default: p4src/build/<chip>
    pipe_scope: tuple[int, ...] = ()  # hardware pipes of the profile (Stratum); () = all
    program_name: str = P4_NAME

    @property
    def build_dir(self) -> Path:
        return self.build if self.build is not None else default_build_dir(self.chip)


def default_build_dir(chip: str) -> Path:
    """The committed compiler output for ``chip`` (``p4src/build/<chip>``)."""
    return BUILD_ROOT / chip


@dataclass(frozen=True)
class TofinoBuild:
    """The files of one bf-p4c compile (``p4src/build/<chip>/``), as bytes."""

    directory: Path
    chip: str
    pipe: str
    p4info: Path
    bfrt: bytes
    context: bytes
    binary: bytes

    @classmethod
    def load(cls, directory: Path, chip: str, pipe: str = "pipe") -> TofinoBuild:
        """Read the build; :class:`TofinoBuildError` (one line) when a file is missing."""
        info = CHIPS.get(chip)
        if info is None:
            raise TofinoBuildError(f"unknown chip {chip!r} (expected {' or '.join(CHIPS)})")
        if not directory.is_dir():
            raise TofinoBuildError(f"no build directory {directory}")
        files = {
            "P4Info": directory / "dysco.p4info.txtpb",
            "bfrt.json": directory / "bfrt.json",
            "context.json": directory / pipe / "context.json",
            info.binary: directory / pipe / info.binary,
        }
        data: dict[str, bytes] = {}
        for what, path in files.items():
            try:
                data[what] = path.read_bytes()
            except OSError as e:
                raise TofinoBuildError(
                    f"{what} missing from {directory}: {path}: {e.strerror or e}"
                ) from None
        for what in ("bfrt.json", "context.json"):
            try:
                json.loads(data[what])
            except ValueError as e:
                raise TofinoBuildError(f"{files[what]}: not JSON: {e}") from None
        ctx_target = json.loads(data["context.json"]).get("target")
        if ctx_target is not None and ctx_target != chip:
            raise TofinoBuildError(
                f"{files['context.json']} was compiled for {ctx_target}, not {chip}"
            )
        return cls(
            directory,
            chip,
            pipe,
            files["P4Info"],
            data["bfrt.json"],
            data["context.json"],
            data[info.binary],
        )


def stratum_device_config(
    build: TofinoBuild, p4_name: str = P4_NAME, pipe_scope: tuple[int, ...] = ()
) -> bytes:
    """The serialized ``BfPipelineConfig`` Stratum (stratum_bfrt) takes as p4_device_config."""
    from controller.p4rt.tofino_pb.stratum import bf_pb2

    msg = bf_pb2.BfPipelineConfig(
        p4_name=p4_name,
        bfruntime_info=build.bfrt,
        profiles=[
            bf_pb2.BfPipelineConfig.Profile(
                profile_name=build.pipe,
                context=build.context,
                binary=build.binary,
                pipe_scope=list(pipe_scope),
            )
        ],
    )
    return msg.SerializeToString(deterministic=True)


def _chunk(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


SDE_MAX_NAME = 100  # _PI_UPDATE_MAX_NAME_SIZE in pi_imp.c


def sde_device_config(build: TofinoBuild, p4_name: str = P4_NAME) -> bytes:
    """The packed p4_device_config of the SDE's P4Runtime server (bf_switchd with PI)."""
    for what, name in (("program name", p4_name), ("pipeline name", build.pipe)):
        if not 0 < len(name.encode()) <= SDE_MAX_NAME:
            raise TofinoBuildError(f"{what} {name!r}: 1..{SDE_MAX_NAME} bytes for the SDE")
    return b"".join(
        _chunk(x)
        for x in (p4_name.encode(), build.binary, build.context, build.pipe.encode(), build.bfrt)
    )


def device_config(tofino: TofinoConfig) -> bytes:
    """The p4_device_config for ``tofino.server`` from the build in ``tofino.build_dir``."""
    build = TofinoBuild.load(tofino.build_dir, tofino.chip, tofino.pipe)
    if tofino.server == "stratum":
        return stratum_device_config(build, tofino.program_name, tofino.pipe_scope)
    if tofino.server == "sde":
        return sde_device_config(build, tofino.program_name)
    raise TofinoBuildError(f"unknown server {tofino.server!r} (expected {' or '.join(SERVERS)})")


def compiled_defines(directory: Path) -> dict[str, str]:
    """The ``-D`` defines the build was compiled with (``manifest.json``), name -> value."""
    try:
        manifest: Any = json.loads((directory / "manifest.json").read_bytes())
    except (OSError, ValueError) as e:
        raise TofinoBuildError(f"{directory / 'manifest.json'}: {e}") from None
    out: dict[str, str] = {}
    for prog in manifest.get("programs", []):
        for d in prog.get("source_files", {}).get("defines", []):
            name, _, value = str(d).partition("=")
            out[name] = value
    return out


__all__ = [
    "CHIPS",
    "CPU_CLONE_SESSION",
    "SERVERS",
    "ChipInfo",
    "TofinoBuild",
    "TofinoBuildError",
    "TofinoConfig",
    "default_build_dir",
    "device_config",
    "sde_device_config",
    "stratum_device_config",
]
