"""The errors of the wire formats (:mod:`dysco_proto.wire`, :mod:`dysco_proto.tcp_options`).

Every rejection of a decoder or encoder is a :class:`WireError` subclass with a short,
machine-readable ``code``.
"""

from __future__ import annotations


class WireError(ValueError):
    """Base of every decoding/encoding rejection. ``code`` is short and machine-readable."""

    code: str = "wire"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.code)
        if code is not None:
            self.code = code


class TruncatedError(WireError):
    """Fewer bytes than the format (or a length/count field) requires."""

    code = "truncated"


class MalformedError(WireError):
    """A field is out of range, reserved bits are set, or lengths are inconsistent."""

    code = "malformed"


class OversizedError(WireError):
    """The input (or a count in it) exceeds a hard limit."""

    code = "oversized"


class BadMagicError(WireError):
    """The first two bytes are not :data:`MAGIC`: not a Dysco message."""

    code = "bad_magic"


class UnsupportedVersionError(WireError):
    """A Dysco message of a version this codec does not speak."""

    code = "bad_version"


class AuthError(WireError):
    """The HMAC tag does not verify (wrong key or altered message)."""

    code = "auth"


class ReplayError(WireError):
    """The message id was already seen from this sender, or is older than the window."""

    code = "replay"


class OptionSpaceError(WireError):
    """TCP options would not fit in the 40 bytes of option space."""

    code = "option_space"


def uint_field(value: object, limit: int, what: str) -> int:
    """``value`` if it is an int in ``[0, limit]`` (not a bool), else :class:`MalformedError`."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise MalformedError(f"{what} out of range: {value!r}", code="out_of_range")
    return value
