"""Management API hardening (docs/controller.md, Security): connection cap, idle timeout,
malformed requests answered ``bad_request`` without a traceback (and nothing run before the
token check), token file written and read without following symlinks, token file beside the
socket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from controller.config import ConfigError, parse_config
from controller.mgmt import MgmtClient, MgmtError, MgmtServer, Unreachable
from tests.controller_support import write_p4info


class _Api:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, method: str, params: dict[str, Any], progress: Any) -> Any:
        self.calls.append((method, params))
        if method == "typed":
            return float(params["timeout"])  # a handler that trusts its parameter's type
        return {"method": method}


async def _server(tmp: Path, **kw: Any) -> tuple[MgmtServer, _Api]:
    api = _Api()
    srv = MgmtServer(tmp / "m.sock", tmp / "m.token", api, **kw)
    await srv.start()
    return srv, api


async def _ask(tmp: Path, line: bytes) -> dict[str, Any]:
    r, w = await asyncio.open_unix_connection(str(tmp / "m.sock"), limit=1 << 21)
    w.write(line + b"\n")
    await w.drain()
    got = await r.readline()
    w.close()
    return json.loads(got)  # type: ignore[no-any-return]


def test_connection_cap_and_idle_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        srv, _api = await _server(tmp_path, max_connections=4, idle_timeout=0.5)
        try:
            silent = [
                await asyncio.open_unix_connection(str(tmp_path / "m.sock")) for _ in range(4)
            ]
            await asyncio.sleep(0.05)
            # beyond the cap: one "busy" line and the connection is closed
            for _ in range(20):
                r, w = await asyncio.open_unix_connection(str(tmp_path / "m.sock"))
                line = await asyncio.wait_for(r.readline(), 5)
                assert json.loads(line)["error"]["code"] == "busy"
                assert await asyncio.wait_for(r.read(), 5) == b""
                w.close()
            assert srv.refused_busy == 20
            # the silent ones are closed by the server once idle
            for r, _w in silent:
                assert await asyncio.wait_for(r.read(), 10) == b""
            assert srv.idle_closed == 4
            # and the API answers again
            token = (tmp_path / "m.token").read_text().strip()
            req = {"id": 1, "token": token, "method": "status"}
            got = await _ask(tmp_path, json.dumps(req).encode())
            assert got["ok"] and got["result"] == {"method": "status"}
        finally:
            await srv.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("name", "line", "code"),
    [
        ("invalid utf-8", b'{"id": 1, "token": "\xff\xfe", "method": "status"}', "bad_request"),
        (
            "deep nesting",
            b'{"id": 1, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
            "bad_request",
        ),
        ("deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, "bad_request"),
        ("huge integer", b'{"id": ' + b"9" * 5000 + b', "method": "status"}', "bad_request"),
        ("nan", b'{"id": NaN, "method": "status"}', "bad_request"),
        ("not an object", b"[1, 2, 3]", "bad_request"),
        ("not json", b"{nope", "bad_request"),
        ("non-ascii token", '{"id": 1, "token": "é", "method": "status"}'.encode(), "unauthorized"),
        ("no token", b'{"id": 1, "method": "status"}', "unauthorized"),
    ],
)
def test_malformed_requests_get_a_clean_error_before_any_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, line: bytes, code: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.mgmt")

    async def main() -> None:
        srv, api = await _server(tmp_path)
        try:
            got = await _ask(tmp_path, line)
            assert got["ok"] is False and got["error"]["code"] == code, (name, got)
            assert api.calls == []  # nothing ran before the token check
        finally:
            await srv.close()

    asyncio.run(main())
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_wrongly_typed_parameter_after_the_token_is_a_bad_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.mgmt")

    async def main() -> None:
        srv, _api = await _server(tmp_path)
        try:
            token = (tmp_path / "m.token").read_text().strip()
            req = {"id": 2, "token": token, "method": "typed", "params": {"timeout": "soon"}}
            got = await _ask(tmp_path, json.dumps(req).encode())
            assert got["error"]["code"] == "bad_request", got
        finally:
            await srv.close()

    asyncio.run(main())
    assert not [r for r in caplog.records if r.exc_info]


def test_token_file_is_never_written_or_read_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "m.token")

    async def main() -> None:
        srv, _api = await _server(tmp_path)
        try:
            token = tmp_path / "m.token"
            assert not token.is_symlink() and token.stat().st_mode & 0o777 == 0o600
            assert victim.read_text() == "precious\n"
        finally:
            await srv.close()

    asyncio.run(main())
    # a client does not read a token through a symlink either
    os.symlink(victim, tmp_path / "other.token")
    with pytest.raises(Unreachable):
        MgmtClient.from_files(tmp_path / "m.sock", tmp_path / "other.token")


def test_token_file_must_sit_beside_the_socket(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()

    async def main() -> None:
        srv = MgmtServer(tmp_path / "a" / "m.sock", tmp_path / "m.token", _Api())
        with pytest.raises(MgmtError, match="socket's directory"):
            await srv.start()
        assert not (tmp_path / "m.token").exists()

    asyncio.run(main())
    p4info = write_p4info(tmp_path / "p.txtpb")
    base = (
        f"device: {{name: sw1, address: 127.0.0.1:9559, p4info: {p4info}}}\n"
        "ports: {hosts: [{name: h, port: 1, address: 10.0.0.1, mac: '02:00:00:00:00:01'}],"
        " network: {port: 2, mac: '02:00:00:00:00:02'}}\n"
        f"control: {{listen: 127.0.0.1:0, key: {os.urandom(16).hex()}}}\n"
    )
    with pytest.raises(ConfigError, match="socket's directory") as e:
        parse_config(
            base + "management: {socket: /run/dysco/sw1.sock, token_file: /tmp/sw1.token}\n"
        )
    assert "line 4" in str(e.value) or ":4" in str(e.value)
