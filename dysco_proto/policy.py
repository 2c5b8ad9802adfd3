"""Dysco policies: which sessions get which service chain. First match wins.

An initiator's agent runs the policy table on the first SYN of a session; the first policy
whose predicate matches gives the chain of middleboxes. No match leaves the session alone.
The session's destination is not part of a policy's chain: the agent appends it.

Policies are written in YAML (``docs/policies.md`` has the full description)::

    names:                      # optional: name -> IPv4 address, usable in chains
      fw1: 198.18.3.1
    policies:                   # optional (absent or empty: no policies); first match wins
      - name: web               # required, unique
        match:                  # optional (absent: every TCP session)
          src: 198.18.1.0/24    # IPv4 prefix or address (= /32); optional
          dst: 198.18.2.10      # optional
          sport: 1024-65535     # port or "low-high" (0..65535); optional
          dport: 80             # optional
          proto: tcp            # tcp | udp | any | number 0..255; default tcp
        chain: [fw1, 198.18.3.2]  # required; names or IPv4 addresses; 0..15 entries

Rules: unknown keys are errors (so a typo'd field is never silently ignored); keys may not be
repeated; prefixes must not have host bits set; a chain element is an IPv4 address literal or
a name defined under ``names`` in the file or in the ``names`` argument (the file's
definitions take precedence); an empty chain is allowed (a Dysco session with no
middleboxes). An empty document is an empty policy list.

Every problem raises :class:`ConfigError` naming the file, the 1-based line and the field path
(``policies[2].match.dport``; list indices are 0-based), and nothing else is ever raised by
:func:`parse_policies` or :func:`load_policies`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dysco_proto.packet import TCP, UDP, FiveTuple

MAX_CHAIN = 15
"""Most middleboxes a policy's chain may name (the chain payload also carries the destination)."""

_PROTO_NAMES: dict[str, int | None] = {"tcp": TCP, "udp": UDP, "any": None}
_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_DIGITS_RE = re.compile(r"^\s*\d+\s*$")

_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


class ConfigError(ValueError):
    """A problem in a policy file, located by file, 1-based line (if known) and field path."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        super().__init__(file, line, field, message)
        self.file = file
        self.line = line
        self.field = field
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.field}: {self.message}"
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of ports ``low..high``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high <= 65535):
            raise ValueError(f"invalid port range {self.low}-{self.high}")

    def __contains__(self, port: int) -> bool:
        return self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Policy:
    """A predicate on a session's five-tuple and the chain of middleboxes it gets.

    ``None`` fields match anything; ``proto`` defaults to TCP. ``chain`` lists middlebox IPv4
    addresses in order, without the session's destination.
    """

    name: str
    chain: tuple[str, ...]
    src: ipaddress.IPv4Network | None = None
    dst: ipaddress.IPv4Network | None = None
    sport: PortRange | None = None
    dport: PortRange | None = None
    proto: int | None = TCP

    def __post_init__(self) -> None:
        if not isinstance(self.chain, tuple):
            object.__setattr__(self, "chain", tuple(self.chain))

    def matches(self, t: FiveTuple) -> bool:
        """Whether the session five-tuple ``t`` (as the initiator sent it) matches."""
        if self.proto is not None and t.proto != self.proto:
            return False
        if self.sport is not None and t.src_port not in self.sport:
            return False
        if self.dport is not None and t.dst_port not in self.dport:
            return False
        if self.src is not None and ipaddress.IPv4Address(t.src_ip) not in self.src:
            return False
        return self.dst is None or ipaddress.IPv4Address(t.dst_ip) in self.dst


class PolicyTable:
    """An ordered list of uniquely named policies; :meth:`match` returns the first match."""

    def __init__(self, policies: Iterable[Policy] = ()) -> None:
        """Build a table from ``policies`` in order (``ValueError`` on a duplicate name)."""
        self._policies: list[Policy] = []
        for p in policies:
            self.add(p)

    def match(self, t: FiveTuple) -> Policy | None:
        """The first policy that matches ``t``, or ``None``."""
        for p in self._policies:
            if p.matches(t):
                return p
        return None

    def add(self, policy: Policy, index: int | None = None) -> None:
        """Insert ``policy`` at ``index`` (``list.insert`` semantics) or append it.

        Raises :class:`ValueError` if a policy with the same name is already present.
        """
        if any(p.name == policy.name for p in self._policies):
            raise ValueError(f"duplicate policy name {policy.name!r}")
        if index is None:
            self._policies.append(policy)
        else:
            self._policies.insert(index, policy)

    def remove(self, name: str) -> Policy:
        """Remove and return the policy called ``name`` (``KeyError`` if absent)."""
        for i, p in enumerate(self._policies):
            if p.name == name:
                del self._policies[i]
                return p
        raise KeyError(name)

    def get(self, name: str) -> Policy | None:
        """The policy called ``name``, or ``None``."""
        for p in self._policies:
            if p.name == name:
                return p
        return None

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self._policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(list(self._policies))

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicyTable({self._policies!r})"


# --------------------------------------------------------------------------------------------
# YAML parsing


class _Parser:
    """Walks the composed YAML node graph, validating as it goes; raises on the first error."""

    def __init__(self, filename: str, names: Mapping[str, str] | None) -> None:
        self.filename = filename
        self.extra_names: Mapping[str, str] = names if names is not None else {}
        self.names: dict[str, str] = {}
        self.constructor = SafeConstructor()

    # -- helpers --------------------------------------------------------------------------

    def fail(self, node: Node | None, field: str, message: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None and node.start_mark else None
        raise ConfigError(self.filename, line, field, message)

    def scalar(self, node: Node, field: str) -> object:
        """The Python value of a scalar node (any YAML 1.1 type)."""
        if not isinstance(node, ScalarNode):
            self.fail(node, field, f"expected a scalar, got a {_kind(node)}")
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError) as e:
            self.fail(node, field, f"invalid value: {e}")

    def string(self, node: Node, field: str, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
            self.fail(node, field, f"expected {what}, got {_describe(node)}")
        value = str(node.value).strip()
        if not value:
            self.fail(node, field, f"expected {what}, got an empty string")
        return value

    def mapping(
        self,
        node: Node,
        field: str,
        allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> dict[str, tuple[Node, Node]]:
        """Check that ``node`` is a mapping with only ``allowed`` keys, no repeats, and every
        ``required`` key; return ``key -> (key node, value node)``."""
        if not isinstance(node, MappingNode):
            self.fail(node, field or "document", f"expected a mapping, got {_describe(node)}")
        out: dict[str, tuple[Node, Node]] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode):
                self.fail(knode, field or "document", f"keys must be strings, got a {_kind(knode)}")
            key = knode.value
            path = _join(field, key)
            if key not in allowed:
                self.fail(
                    knode,
                    path,
                    f"unknown key {key!r} (expected one of: {', '.join(allowed)})",
                )
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.fail(knode, path, f"duplicate key {key!r} (first given at line {first})")
            out[key] = (knode, vnode)
        for key in required:
            if key not in out:
                self.fail(node, _join(field, key), f"missing required key {key!r}")
        return out

    # -- sections -------------------------------------------------------------------------

    def document(self, root: Node | None) -> list[Policy]:
        if root is None:
            return []
        if isinstance(root, ScalarNode) and root.tag == _NULL_TAG:
            return []
        top = self.mapping(root, "", ("names", "policies"))
        if "names" in top:
            self.parse_names(top["names"][1])
        if "policies" not in top:
            return []
        pnode = top["policies"][1]
        if isinstance(pnode, ScalarNode) and pnode.tag == _NULL_TAG:
            return []
        if not isinstance(pnode, SequenceNode):
            self.fail(pnode, "policies", f"expected a list of policies, got {_describe(pnode)}")
        policies: list[Policy] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(pnode.value):
            policy, name_node = self.parse_policy(item, f"policies[{i}]")
            if policy.name in seen:
                self.fail(
                    name_node,
                    f"policies[{i}].name",
                    f"duplicate policy name {policy.name!r} (first defined at line "
                    f"{seen[policy.name]})",
                )
            seen[policy.name] = name_node.start_mark.line + 1
            policies.append(policy)
        return policies

    def parse_names(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return
        if not isinstance(node, MappingNode):
            self.fail(
                node, "names", f"expected a mapping of name to address, got {_describe(node)}"
            )
        first_line: dict[str, int] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode) or knode.tag != _STR_TAG or not knode.value:
                self.fail(
                    knode, "names", f"a name must be a non-empty string, got {_describe(knode)}"
                )
            name = knode.value
            path = f"names.{name}"
            if name in first_line:
                self.fail(
                    knode,
                    path,
                    f"duplicate name {name!r} (first defined at line {first_line[name]})",
                )
            if _is_ipv4(name):
                self.fail(knode, path, "a name must not be an IPv4 address")
            text = self.string(vnode, path, "an IPv4 address")
            try:
                addr = ipaddress.IPv4Address(text)
            except ValueError:
                self.fail(vnode, path, f"not an IPv4 address: {text!r}")
            first_line[name] = knode.start_mark.line + 1
            self.names[name] = str(addr)

    def parse_policy(self, node: Node, path: str) -> tuple[Policy, Node]:
        fields = self.mapping(node, path, ("name", "match", "chain"), required=("name", "chain"))
        name_node = fields["name"][1]
        name = self.parse_name(name_node, f"{path}.name")
        chain = self.parse_chain(fields["chain"][1], f"{path}.chain")
        src = dst = None
        sport = dport = None
        proto: int | None = TCP
        if "match" in fields:
            mpath = f"{path}.match"
            mnode = fields["match"][1]
            if isinstance(mnode, ScalarNode) and mnode.tag == _NULL_TAG:
                m: dict[str, tuple[Node, Node]] = {}
            else:
                m = self.mapping(mnode, mpath, ("src", "dst", "sport", "dport", "proto"))
            if "src" in m:
                src = self.parse_prefix(m["src"][1], f"{mpath}.src")
            if "dst" in m:
                dst = self.parse_prefix(m["dst"][1], f"{mpath}.dst")
            if "sport" in m:
                sport = self.parse_ports(m["sport"][1], f"{mpath}.sport")
            if "dport" in m:
                dport = self.parse_ports(m["dport"][1], f"{mpath}.dport")
            if "proto" in m:
                proto = self.parse_proto(m["proto"][1], f"{mpath}.proto")
        policy = Policy(
            name=name, chain=chain, src=src, dst=dst, sport=sport, dport=dport, proto=proto
        )
        return policy, name_node

    def parse_name(self, node: Node, path: str) -> str:
        if isinstance(node, ScalarNode) and node.tag in (_STR_TAG, _INT_TAG):
            value = str(node.value).strip()
            if value:
                return value
        self.fail(node, path, f"expected a non-empty string, got {_describe(node)}")

    def parse_prefix(self, node: Node, path: str) -> ipaddress.IPv4Network:
        text = self.string(node, path, "an IPv4 prefix or address")
        try:
            return ipaddress.IPv4Network(text, strict=True)
        except ValueError as e:
            self.fail(node, path, f"invalid IPv4 prefix {text!r}: {e}")

    def parse_ports(self, node: Node, path: str) -> PortRange:
        if isinstance(node, ScalarNode) and node.tag == _INT_TAG:
            value = self.scalar(node, path)
            assert isinstance(value, int)
            low = high = value
        elif isinstance(node, ScalarNode) and node.tag == _STR_TAG:
            text = node.value
            rm = _RANGE_RE.match(text)
            if rm:
                low, high = int(rm.group(1)), int(rm.group(2))
            elif _DIGITS_RE.match(text):
                low = high = int(text)
            else:
                self.fail(node, path, f"expected a port or a range 'low-high', got {text!r}")
        else:
            self.fail(node, path, f"expected a port or a range 'low-high', got {_describe(node)}")
        for p in (low, high):
            if not 0 <= p <= 65535:
                self.fail(node, path, f"port {p} out of range 0..65535")
        if low > high:
            self.fail(node, path, f"empty port range {low}-{high} (low > high)")
        return PortRange(low, high)

    def parse_proto(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode) and node.tag == _INT_TAG:
            value = self.scalar(node, path)
            assert isinstance(value, int)
            if not 0 <= value <= 255:
                self.fail(node, path, f"protocol number {value} out of range 0..255")
            return value
        if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
            key = node.value.strip().lower()
            if key in _PROTO_NAMES:
                return _PROTO_NAMES[key]
            if _DIGITS_RE.match(key):
                return self.parse_proto(
                    ScalarNode(_INT_TAG, key, node.start_mark, node.end_mark), path
                )
            self.fail(
                node, path, f"unknown protocol {node.value!r} (expected tcp, udp, any or 0..255)"
            )
        self.fail(node, path, f"expected tcp, udp, any or a number, got {_describe(node)}")

    def parse_chain(self, node: Node, path: str) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, f"expected a list of names or addresses, got {_describe(node)}")
        if len(node.value) > MAX_CHAIN:
            self.fail(
                node,
                path,
                f"chain has {len(node.value)} middleboxes; at most {MAX_CHAIN} are supported",
            )
        out: list[str] = []
        for j, item in enumerate(node.value):
            epath = f"{path}[{j}]"
            text = self.string(item, epath, "a name or an IPv4 address")
            out.append(self.resolve(item, epath, text))
        return tuple(out)

    def resolve(self, node: Node, path: str, text: str) -> str:
        if _is_ipv4(text):
            return str(ipaddress.IPv4Address(text))
        if text in self.names:
            return self.names[text]
        if text in self.extra_names:
            addr = self.extra_names[text]
            if not isinstance(addr, str) or not _is_ipv4(addr):
                self.fail(node, path, f"name {text!r} maps to {addr!r}, not an IPv4 address")
            return str(ipaddress.IPv4Address(addr))
        self.fail(node, path, f"unknown name {text!r} (not an IPv4 address nor a defined name)")


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "scalar"


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode):
        if node.tag == _NULL_TAG:
            return "nothing (null)"
        kind = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org") else node.tag
        return f"{kind} {node.value!r}"
    return f"a {_kind(node)}"


#: the largest configuration or policy document accepted (bytes)
MAX_DOCUMENT_BYTES = 1 << 20
#: the deepest nesting of mappings and lists accepted in a document
MAX_DOCUMENT_DEPTH = 64


def check_document(text: str, filename: str = "<string>") -> None:
    """Refuse a YAML document that is too large or nested too deeply, with a
    :class:`ConfigError` naming the file and the line, before it is composed (composing
    recurses once per level; this scan does not). Syntax errors are left to the composer."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError(filename, None, "file", f"larger than {MAX_DOCUMENT_BYTES} bytes")
    depth = 0
    events = yaml.parse(text, Loader=yaml.SafeLoader)
    while True:
        try:
            ev = next(events)
        except StopIteration:
            return
        except (yaml.YAMLError, ValueError, TypeError):
            return  # a syntax error: reported with its line by the composer
        if isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DOCUMENT_DEPTH:
                line = ev.start_mark.line + 1 if ev.start_mark is not None else None
                raise ConfigError(
                    filename, line, "yaml", f"nested deeper than {MAX_DOCUMENT_DEPTH} levels"
                )
        elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def read_document(path: str | os.PathLike[str]) -> str:
    """The text of a configuration or policy file: a regular file (opened without blocking,
    so a FIFO is refused rather than waited on), UTF-8, at most :data:`MAX_DOCUMENT_BYTES`."""
    filename = os.fspath(path)
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(filename, None, "file", e.strerror or str(e)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        os.close(fd)
        raise ConfigError(
            filename, None, "file", "Is a directory" if is_dir else "not a regular file"
        )
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as e:
            raise ConfigError(filename, None, "file", e.strerror or str(e)) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError(filename, None, "file", f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(filename, None, "file", f"not valid UTF-8: {e.reason}") from None


def parse_policies(
    text: str, *, filename: str = "<string>", names: Mapping[str, str] | None = None
) -> list[Policy]:
    """Parse a policy document (see the module docstring for the schema).

    ``names`` supplies name -> IPv4 address definitions usable in chains in addition to the
    document's own ``names`` section (which takes precedence). Raises :class:`ConfigError`
    (and nothing else) on any problem, with ``filename``, the 1-based line and the field path.
    """
    check_document(text, filename)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        parts = [p for p in (e.context, e.problem) if p]
        raise ConfigError(filename, line, "yaml", "; ".join(parts) or "syntax error") from None
    except yaml.YAMLError as e:
        raise ConfigError(filename, None, "yaml", str(e)) from None
    except (ValueError, TypeError) as e:  # e.g. a non-string input
        raise ConfigError(filename, None, "yaml", str(e)) from None
    try:
        return _Parser(filename, names).document(root)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(filename, None, "document", "structure nested too deeply") from None


def load_policies(
    path: str | os.PathLike[str], *, names: Mapping[str, str] | None = None
) -> list[Policy]:
    """Read and parse the policy file at ``path`` (see :func:`parse_policies`).

    An unreadable file (missing, a directory, not UTF-8) is a :class:`ConfigError` too.
    """
    filename = os.fspath(path)
    return parse_policies(read_document(filename), filename=filename, names=names)
