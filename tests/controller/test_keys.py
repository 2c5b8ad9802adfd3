"""The control key and where it is kept (docs/controller.md, Key handling): weak keys, key files
readable by others or owned by another user, and inline keys in world-readable configs are
refused; doubtful cases are warned about."""

from __future__ import annotations

import logging
import os
import random
import secrets
from pathlib import Path

import pytest

from controller.config import ConfigError, load_config, parse_config
from tests.controller_support import write_p4info


def _doc(p4info: Path, control: str) -> str:
    return (
        "device: {name: sw1, address: 127.0.0.1:9559, p4info: " + str(p4info) + "}\n"
        "ports: {hosts: [{name: h, port: 1, address: 10.0.0.1, mac: '02:00:00:00:00:01'}],"
        " network: {port: 2, mac: '02:00:00:00:00:02'}}\n"
        f"control: {{listen: 127.0.0.1:0, {control}}}\n"
    )


@pytest.mark.parametrize(
    "key",
    [
        "00" * 16,  # all zero
        "ff" * 32,
        "00112233445566778899aabbccddeeff",  # the test suite's former fixed key
        bytes(range(16)).hex(),
        "deadbeef" * 4,
        "abcd" * 8,
        "0101020201010202" * 2,  # 2 distinct values (period 4)
        "000102" * 6,  # 3-byte pattern
        ("0a0b0c" * 6)[:32],
    ],
)
def test_weak_keys_are_refused(tmp_path: Path, key: str) -> None:
    p4info = write_p4info(tmp_path / "p.txtpb")
    with pytest.raises(ConfigError, match="refused") as e:
        parse_config(_doc(p4info, f"key: '{key}'"))
    assert e.value.field == "control.key"


def test_random_keys_pass_and_doubtful_ones_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p4info = write_p4info(tmp_path / "p.txtpb")
    for _ in range(50):
        key = secrets.token_hex(16)
        assert parse_config(_doc(p4info, f"key: '{key}'")).control.key.hex() == key
    assert not caplog.records
    rng = random.Random(1)
    doubtful = bytes(rng.choice(b"\x10\x32\x54\x76\x98") for _ in range(16))
    assert len(set(doubtful)) >= 4
    caplog.set_level(logging.WARNING, logger="controller.config")
    parse_config(_doc(p4info, f"key: '{doubtful.hex()}'"))
    assert any("distinct byte values" in r.getMessage() for r in caplog.records)


MODES = [(0o600, True), (0o400, True), (0o640, False), (0o644, False), (0o666, False)]


@pytest.mark.parametrize(("mode", "ok"), [*MODES, (0o620, False)])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int, ok: bool) -> None:
    p4info = write_p4info(tmp_path / "p.txtpb")
    kf = tmp_path / "key.hex"
    kf.write_text(secrets.token_hex(32) + "\n")
    kf.chmod(mode)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_doc(p4info, f"key_file: {kf}"))  # no inline key: the config may be 0644
    if ok:
        assert len(load_config(cfg).control.key) == 32
    else:
        with pytest.raises(ConfigError, match="readable or writable by others"):
            load_config(cfg)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_key_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    p4info = write_p4info(tmp_path / "p.txtpb")
    kf = tmp_path / "key.hex"
    kf.write_text(secrets.token_hex(32) + "\n")
    kf.chmod(0o600)
    os.chown(kf, 65534, 65534)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_doc(p4info, f"key_file: {kf}"))
    with pytest.raises(ConfigError, match="owned by another user"):
        load_config(cfg)


def test_inline_key_in_a_world_readable_config_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p4info = write_p4info(tmp_path / "p.txtpb")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_doc(p4info, f"key: '{secrets.token_hex(16)}'"))
    cfg.chmod(0o644)
    with pytest.raises(ConfigError, match="world-readable"):
        load_config(cfg)
    caplog.set_level(logging.WARNING, logger="controller.config")
    cfg.chmod(0o640)
    load_config(cfg)
    assert any("group-readable" in r.getMessage() for r in caplog.records)
    caplog.clear()
    cfg.chmod(0o600)
    load_config(cfg)
    assert not caplog.records
