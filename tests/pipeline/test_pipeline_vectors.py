"""The reference model passes every vector of the corpus (tests/vectors/)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from dysco_pipeline import pipeline as pl
from dysco_pipeline.checksum import internet_checksum, tcp_checksum
from dysco_pipeline.refmodel import PipelineState, TableState, process
from tests.vectors import corpus, gen_vectors

CASES = corpus.load()


def test_corpus_is_fresh() -> None:
    """The committed JSON equals a fresh run of gen_vectors.py."""
    assert corpus.VECTORS.read_text() == gen_vectors.render()


def test_corpus_size() -> None:
    assert len(CASES) >= 40


def _describe(port: int, frame: bytes) -> str:
    return f"port {port}: {frame.hex()}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model_passes_vector(case: corpus.Case) -> None:
    state = PipelineState(TableState(corpus.table_entries(case)))
    for i, step in enumerate(case.steps):
        res = process(state, step.packet, step.ingress_port)
        state.registers = res.registers
        where = f"{case.name} step {i} ({step.note})"
        assert sorted(res.outputs) == sorted(step.outputs), (
            f"{where}: outputs {[_describe(*o) for o in res.outputs]} (dropped={res.dropped})"
        )
        got = [(dict(p.metadata), p.payload) for p in res.packet_ins]
        assert got == step.packet_ins, f"{where}: packet-ins"
        assert res.dropped == step.drop, f"{where}: drop reason"


def _check_frame(frame: bytes) -> None:
    """Full recompute of the IPv4 header and TCP checksums of a frame (if it has them)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return
    assert internet_checksum(frame[14:34]) == 0, "IPv4 header checksum"
    total_len = struct.unpack_from("!H", frame, 16)[0]
    frag = struct.unpack_from("!H", frame, 20)[0]
    if frame[23] == 6 and frag & 0x3FFF == 0:
        src = str(ipaddress.IPv4Address(frame[26:30]))
        dst = str(ipaddress.IPv4Address(frame[30:34]))
        assert tcp_checksum(src, dst, frame[34 : 14 + total_len]) == 0, "TCP checksum"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_vector_checksums(case: corpus.Case) -> None:
    """Every expected frame (and every input, unless the case is about a bad checksum) has
    correct IPv4 and TCP checksums by a full recompute."""
    for step in case.steps:
        for _, frame in step.outputs:
            _check_frame(frame)
        for _, payload in step.packet_ins:
            if not case.bad_checksum_input:
                _check_frame(payload)
        wellformed = not case.bad_checksum_input and step.packet_out is None
        if wellformed and (step.outputs or step.packet_ins):
            _check_frame(step.packet)


def test_model_does_not_mutate_state() -> None:
    case = next(c for c in CASES if c.name == "latch_own_cutoff_acked")
    state = PipelineState(TableState(corpus.table_entries(case)))
    before = dict(state.registers)
    process(state, case.steps[0].packet, case.steps[0].ingress_port)
    assert state.registers == before


def test_packet_in_roundtrip() -> None:
    meta = {name: (i * 37) % 200 for i, (name, _) in enumerate(pl.PACKET_IN_FIELDS)}
    data = pl.encode_packet_in(meta) + b"rest"
    assert len(data) == pl.PACKET_IN_LEN + 4
    assert pl.decode_packet_in(data) == (meta, b"rest")
