"""The controller's Tofino support against the real bf-p4c outputs committed under
``p4src/build/tofino/`` (the folded build: pipelines ``pipe_a`` and ``pipe_b``) and
``p4src/build/tofino2/`` (one pipeline, ``pipe``): the two pipeline device configs
(Stratum's ``BfPipelineConfig``, the SDE's packed layout) parsed back with their public
definitions, and the P4Info name mapping onto the pipeline contract. Configuration validation
of ``target: tofino`` runs everywhere (tests/tofino/test_tofino_folded.py: the folded build's
configuration on a synthetic build)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from controller.config import ConfigError, parse_config
from controller.p4rt.p4info import contract_mismatches, load_p4info, slot_capacity
from controller.p4rt.tofino import (
    CHIPS,
    TofinoBuild,
    TofinoBuildError,
    TofinoConfig,
    build_pipelines,
    compiled_defines,
    default_build_dir,
    device_config,
    sde_device_config,
    stratum_device_config,
)
from controller.p4rt.tofino_pb.stratum import bf_pb2
from controller.translate import Translator
from dysco_pipeline import pipeline as pl
from tests.tofino import assert_config_error, committed_build

ROOT = Path(__file__).resolve().parents[2]
BMV2_P4INFO = ROOT / "p4src" / "build" / "dysco.p4info.txtpb"


CHIP_LIST = sorted(CHIPS)


# -- pipeline device configs -----------------------------------------------------------------


def unpack_sde(data: bytes) -> list[bytes]:
    """The documented layout (docs/deploy-tofino.md, open-p4studio pi_imp.c
    _pi_update_device_start): little-endian u32 length + bytes, five times."""
    parts = []
    off = 0
    while off < len(data):
        (n,) = struct.unpack_from("<I", data, off)
        off += 4
        assert off + n <= len(data), "chunk runs past the end"
        parts.append(data[off : off + n])
        off += n
    return parts


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_committed_build_is_what_the_controller_loads(chip: str) -> None:
    """The tests read the directory a config without ``device.build`` makes it push."""
    assert committed_build(chip) == default_build_dir(chip)


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_stratum_config_from_committed_build(chip: str) -> None:
    """One profile per pipeline of the build (dysco.conf), each with its own files and pipes:
    one given list for a one-pipeline build, the compiler's per pipe for a folded one."""
    d = committed_build(chip)
    build = TofinoBuild.load(d, chip)
    listed = build_pipelines(d)
    assert [p.name for p in build.profiles] == [n for n, _s in listed]
    scope: tuple[int, ...] = (0, 1) if len(listed) == 1 else ()
    msg = bf_pb2.BfPipelineConfig()
    msg.ParseFromString(stratum_device_config(build, "dysco", scope))
    assert msg.p4_name == "dysco"
    assert msg.bfruntime_info == (d / "bfrt.json").read_bytes()
    assert len(msg.profiles) == len(listed) >= 1
    for prof, (name, compiled) in zip(msg.profiles, listed, strict=True):
        assert prof.profile_name == name
        assert prof.context == (d / name / "context.json").read_bytes()
        assert prof.binary == (d / name / CHIPS[chip].binary).read_bytes()
        assert tuple(prof.pipe_scope) == (scope if len(listed) == 1 else compiled)
        # the binary is the chip's: bf-p4c names it after the target
        assert json.loads(prof.context)["target"] == chip
    if len(listed) > 1:  # the folded build: pipes apart, each facing its own hardware pipes
        seen = [p for prof in msg.profiles for p in prof.pipe_scope]
        assert len(seen) == len(set(seen)) > 0


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_sde_config_from_committed_build(chip: str) -> None:
    d = committed_build(chip)
    build = TofinoBuild.load(d, chip)
    if len(build.profiles) > 1:
        # PI's packed form carries one profile (pi_imp.c _pi_update_device_start)
        with pytest.raises(TofinoBuildError, match="use server: stratum") as e:
            sde_device_config(build, "dysco")
        assert "\n" not in str(e.value) and "pi_imp.c" in str(e.value)
        return
    data = sde_device_config(build, "dysco")
    name, binary, context, pipe, bfrt = unpack_sde(data)
    assert name == b"dysco"
    assert binary == (d / "pipe" / CHIPS[chip].binary).read_bytes()
    assert context == (d / "pipe" / "context.json").read_bytes()
    assert pipe == b"pipe"
    assert bfrt == (d / "bfrt.json").read_bytes()
    assert len(data) == 5 * 4 + sum(map(len, (name, binary, context, pipe, bfrt)))


@pytest.mark.parametrize("server", ["stratum", "sde"])
def test_device_config_follows_the_server(server: str) -> None:
    d = committed_build("tofino2")
    data = device_config(TofinoConfig("tofino2", server, build=d))
    build = TofinoBuild.load(d, "tofino2")
    want = stratum_device_config(build) if server == "stratum" else sde_device_config(build)
    assert data == want


def test_packing_of_a_synthetic_build(tmp_path: Path) -> None:
    """Unit test beside the real-output ones: exact bytes of both forms."""
    (tmp_path / "pipe").mkdir()
    (tmp_path / "dysco.p4info.txtpb").write_text("")
    (tmp_path / "bfrt.json").write_bytes(b'{"tables": []}')
    (tmp_path / "pipe" / "context.json").write_bytes(b'{"target": "tofino"}')
    (tmp_path / "pipe" / "tofino.bin").write_bytes(b"\x00\x01\x02")
    build = TofinoBuild.load(tmp_path, "tofino")
    assert sde_device_config(build, "ab") == (
        b"\x02\x00\x00\x00ab"
        + b"\x03\x00\x00\x00\x00\x01\x02"
        + b'\x14\x00\x00\x00{"target": "tofino"}'
        + b"\x04\x00\x00\x00pipe"
        + b'\x0e\x00\x00\x00{"tables": []}'
    )
    msg = bf_pb2.BfPipelineConfig.FromString(stratum_device_config(build, "ab"))
    assert (msg.p4_name, msg.profiles[0].binary, list(msg.profiles[0].pipe_scope)) == (
        "ab",
        b"\x00\x01\x02",
        [],
    )


def test_build_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(TofinoBuildError, match="no build directory"):
        TofinoBuild.load(tmp_path / "nope", "tofino")
    (tmp_path / "pipe").mkdir()
    (tmp_path / "dysco.p4info.txtpb").write_text("")
    (tmp_path / "bfrt.json").write_text("{}")
    with pytest.raises(TofinoBuildError, match=r"context\.json missing") as e:
        TofinoBuild.load(tmp_path, "tofino")
    assert "\n" not in str(e.value)
    (tmp_path / "pipe" / "context.json").write_text("{garbled")
    (tmp_path / "pipe" / "tofino.bin").write_bytes(b"x")
    with pytest.raises(TofinoBuildError, match="not JSON"):
        TofinoBuild.load(tmp_path, "tofino")
    (tmp_path / "pipe" / "context.json").write_text('{"target": "tofino2"}')
    with pytest.raises(TofinoBuildError, match="compiled for tofino2"):
        TofinoBuild.load(tmp_path, "tofino")


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_cpu_port_default_is_the_compiled_one(chip: str) -> None:
    """The per-chip default cpu_port (CHIPS) is the CPU_PORT the committed build was compiled
    with: a -DCPU_PORT= define recorded in manifest.json, else the program's default."""
    d = committed_build(chip)
    defines = compiled_defines(d)
    if "CPU_PORT" in defines:
        compiled = int(defines["CPU_PORT"], 0)
    else:
        src = (ROOT / "p4src" / "tna" / "dysco.p4").read_text()
        line = next(ln for ln in src.splitlines() if ln.startswith("#define CPU_PORT "))
        compiled = int(line.split()[2], 0)
    assert CHIPS[chip].cpu_port == compiled


# -- P4Info name mapping -----------------------------------------------------------------------


def _config_text(extra: str = "", build: Path | None = None) -> str:
    b = f"  build: {build}\n" if build is not None else ""
    return (
        "device:\n  address: 192.0.2.1:9559\n  target: tofino\n  chip: tofino2\n"
        f"  server: sde\n{b}{extra}"
        "ports:\n  hosts:\n    - {port: 1, address: 198.18.0.1}\n  network: {port: 2}\n"
        "control:\n  listen: 127.0.0.1:0\n  key: 3f9a1c7e5b2d8046a1e9c3b57d2f6e08\n"
    )


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_tofino_p4info_maps_onto_the_contract(chip: str) -> None:
    d = committed_build(chip)
    names = [n for n, _s in build_pipelines(d)]
    index = load_p4info(d / "dysco.p4info.txtpb", pipe=names[0] if len(names) == 1 else None)
    assert sorted(index.pipes) == sorted(names)
    assert contract_mismatches(index) == []
    raw_tables = {t.preamble.name: t.preamble.id for t in index.p4info.tables}
    raw_actions = {a.preamble.name: a.preamble.id for a in index.p4info.actions}
    for tbl in pl.Tbl:
        # exactly one of the P4Info's own names is the contract name (pipe prefix stripped,
        # a folded build's DyscoIngress_<n> mapped), and it carries the contract's widths
        own = [n for n in raw_tables if index.contract_name(n) == tbl.value]
        assert len(own) == 1, (tbl, own)
        assert own[0].split(".", 1)[0] in names
        assert index.table(tbl.value).id == raw_tables[own[0]]
        for name, width, _kind in pl.MATCH_FIELDS[tbl]:
            assert index.table(tbl.value).match[name][1] == width
    for act in pl.Act:
        own = [n for n in raw_actions if index.contract_name(n) == act.value]
        assert len(own) == 1, (act, own)
        ainfo = index.action(act.value)
        assert ainfo.id == raw_actions[own[0]]
        assert [(n, w) for n, (_i, w) in ainfo.params.items()] == list(pl.ACTION_PARAMS[act])
    assert [(n, w) for n, w in index.packet_in.values()] == list(pl.PACKET_IN_FIELDS)
    assert [(n, w) for n, (_i, w) in index.packet_out.items()] == list(pl.PACKET_OUT_FIELDS)
    # the prefixes are found without being told, too
    assert load_p4info(d / "dysco.p4info.txtpb").tables.keys() == index.tables.keys()
    # and the translator (the daemon's) works on it unchanged
    text = _config_text(build=d).replace("tofino2", chip)
    if len(names) > 1:  # several pipelines: Stratum only (the SDE's server takes one)
        text = text.replace("server: sde", "server: stratum")
    cfg = parse_config(text, filename="t.yaml")
    tr = Translator(index, cfg)
    assert tr.tables[pl.Tbl.OUT_SESSION][0] == index.table(pl.Tbl.OUT_SESSION.value).id


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_slot_capacity_is_the_compiled_registers(chip: str) -> None:
    """bf-p4c's registers are P4Info externs (barefoot.Register): the controller's slot
    allocator stays within their compiled size, not the v1model NUM_SLOTS."""
    d = committed_build(chip)
    index = load_p4info(d / "dysco.p4info.txtpb")
    from controller.p4resources import load_resources

    want = load_resources(d, chip).sessions_limits["slots"]
    assert slot_capacity(index) == want < pl.NUM_SLOTS
    assert slot_capacity(index, 7) == 7


def test_bmv2_p4info_maps_identically() -> None:
    index = load_p4info(BMV2_P4INFO)
    assert index.pipe is None
    assert contract_mismatches(index) == []
    for t in index.p4info.tables:
        assert index.table(t.preamble.name).id == t.preamble.id
        assert index.contract_name(t.preamble.name) == t.preamble.name
    for a in index.p4info.actions:
        assert index.action(a.preamble.name).id == a.preamble.id


def test_contract_mismatches_finds_a_wrong_width() -> None:
    index = load_p4info(BMV2_P4INFO)
    msg = type(index.p4info)()
    msg.CopyFrom(index.p4info)
    for a in msg.actions:
        if a.preamble.name == pl.Act.ROUTE.value:
            a.params[0].bitwidth = 32
    for t in msg.tables:
        if t.preamble.name == pl.Tbl.IN_SESSION.value:
            t.preamble.name = "pipe." + t.preamble.name
    # a v1model P4Info has no pipe prefix to strip: the renamed table is missing
    bad = contract_mismatches(type(index)(msg))
    assert any("route" in m and "32 bits" in m for m in bad), bad
    assert any("in_session missing" in m for m in bad), bad
    # with the pipe named, the prefixed name resolves; the wrong width is still reported
    assert contract_mismatches(type(index)(msg, "pipe")) == [m for m in bad if "missing" not in m]
    assert contract_mismatches(type(index)(msg, "pipe")) != []


# -- configuration -------------------------------------------------------------------------------


def test_tofino_config_defaults(tmp_path: Path) -> None:
    build = tmp_path / "b"
    build.mkdir()
    (build / "dysco.p4info.txtpb").write_text("")
    cfg = parse_config(_config_text(build=build), filename="t.yaml")
    dev = cfg.device
    assert dev.target == "tofino"
    assert dev.tofino == TofinoConfig("tofino2", "sde", "pipe", build, ())
    assert dev.cpu_port == CHIPS["tofino2"].cpu_port
    assert dev.p4info == build / "dysco.p4info.txtpb"
    assert dev.clone_session == pl.CPU_CLONE_SESSION
    assert dev.clone_max_len == CHIPS["tofino2"].clone_max_len
    t1 = parse_config(
        _config_text(build=build).replace("tofino2", "tofino").replace("sde", "stratum") + "",
        filename="t.yaml",
    )
    assert t1.device.cpu_port == CHIPS["tofino"].cpu_port
    # bmv2 (no target) keeps its defaults
    bm = parse_config(
        _config_text()
        .replace("  target: tofino\n  chip: tofino2\n  server: sde\n", "")
        .replace("address: 192.0.2.1", "address: 127.0.0.1"),
        filename="t.yaml",
    )
    assert (bm.device.target, bm.device.tofino, bm.device.cpu_port) == ("bmv2", None, pl.CPU_PORT)
    assert (bm.device.clone_session, bm.device.clone_max_len) == (pl.CPU_CLONE_SESSION, 0)


def test_translator_clone_session_follows_the_config(tmp_path: Path) -> None:
    build = tmp_path / "b"
    build.mkdir()
    (build / "dysco.p4info.txtpb").write_text("")
    cfg = parse_config(
        _config_text("  cpu_port: 320\n  clone_session: 7\n  clone_max_len: 9000\n", build),
        filename="t.yaml",
    )
    tr = Translator(load_p4info(BMV2_P4INFO), cfg)
    clones = [
        u.entity.packet_replication_engine_entry.clone_session_entry
        for _k, u in tr.static_updates()
        if u.entity.HasField("packet_replication_engine_entry")
    ]
    assert len(clones) == 1
    c = clones[0]
    assert (c.session_id, c.packet_length_bytes) == (7, 9000)
    assert [(r.egress_port, r.instance) for r in c.replicas] == [(320, 0)]


@pytest.mark.parametrize(
    ("extra", "line", "field", "words"),
    [
        ("  chip: tofino3\n", 4, "device.chip", "tofino or tofino2"),
        ("  server: onos\n", 5, "device.server", "stratum or sde"),
        ("  cpu_port: 0\n  clone_session: 2000\n", 8, "device.clone_session", "out of range"),
        ("  cpu_port: 0\n", 7, "device.cpu_port", "port 0"),
        ("  pipe_scope: [0, 9]\n", 7, "device.pipe_scope[1]", "out of range"),
        ("  device_config: x.json\n", 7, "device.device_config", "not with target tofino"),
        ("  build: /nonexistent/dir\n", 6, "device.build", "no such directory"),
    ],
)
def test_tofino_config_errors(
    tmp_path: Path, extra: str, line: int, field: str, words: str
) -> None:
    build = tmp_path / "b"
    build.mkdir()
    (build / "dysco.p4info.txtpb").write_text("")
    text = _config_text(build=build if "build:" not in extra else None).replace(
        "  server: sde\n", "  server: stratum\n"
    )
    if "chip:" in extra or "server:" in extra:
        key = extra.split(":")[0]
        text = "\n".join(
            extra.rstrip("\n") if ln.startswith(key + ":") else ln for ln in text.split("\n")
        )
    else:
        text = text.replace("ports:\n", extra + "ports:\n", 1)
    assert_config_error(text, line, field, words)


def test_tofino_fields_need_target_tofino() -> None:
    text = (
        "device:\n  address: 127.0.0.1:9559\n  chip: tofino\n"
        "ports:\n  hosts:\n    - {port: 1, address: 198.18.0.1}\n  network: {port: 2}\n"
        "control:\n  listen: 127.0.0.1:0\n  key: 3f9a1c7e5b2d8046a1e9c3b57d2f6e08\n"
    )
    with pytest.raises(ConfigError, match=r"t.yaml:3: .*device.chip.*only with target: tofino"):
        parse_config(text, filename="t.yaml")


@pytest.mark.parametrize("server", ["stratum", "sde"])
def test_daemon_pushes_the_servers_form(tmp_path: Path, server: str) -> None:
    """The daemon of a ``target: tofino`` config hands its P4Runtime client the device config
    of that server and the Tofino P4Info, names mapped (no connection is made)."""
    from controller.daemon import Daemon

    d = committed_build("tofino2")
    text = _config_text(build=d).replace("server: sde", f"server: {server}")
    if server == "stratum":
        text = text.replace("ports:\n", "  cpu_port: 2\n" + "ports:\n", 1)
    text = text.replace(
        "control:\n", f"management: {{socket: {tmp_path / 'm.sock'}}}\ncontrol:\n", 1
    )
    cfg = parse_config(text, filename=str(tmp_path / "t.yaml"))
    daemon = Daemon(cfg, management=False, checkpoint_path=tmp_path / "state.sqlite")
    build = TofinoBuild.load(d, "tofino2")
    want = stratum_device_config(build) if server == "stratum" else sde_device_config(build)
    assert daemon.client.device_config == want
    assert daemon.client.p4info is daemon.p4info
    assert daemon.p4info.pipe == "pipe"
    assert contract_mismatches(daemon.p4info) == []
