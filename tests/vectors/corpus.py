"""Load the pipeline vector corpus and run its cases (shared by unit and bmv2 tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dysco_pipeline import pipeline as pl

VECTORS = Path(__file__).with_name("pipeline_vectors.json")


@dataclass(frozen=True)
class Step:
    note: str
    ingress_port: int
    packet: bytes  # the frame as it enters the pipeline (packet-out header included)
    payload: bytes  # for packet-outs: the frame after the header
    packet_out: dict[str, int] | None
    outputs: list[tuple[int, bytes]]
    packet_ins: list[tuple[dict[str, int], bytes]]
    drop: str | None  # the reference model's drop reason (not observable on a switch)


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    entries: list[dict[str, Any]]
    steps: list[Step]
    bad_checksum_input: bool
    min_slots: int = 0  # register cells a target needs (cases with slots above 65,535)


def load(path: Path = VECTORS) -> list[Case]:
    data = json.loads(path.read_text())
    return [_case(c) for c in data["cases"]]


def _case(c: dict[str, Any]) -> Case:
    steps = []
    for s in c["steps"]:
        po = s.get("packet_out")
        if po is not None:
            payload = bytes.fromhex(s["payload"])
            frame = pl.encode_packet_out(po) + payload
        else:
            payload = frame = bytes.fromhex(s["packet"])
        exp = s["expect"]
        steps.append(
            Step(
                note=s.get("note", ""),
                ingress_port=s["ingress_port"],
                packet=frame,
                payload=payload,
                packet_out=po,
                outputs=[(o["port"], bytes.fromhex(o["packet"])) for o in exp["outputs"]],
                packet_ins=[
                    (dict(p["metadata"]), bytes.fromhex(p["payload"])) for p in exp["packet_ins"]
                ],
                drop=exp.get("drop"),
            )
        )
    return Case(
        c["name"],
        c["description"],
        c["entries"],
        steps,
        bool(c.get("bad_checksum_input")),
        int(c.get("min_slots", 0)),
    )


def table_entries(case: Case) -> Iterator[pl.TableEntry]:
    for e in case.entries:
        yield pl.TableEntry.build(e["table"], e["match"], e["action"], e["params"])
