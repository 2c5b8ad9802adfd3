"""Configuration and policy documents: deep nesting is a ConfigError naming the file and the
line (not a RecursionError), oversized files and FIFOs are refused (docs/controller.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.config import load_config, parse_config
from dysco_proto.policy import (
    MAX_DOCUMENT_BYTES,
    ConfigError,
    load_policies,
    parse_policies,
)

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_MAP = "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n"


@pytest.mark.parametrize("nested", [DEEP, "{a: " * 5000 + "1" + "}" * 5000])
def test_deeply_nested_config_is_a_config_error_with_its_line(tmp_path: Path, nested: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("device:\n  name: sw1\nextra:\n  x: " + nested + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert f"{path}:4:" in str(e.value) and "nested deeper" in str(e.value)
    with pytest.raises(ConfigError, match="nested deeper"):
        parse_config("a: " + nested)


def test_deep_block_mapping_policies_and_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nested deeper") as e:
        parse_policies(DEEP_MAP, filename="p.yaml")
    assert "p.yaml:" in str(e.value)
    path = tmp_path / "policies.yaml"
    path.write_text("policies:\n  - " + DEEP + "\n")
    with pytest.raises(ConfigError) as e2:
        load_policies(path)
    assert f"{path}:2:" in str(e2.value)


def test_oversized_and_non_regular_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (MAX_DOCUMENT_BYTES // 10 + 1))
    for load in (load_config, load_policies):
        with pytest.raises(ConfigError, match="larger than"):
            load(big)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # nobody writes: a blocking open would hang
    for load in (load_config, load_policies):
        with pytest.raises(ConfigError, match="not a regular file"):
            load(fifo)
    with pytest.raises(ConfigError, match="larger than"):
        parse_policies("#" * (MAX_DOCUMENT_BYTES + 1))
