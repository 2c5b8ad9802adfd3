"""Checks on the control-channel key and on where it is stored (``docs/controller.md``,
Security): clearly weak keys and key files readable by others are refused, doubtful cases
produce a warning.

Refused: a key whose bytes are all the same (16 zero bytes), a key that repeats a pattern of
at most 4 bytes, a key whose bytes step by a constant (``000102...``, ``00112233...``: the
kind of key printed in examples and test suites), a key with fewer than 4 distinct bytes; a
key file that is not a regular file, is readable or writable by group or others, or is owned
by another user (root excepted); an inline key in a configuration file that others can read.
Warned: a key with fewer distinct bytes than a random one would almost surely have, an
inline key in a group-readable configuration file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["config_file_problem", "key_file_problem", "weak_key_reason"]


def weak_key_reason(key: bytes) -> tuple[str | None, str | None]:
    """``(refusal, warning)`` for a key's value (each ``None`` when there is nothing to say)."""
    n = len(key)
    if n == 0:
        return "the key is empty", None
    if len(set(key)) == 1:
        return f"every byte of the key is 0x{key[0]:02x}", None
    for period in range(2, 5):
        if n > period and key == (key[:period] * (n // period + 1))[:n]:
            return f"the key repeats a {period}-byte pattern", None
    steps = {(key[i + 1] - key[i]) % 256 for i in range(n - 1)}
    if len(steps) == 1:
        return "the key's bytes step by a constant (an example or test key?)", None
    distinct = len(set(key))
    if distinct < 4:
        return f"the key has only {distinct} distinct byte values", None
    if distinct < max(4, n // 2):
        return None, f"the key has only {distinct} distinct byte values in {n}: is it random?"
    return None, None


def key_file_problem(path: Path) -> tuple[str | None, str | None]:
    """``(refusal, warning)`` for a key file's type, owner and mode (the file is followed if
    it is a symlink: its target is what must be private)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"cannot stat {path}: {e.strerror or e}", None
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file", None
    if st.st_uid not in (os.geteuid(), 0):
        return f"{path} is owned by another user (uid {st.st_uid})", None
    if st.st_mode & 0o066:
        return (
            f"{path} is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o}):"
            " chmod 600",
            None,
        )
    return None, None


def config_file_problem(path: Path) -> tuple[str | None, str | None]:
    """``(refusal, warning)`` for an inline key in the configuration file at ``path``."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o004:
        return (
            f"an inline key in a world-readable file (mode {mode:04o}): use key_file, or chmod o-r",
            None,
        )
    if mode & 0o040:
        return None, f"an inline key in a group-readable file (mode {mode:04o})"
    return None, None
