"""Fixtures shared by the controller tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dysco_targets.server import P4RuntimeServer
from tests.controller_support import TableBackend, contract_p4info


@pytest.fixture
def server() -> Iterator[tuple[P4RuntimeServer, TableBackend]]:
    """The project's P4Runtime server on a loopback port over an in-memory table backend,
    checking the pipeline contract's P4Info; stopped after the test."""
    backend = TableBackend()
    srv = P4RuntimeServer(backend, "127.0.0.1:0", contract=contract_p4info()).start()
    yield srv, backend
    srv.stop()
