"""Shared fixtures of the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spin_builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build directory for the tests that run a verifier another test also runs.

    ``verify.build`` reuses a work directory's ``pan`` only when its inputs (model texts,
    spin and gcc flags) hash the same, so a test finding the verifier already there runs
    exactly the verifier it would have compiled; only the compile (most of such a test's
    time) is shared."""
    return tmp_path_factory.mktemp("spin")
