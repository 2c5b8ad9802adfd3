"""A build of several pipelines (the folded Tofino 1 build, ``-DFOLD``: ``pipe_a`` faces the
ports, ``pipe_b`` is the second pass): its configuration (``device.pipe_scope`` per
pipeline), its device configs (Stratum: one profile per pipeline; the SDE: refused) and its
P4Info names (two pipe prefixes, a per-pipe ``DyscoIngress_<n>``). Synthetic builds and
P4Infos run everywhere; the daemon test uses the committed ``p4src/build/tofino``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.config import ConfigError, parse_config
from controller.p4rt.p4info import (
    P4InfoError,
    P4InfoIndex,
    contract_form,
    contract_mismatches,
    load_p4info,
)
from controller.p4rt.tofino import (
    TofinoBuild,
    TofinoBuildError,
    TofinoConfig,
    build_pipelines,
    device_config,
    sde_device_config,
    stratum_device_config,
)
from controller.p4rt.tofino_pb.stratum import bf_pb2
from dysco_pipeline import pipeline as pl
from tests.tofino import assert_config_error, committed_build

TOFINO2_P4INFO = Path(__file__).resolve().parents[2] / "p4src/build/tofino2/dysco.p4info.txtpb"
# hardware pipes of the compiler's dysco.conf for the folded build (2-pipe Tofino 1 defaults)
COMPILED = {"pipe_b": [0, 2], "pipe_a": [1, 3]}


def folded_build(tmp: Path, scopes: dict[str, list[int]] | None = None) -> Path:
    """A build directory shaped like bf-p4c's output of two Pipeline instances."""
    d = tmp / "folded"
    d.mkdir()
    scopes = COMPILED if scopes is None else scopes
    pipelines = [{"p4_pipeline_name": n, "pipe_scope": s} for n, s in scopes.items()]
    conf = {"p4_devices": [{"p4_programs": [{"program-name": "dysco", "p4_pipelines": pipelines}]}]}
    (d / "dysco.conf").write_text(json.dumps(conf))
    (d / "dysco.p4info.txtpb").write_text("")
    (d / "bfrt.json").write_text('{"tables": []}')
    for n in scopes:
        (d / n).mkdir()
        (d / n / "context.json").write_text(json.dumps({"target": "tofino", "pipe": n}))
        (d / n / "tofino.bin").write_bytes(n.encode())
    return d


def config_text(build: Path, extra: str = "", server: str = "stratum") -> str:
    return (
        "device:\n  address: 192.0.2.1:9559\n  target: tofino\n  chip: tofino\n"
        f"  server: {server}\n  build: {build}\n{extra}"
        "ports:\n  hosts:\n    - {port: 1, address: 198.18.0.1}\n  network: {port: 2}\n"
        "control:\n  listen: 127.0.0.1:0\n  key: 3f9a1c7e5b2d8046a1e9c3b57d2f6e08\n"
    )


# -- the build and its device configs ------------------------------------------------------------


def test_build_lists_its_pipelines(tmp_path: Path) -> None:
    d = folded_build(tmp_path)
    assert build_pipelines(d) == [("pipe_b", (0, 2)), ("pipe_a", (1, 3))]
    build = TofinoBuild.load(d, "tofino")
    assert [(p.name, p.binary, p.scope) for p in build.profiles] == [
        ("pipe_b", b"pipe_b", (0, 2)),
        ("pipe_a", b"pipe_a", (1, 3)),
    ]
    # one pipeline of a build of several is not a build: one line
    with pytest.raises(TofinoBuildError, match="pipe_b, pipe_a") as e:
        TofinoBuild.load(d, "tofino", "pipe_a")
    assert "\n" not in str(e.value)
    (d / "pipe_a" / "tofino.bin").unlink()
    with pytest.raises(TofinoBuildError, match=r"tofino\.bin missing"):
        TofinoBuild.load(d, "tofino")


def test_stratum_profiles_and_scopes(tmp_path: Path) -> None:
    build = TofinoBuild.load(folded_build(tmp_path), "tofino")

    def scopes(arg: object) -> list[tuple[str, list[int], bytes]]:
        msg = bf_pb2.BfPipelineConfig.FromString(stratum_device_config(build, "dysco", arg))  # type: ignore[arg-type]
        return [(p.profile_name, list(p.pipe_scope), p.binary) for p in msg.profiles]

    # default: the compiler's scopes
    assert scopes(()) == [("pipe_b", [0, 2], b"pipe_b"), ("pipe_a", [1, 3], b"pipe_a")]
    # a 2-pipe box: per pipeline; one not named keeps the compiler's
    assert scopes({"pipe_a": (1,), "pipe_b": (0,)}) == [
        ("pipe_b", [0], b"pipe_b"),
        ("pipe_a", [1], b"pipe_a"),
    ]
    assert scopes({"pipe_b": (0,)})[1] == ("pipe_a", [1, 3], b"pipe_a")
    for bad, words in (
        ((0, 1), "one list per pipeline"),
        ({"pipe_a": (0,)}, "pipe 0 is in both pipe_b and pipe_a"),
        ({"pipe_c": (0,)}, "no pipeline pipe_c"),
        ({"pipe_a": ()}, "no pipes given for pipe_a"),
    ):
        with pytest.raises(TofinoBuildError, match=words):
            scopes(bad)


def test_sde_refuses_a_build_of_several(tmp_path: Path) -> None:
    build = TofinoBuild.load(folded_build(tmp_path), "tofino")
    with pytest.raises(TofinoBuildError) as e:
        sde_device_config(build)
    msg = str(e.value)
    assert "\n" not in msg and "pi_imp.c" in msg and "use server: stratum" in msg


# -- configuration -------------------------------------------------------------------------------


def test_config_of_a_folded_build(tmp_path: Path) -> None:
    d = folded_build(tmp_path)
    cfg = parse_config(config_text(d), filename="t.yaml")
    t = cfg.device.tofino
    assert t == TofinoConfig("tofino", "stratum", None, d, ())
    msg = bf_pb2.BfPipelineConfig.FromString(device_config(t))
    assert [list(p.pipe_scope) for p in msg.profiles] == [[0, 2], [1, 3]]
    cfg = parse_config(
        config_text(d, "  pipe_scope: {pipe_a: [1], pipe_b: [0]}\n"), filename="t.yaml"
    )
    t = cfg.device.tofino
    assert t is not None and t.profile_scopes == (("pipe_b", (0,)), ("pipe_a", (1,)))
    msg = bf_pb2.BfPipelineConfig.FromString(device_config(t))
    assert [(p.profile_name, list(p.pipe_scope)) for p in msg.profiles] == [
        ("pipe_b", [0]),
        ("pipe_a", [1]),
    ]


@pytest.mark.parametrize(
    ("extra", "server", "line", "field", "words"),
    [
        ("", "sde", 5, "device.server", "use server: stratum"),
        ("  pipe: pipe_a\n", "stratum", 7, "device.pipe", "leave it out"),
        ("  pipe_scope: [0, 1]\n", "stratum", 7, "device.pipe_scope", "one list per pipeline"),
        ("  pipe_scope: {pipe_a: [0]}\n", "stratum", 7, "device.pipe_scope", "pipe 0 is in both"),
        ("  pipe_scope: {pipe_c: [0]}\n", "stratum", 7, "device.pipe_scope", "no pipeline pipe_c"),
        ("  pipe_scope: {pipe_a: []}\n", "stratum", 7, "device.pipe_scope", "no pipes given"),
        ("  pipe_scope: {pipe_a: [9]}\n", "stratum", 7, "device.pipe_scope.pipe_a[0]", "range"),
        ("  pipe_scope: {pipe_a: [1], pipe_a: [3]}\n", "stratum", 7, "pipe_a", "duplicate"),
        ("  pipe_scope: {pipe_a: [1]}\n", "sde", 7, "device.pipe_scope", "only with server"),
    ],
)
def test_config_errors_of_a_folded_build(
    tmp_path: Path, extra: str, server: str, line: int, field: str, words: str
) -> None:
    text = config_text(folded_build(tmp_path), extra, server)
    assert_config_error(text, line, field, words)


def test_one_pipeline_build_keeps_its_forms(tmp_path: Path) -> None:
    """A build listing one pipeline: ``pipe`` defaults to its name, must match it, and
    ``pipe_scope`` is a list or ``{<its name>: [...]}``; the compiler's scope is not forced
    on it (empty: every pipe, as before)."""
    d = folded_build(tmp_path, {"pipe": [0, 1, 2, 3]})
    t = parse_config(config_text(d, server="sde"), filename="t.yaml").device.tofino
    assert t == TofinoConfig("tofino", "sde", "pipe", d, ())
    with pytest.raises(ConfigError, match=r"t.yaml:7: .*device.pipe.*'other' is not the build"):
        parse_config(config_text(d, "  pipe: other\n"), filename="t.yaml")
    t = parse_config(config_text(d, "  pipe_scope: {pipe: [1]}\n"), filename="t.yaml").device.tofino
    assert t is not None
    msg = bf_pb2.BfPipelineConfig.FromString(device_config(t))
    assert [list(p.pipe_scope) for p in msg.profiles] == [[1]]
    t = parse_config(config_text(d), filename="t.yaml").device.tofino
    assert t is not None
    msg = bf_pb2.BfPipelineConfig.FromString(device_config(t))
    assert [list(p.pipe_scope) for p in msg.profiles] == [[]]


# -- P4Info names --------------------------------------------------------------------------------


def test_contract_form() -> None:
    pipes = ("pipe_a", "pipe_b")
    for raw, want in (
        ("pipe_a.DyscoIngress_0.session.out_session", "DyscoIngress.session.out_session"),
        ("pipe_b.DyscoIngress_1.forwarding.ipv4_fwd", "DyscoIngress.forwarding.ipv4_fwd"),
        ("pipe_a.DyscoEgress.window.win_shift", "DyscoEgress.window.win_shift"),
        ("DyscoIngress_1.forwarding.route", "DyscoIngress.forwarding.route"),
        ("DyscoEgress_2.x", "DyscoEgress.x"),
        ("pipe_c.DyscoIngress_0.x", "pipe_c.DyscoIngress_0.x"),  # not a pipe of the program
        ("DyscoIngress_x.y", "DyscoIngress_x.y"),
        ("NoAction", "NoAction"),
    ):
        assert contract_form(raw, pipes) == want, raw


def _second_pipe(msg: object, table: str, new_name: str) -> object:
    """``msg`` (a P4Info) with a copy of ``table`` under ``new_name`` (another id)."""
    out = type(msg)()  # type: ignore[operator]
    out.CopyFrom(msg)
    src = next(t for t in out.tables if t.preamble.name == table)
    copy = out.tables.add()
    copy.CopyFrom(src)
    copy.preamble.name = new_name
    copy.preamble.id = src.preamble.id + 0x1000
    return out


def test_contract_table_in_two_pipes_is_refused() -> None:
    base = load_p4info(TOFINO2_P4INFO).p4info
    msg = _second_pipe(
        base, "pipe." + pl.Tbl.OUT_SESSION.value, "pipe_x.DyscoIngress_1.session.out_session"
    )
    with pytest.raises(P4InfoError) as e:
        P4InfoIndex(msg)  # type: ignore[arg-type]
    text = str(e.value)
    assert "\n" not in text and "two pipes" in text and pl.Tbl.OUT_SESSION.value in text


def test_other_name_in_two_pipes_resolves_by_full_name_only() -> None:
    base = load_p4info(TOFINO2_P4INFO).p4info
    msg = _second_pipe(base, "pipe.DyscoIngress.tcp_len", "pipe_x.DyscoIngress_3.tcp_len")
    index = P4InfoIndex(msg)  # type: ignore[arg-type]
    assert index.pipes == ("pipe", "pipe_x")
    assert contract_mismatches(index) == []
    with pytest.raises(P4InfoError, match=r"two pipes .*use its full name"):
        index.table("DyscoIngress.tcp_len")
    assert index.table("pipe_x.DyscoIngress_3.tcp_len").name == "pipe_x.DyscoIngress_3.tcp_len"
    assert index.table("pipe.DyscoIngress.tcp_len").name == "pipe.DyscoIngress.tcp_len"


def test_daemon_of_the_committed_folded_build(tmp_path: Path) -> None:
    """The daemon of a folded build pushes Stratum's form with one profile per pipeline and
    maps the P4Info of both pipes onto the contract (no connection is made)."""
    from controller.daemon import Daemon

    d = committed_build("tofino")
    if len(build_pipelines(d)) < 2:
        pytest.skip("p4src/build/tofino is a one-pipeline build")
    text = config_text(d).replace(
        "control:\n", f"management: {{socket: {tmp_path / 'm.sock'}}}\ncontrol:\n", 1
    )
    cfg = parse_config(text, filename=str(tmp_path / "t.yaml"))
    daemon = Daemon(cfg, management=False, checkpoint_path=tmp_path / "state.sqlite")
    assert daemon.client.device_config == stratum_device_config(TofinoBuild.load(d, "tofino"))
    assert sorted(daemon.p4info.pipes) == sorted(n for n, _s in build_pipelines(d))
    assert contract_mismatches(daemon.p4info) == []
