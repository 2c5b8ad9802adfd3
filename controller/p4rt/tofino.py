"""Tofino: chip defaults, the compiled build bf-p4c writes, and the pipeline device configs.

A Tofino switch takes the compiled program as the ``p4_device_config`` of
``SetForwardingPipelineConfig``, in the form of the P4Runtime server it runs:

- **Stratum** (``stratum_bfrt``): a serialized ``stratum.hal.barefoot.BfPipelineConfig``
  (``controller/p4rt/tofino_pb/stratum/bf.proto``, vendored from Stratum's
  ``stratum/hal/lib/barefoot/bf.proto``): the program name, ``bfrt.json`` and one profile per
  pipeline with its ``context.json``, binary and hardware pipes (``pipe_scope``).
- **The SDE's own server** (``bf_switchd`` with PI, ``pi_tofino``): the packed layout that
  ``_pi_update_device_start`` in open-p4studio ``pkgsrc/bf-drivers/src/pi/pi_imp.c`` unpacks,
  each length a 32-bit little-endian integer (PI's ``retrieve_uint32`` in
  ``src/utils/serialize.c`` is a ``memcpy`` on the little-endian x86 host)::

      u32 len | program name | u32 len | binary (tofino.bin) | u32 len | context.json
      | u32 len | pipeline name | u32 len | bfrt.json

  (the last two pairs are optional there; we always send them). That function fills one
  ``bf_device_profile_t`` with one program of one pipeline and ``num_pipes_in_scope = 0``
  (every pipe): the format carries **one** profile, so a build of several pipelines (the folded
  Tofino 1 build: ``pipe_a``, ``pipe_b``) cannot go to the SDE's server, only to Stratum.

A build has one pipeline profile per ``Pipeline`` instance of the program: ``pipe`` for the
one-pipeline (Tofino 2) build; ``pipe_a`` and ``pipe_b`` for the folded Tofino 1 build
(``-DFOLD``). Their names and the compiler's hardware pipes come from ``dysco.conf``
(``p4_pipelines``: ``p4_pipeline_name``, ``pipe_scope``), else ``manifest.json``; each has
``<name>/context.json`` and ``<name>/<chip>.bin``.

Chip defaults live in :data:`CHIPS` and nowhere else.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dysco_pipeline.pipeline import CPU_CLONE_SESSION

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_ROOT = PROJECT_ROOT / "p4src" / "build"


PipeScope = tuple[int, ...] | Mapping[str, tuple[int, ...]]
"""``device.pipe_scope``: one list of hardware pipes, or one per pipeline name."""


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
    # the Pipeline instance of a one-pipeline build; None: every pipeline the build lists
    pipe: str | None = "pipe"
    build: Path | None = None  # default: p4src/build/<chip>
    pipe_scope: tuple[int, ...] = ()  # hardware pipes of the profile (Stratum); () = all
    program_name: str = P4_NAME
    # per pipeline (Stratum): its hardware pipes, overriding the compiler's (dysco.conf)
    profile_scopes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def scopes(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        """The ``pipe_scope`` argument of :func:`stratum_device_config`."""
        return dict(self.profile_scopes) if self.profile_scopes else self.pipe_scope

    @property
    def build_dir(self) -> Path:
        return self.build if self.build is not None else default_build_dir(self.chip)


def default_build_dir(chip: str) -> Path:
    """The committed compiler output for ``chip`` (``p4src/build/<chip>``)."""
    return BUILD_ROOT / chip


@dataclass(frozen=True)
class PipelineProfile:
    """One ``Pipeline`` instance of a build: its name, files and the compiler's pipes."""

    name: str
    context: bytes
    binary: bytes
    scope: tuple[int, ...] = ()  # dysco.conf pipe_scope; () when the build does not say


def build_pipelines(directory: Path) -> list[tuple[str, tuple[int, ...]]]:
    """The pipelines a build lists, with the compiler's hardware pipes, in its order:
    ``dysco.conf`` ``p4_pipelines``, else ``manifest.json`` (names only); ``[]`` when neither
    says (a build of one pipeline named by ``device.pipe``)."""
    conf = directory / "dysco.conf"
    try:
        data: Any = json.loads(conf.read_bytes())
        pipelines = data["p4_devices"][0]["p4_programs"][0]["p4_pipelines"]
        return [
            (str(p["p4_pipeline_name"]), tuple(int(x) for x in p.get("pipe_scope", ())))
            for p in pipelines
        ]
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise TofinoBuildError(
            f"{conf}: not a bf-p4c conf file ({type(e).__name__}: {e})"
        ) from None
    try:
        manifest: Any = json.loads((directory / "manifest.json").read_bytes())
        pipes = manifest["programs"][0]["pipes"]
        return [(str(p["pipe_name"]), ()) for p in pipes]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []


@dataclass(frozen=True)
class TofinoBuild:
    """The files of one bf-p4c compile (``p4src/build/<chip>/``), as bytes."""

    directory: Path
    chip: str
    p4info: Path
    bfrt: bytes
    profiles: tuple[PipelineProfile, ...]

    @property
    def pipe(self) -> str:
        """The first (a one-pipeline build's only) pipeline's name."""
        return self.profiles[0].name

    @property
    def context(self) -> bytes:
        """The first pipeline's ``context.json``."""
        return self.profiles[0].context

    @property
    def binary(self) -> bytes:
        """The first pipeline's binary."""
        return self.profiles[0].binary

    @classmethod
    def load(cls, directory: Path, chip: str, pipe: str | None = None) -> TofinoBuild:
        """Read the build: every pipeline it lists (``pipe`` None), or the one pipeline
        ``pipe`` of a one-pipeline build. :class:`TofinoBuildError` (one line) when a file is
        missing or ``pipe`` is not how the build names its pipeline."""
        info = CHIPS.get(chip)
        if info is None:
            raise TofinoBuildError(f"unknown chip {chip!r} (expected {' or '.join(CHIPS)})")
        if not directory.is_dir():
            raise TofinoBuildError(f"no build directory {directory}")
        listed = build_pipelines(directory)
        wanted = listed or [(pipe or "pipe", ())]
        if pipe is not None and listed:
            names = [n for n, _s in listed]
            if names != [pipe]:
                raise TofinoBuildError(
                    f"pipe {pipe!r}: the build in {directory} has pipeline(s) "
                    f"{', '.join(names)} (dysco.conf)"
                )
        files = {"P4Info": directory / "dysco.p4info.txtpb", "bfrt.json": directory / "bfrt.json"}
        for name, _scope in wanted:
            files[f"{name}/context.json"] = directory / name / "context.json"
            files[f"{name}/{info.binary}"] = directory / name / info.binary
        data = {what: _read(directory, what, path) for what, path in files.items()}
        for what in data:
            if what.endswith(".json"):
                _check_json(files[what], data[what], chip)
        profiles = tuple(
            PipelineProfile(
                name, data[f"{name}/context.json"], data[f"{name}/{info.binary}"], scope
            )
            for name, scope in wanted
        )
        return cls(directory, chip, files["P4Info"], data["bfrt.json"], profiles)


def _read(directory: Path, what: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        what = what.rsplit("/", 1)[-1]
        raise TofinoBuildError(
            f"{what} missing from {directory}: {path}: {e.strerror or e}"
        ) from None


def _check_json(path: Path, data: bytes, chip: str) -> None:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise TofinoBuildError(f"{path}: not JSON: {e}") from None
    target = doc.get("target") if path.name == "context.json" and isinstance(doc, dict) else None
    if target is not None and target != chip:
        raise TofinoBuildError(f"{path} was compiled for {target}, not {chip}")


def profile_scopes(build: TofinoBuild, pipe_scope: PipeScope = ()) -> list[tuple[int, ...]]:
    """Each profile's hardware pipes for Stratum: a list for a one-pipeline build (``()``:
    every pipe); per pipeline name otherwise, a pipeline not named keeping the compiler's
    (``dysco.conf``). Two profiles on one pipe, or a name the build lacks, is an error."""
    return resolve_scopes([(p.name, p.scope) for p in build.profiles], pipe_scope)


def resolve_scopes(
    pipelines: list[tuple[str, tuple[int, ...]]],
    pipe_scope: PipeScope = (),
) -> list[tuple[int, ...]]:
    """:func:`profile_scopes` on the build's (name, compiler's pipes) pairs."""
    names = [n for n, _s in pipelines]
    if not isinstance(pipe_scope, Mapping):
        if len(names) == 1:
            return [tuple(pipe_scope)]
        if pipe_scope:
            raise TofinoBuildError(
                f"the build has pipelines {', '.join(names)}: give one list per pipeline "
                f"({{{names[0]}: [...], ...}})"
            )
        pipe_scope = {}
    empty = sorted(n for n, hw in pipe_scope.items() if not hw)
    if empty:
        raise TofinoBuildError(f"no pipes given for {', '.join(empty)}")
    unknown = sorted(set(pipe_scope) - set(names))
    if unknown:
        raise TofinoBuildError(
            f"no pipeline {', '.join(unknown)} in the build (it has {', '.join(names)})"
        )
    out = [tuple(pipe_scope.get(n, s)) for n, s in pipelines]
    if len(out) > 1:
        seen: dict[int, str] = {}
        for name, scope in zip(names, out, strict=True):
            if not scope:
                raise TofinoBuildError(f"the build does not give {name}'s pipes: give them")
            for hw in scope:
                if hw in seen:
                    raise TofinoBuildError(f"pipe {hw} is in both {seen[hw]} and {name}")
                seen[hw] = name
    return out


class TofinoConfigError(TofinoBuildError):
    """A ``device`` field of ``target: tofino`` does not fit the build (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def tofino_config(
    chip: str,
    server: str,
    pipe: str | None,
    build: Path | None,
    pipe_scope: PipeScope = (),
) -> TofinoConfig:
    """The :class:`TofinoConfig` of the configuration's fields, checked against the build's
    pipelines (:func:`build_pipelines`): ``build`` (None: the committed one) must exist;
    ``pipe`` (None: not given) names the pipeline of a one-pipeline build only; a build of
    several needs Stratum, and their pipes must not overlap. :class:`TofinoConfigError` with
    the field at fault."""
    if build is None:
        build = default_build_dir(chip)
        if not build.is_dir():
            raise TofinoConfigError("build", f"not given and the default {build} is missing")
    elif not build.is_dir():
        raise TofinoConfigError("build", f"no such directory: {build}")
    try:
        listed = build_pipelines(build)
    except TofinoBuildError as e:
        raise TofinoConfigError("build", str(e)) from None
    names = [n for n, _s in listed]
    if len(names) > 1:
        if pipe is not None:
            raise TofinoConfigError(
                "pipe",
                f"the build has pipelines {', '.join(names)} (dysco.conf): pipe names the "
                "pipeline of a one-pipeline build; leave it out",
            )
        if server == "sde":
            raise TofinoConfigError(
                "server", SDE_ONE_PROFILE.format(n=len(names), names=", ".join(names))
            )
    elif pipe is None:
        pipe = names[0] if names else "pipe"
    elif names and names != [pipe]:
        raise TofinoConfigError(
            "pipe", f"{pipe!r} is not the build's pipeline ({names[0]}, dysco.conf)"
        )
    if server == "stratum":
        try:
            resolve_scopes(listed or [(str(pipe), ())], pipe_scope)
        except TofinoBuildError as e:
            raise TofinoConfigError("pipe_scope", str(e)) from None
    if isinstance(pipe_scope, Mapping):
        per = tuple((n, tuple(pipe_scope[n])) for n in names or [str(pipe)] if n in pipe_scope)
        return TofinoConfig(chip, server, pipe, build, (), profile_scopes=per)
    return TofinoConfig(chip, server, pipe, build, tuple(pipe_scope))


def stratum_device_config(
    build: TofinoBuild,
    p4_name: str = P4_NAME,
    pipe_scope: PipeScope = (),
) -> bytes:
    """The serialized ``BfPipelineConfig`` Stratum (stratum_bfrt) takes as p4_device_config:
    one profile per pipeline of the build, hardware pipes from :func:`profile_scopes`."""
    from controller.p4rt.tofino_pb.stratum import bf_pb2

    scopes = profile_scopes(build, pipe_scope)
    msg = bf_pb2.BfPipelineConfig(
        p4_name=p4_name,
        bfruntime_info=build.bfrt,
        profiles=[
            bf_pb2.BfPipelineConfig.Profile(
                profile_name=p.name, context=p.context, binary=p.binary, pipe_scope=list(scope)
            )
            for p, scope in zip(build.profiles, scopes, strict=True)
        ],
    )
    return msg.SerializeToString(deterministic=True)


def _chunk(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


SDE_MAX_NAME = 100  # _PI_UPDATE_MAX_NAME_SIZE in pi_imp.c
SDE_ONE_PROFILE = (
    "the SDE's P4Runtime server loads one pipeline profile on every pipe (open-p4studio "
    "pkgsrc/bf-drivers/src/pi/pi_imp.c _pi_update_device_start) and this build has {n} "
    "({names}): use server: stratum"
)


def sde_device_config(build: TofinoBuild, p4_name: str = P4_NAME) -> bytes:
    """The packed p4_device_config of the SDE's P4Runtime server (bf_switchd with PI): one
    pipeline only (see the module doc), so a build of several is a :class:`TofinoBuildError`."""
    if len(build.profiles) > 1:
        raise TofinoBuildError(
            SDE_ONE_PROFILE.format(
                n=len(build.profiles), names=", ".join(p.name for p in build.profiles)
            )
        )
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
        return stratum_device_config(build, tofino.program_name, tofino.scopes())
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
    "PipeScope",
    "PipelineProfile",
    "TofinoBuild",
    "TofinoBuildError",
    "TofinoConfig",
    "TofinoConfigError",
    "build_pipelines",
    "default_build_dir",
    "device_config",
    "profile_scopes",
    "resolve_scopes",
    "sde_device_config",
    "stratum_device_config",
    "tofino_config",
]
