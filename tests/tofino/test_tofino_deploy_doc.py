"""The controller configurations in docs/deploy-tofino.md are complete and valid: each ```yaml
block is written to a file beside a key file and validated by ``load_config``, against a
build of the shape it names (one pipeline, or the pipelines of its per-pipeline
``pipe_scope``) and against the committed build of its chip."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import pytest
import yaml

from controller.config import load_config
from controller.p4rt.tofino import CHIPS
from tests.tofino import committed_build

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy-tofino.md"


def examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 2, "docs/deploy-tofino.md lost its configuration examples"
    return blocks


def write(tmp_path: Path, text: str) -> Path:
    key = tmp_path / "sw1.key"
    key.write_text(secrets.token_hex(32) + "\n")
    os.chmod(key, 0o600)
    cfg = tmp_path / "tof.yaml"
    cfg.write_text(text)
    os.chmod(cfg, 0o600)
    return cfg


def fake_build(tmp_path: Path, text: str) -> Path:
    """A build directory with what configuration needs: a P4Info and, for an example that
    gives ``pipe_scope`` per pipeline, a dysco.conf listing those pipelines."""
    d = tmp_path / "build"
    d.mkdir()
    (d / "dysco.p4info.txtpb").write_text("")
    scope = yaml.safe_load(text)["device"].get("pipe_scope")
    if isinstance(scope, dict):
        pipelines = [{"p4_pipeline_name": n, "pipe_scope": s} for n, s in scope.items()]
        conf = {"p4_devices": [{"p4_programs": [{"p4_pipelines": pipelines}]}]}
        (d / "dysco.conf").write_text(json.dumps(conf))
    return d


@pytest.mark.parametrize("index", [0, 1])
def test_example_validates_with_any_build(tmp_path: Path, index: int) -> None:
    text = examples()[index]
    build = fake_build(tmp_path, text)
    text = text.replace("  target: tofino\n", f"  target: tofino\n  build: {build}\n", 1)
    cfg = load_config(write(tmp_path, text))
    t = cfg.device.tofino
    assert t is not None and t.build == build
    assert cfg.device.cpu_port == CHIPS[t.chip].cpu_port
    assert cfg.device.p4info == build / "dysco.p4info.txtpb"


@pytest.mark.parametrize("index", [0, 1])
def test_example_validates_as_written(tmp_path: Path, index: int) -> None:
    text = examples()[index]
    chip = re.search(r"^  chip: (\S+)", text, flags=re.M)
    assert chip is not None
    committed_build(chip.group(1))
    cfg = load_config(write(tmp_path, text))
    assert cfg.device.target == "tofino"
