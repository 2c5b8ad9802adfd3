"""Shared by the Tofino tests: the committed builds and the compiler, with one-line skips.

The committed outputs (``p4src/build/<chip>/``) are all the resource, packaging and P4Info
tests need, so those run everywhere; only the freshness tests compile. The compiler is the
one ``p4src/tofino_build.sh --which`` picks (``BF_P4C``, ``DYSCO_BF_P4C``,
``$P4TOOLS/bin/bf-p4c``, ``bf-p4c`` on the PATH, ``/opt/p4tools/bin/bf-p4c``), so the tests
and ``make -C p4src tofino`` use the same one.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
P4SRC = ROOT / "p4src"
BUILD = P4SRC / "build"
CHIPS = ("tofino", "tofino2")
NOT_FITTED = (
    "no committed Tofino outputs for {chip} (p4src/build/{chip}/COMPILER missing: "
    "make -C p4src tofino)"
)


def fitted(chip: str) -> bool:
    """Whether ``chip`` has committed outputs (``COMPILER`` is written last)."""
    return (BUILD / chip / "COMPILER").is_file()


def committed_build(chip: str) -> Path:
    """The committed build directory of ``chip``, or skip with one line."""
    if not fitted(chip):
        pytest.skip(NOT_FITTED.format(chip=chip))
    return BUILD / chip


def _build_script(*args: str, compiler: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BF_P4C=compiler) if compiler else None
    return subprocess.run(
        ["./tofino_build.sh", *args],
        cwd=P4SRC,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@functools.cache
def bf_p4c() -> str | None:
    """The bf-p4c ``tofino_build.sh`` would use, or None when there is none."""
    r = _build_script("--which")
    return r.stdout.strip() if r.returncode == 0 else None


@functools.cache
def compiler_problem(chip: str, compiler: str | None = None) -> str | None:
    """Why ``compiler`` (default: :func:`bf_p4c`) cannot reproduce a committed build of
    ``chip``, in one line, or None.

    ``tofino_build.sh --check`` compiles a two-state parser (seconds): a bf-p4c without
    p4lang/p4c#5753 (the prebuilt one of p4c 34b86e9) drops its select."""
    found = compiler or bf_p4c()
    if found is None:
        return "bf-p4c (p4c's Tofino backend) is not installed"
    r = _build_script("--check", chip, compiler=found)
    if r.returncode == 0:
        return None
    if r.returncode == 4:
        return (
            f"{found} lacks p4lang/p4c#5753 (parser selects dropped, p4lang/p4c#5752), so it "
            "cannot reproduce the committed build: set DYSCO_BF_P4C or P4TOOLS to a bf-p4c "
            "built by tools/p4tools/build.sh"
        )
    return f"{found} --check {chip} failed (exit {r.returncode}): {r.stderr.strip()[-200:]}"


def assert_config_error(text: str, line: int, field: str, words: str) -> None:
    """Parsing ``text`` (as ``t.yaml``) fails with one line naming ``line``, ``field`` and
    ``words``."""
    from controller.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as e:
        parse_config(text, filename="t.yaml")
    msg = str(e.value)
    assert msg.startswith(f"t.yaml:{line}:"), msg
    assert field in msg and words in msg, msg
    assert "\n" not in msg
