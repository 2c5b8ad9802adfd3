"""A second daemon on the same configuration stops before touching anything: the running
daemon keeps its management socket, token and state store (docs/controller.md, Security)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.config import load_config
from controller.daemon import Daemon
from controller.mgmt import MgmtClient
from tests.controller_support import one_box_device


def test_second_agent_on_the_same_config_leaves_the_first_alone(tmp_path: Path) -> None:
    _backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)

    async def main() -> None:
        first = Daemon(cfg)
        await first.start(connect_timeout=5)
        try:
            m = cfg.management
            token = m.token_file.read_text()
            store = first.checkpoint_path.stat().st_ino
            second = Daemon(cfg)
            with pytest.raises(OSError, match="another dysco agent runs"):
                await second.start(connect_timeout=5)
            assert m.socket.exists() and m.token_file.read_text() == token
            assert first.checkpoint_path.stat().st_ino == store
            st = await asyncio.to_thread(
                MgmtClient.from_files(m.socket, m.token_file).call, "status"
            )
            assert st["device"] == cfg.device.name
        finally:
            await first.stop()
        # once the first is gone, a new one starts
        third = Daemon(cfg)
        await third.start(connect_timeout=5)
        await third.stop()
        srv.stop()

    asyncio.run(main())
