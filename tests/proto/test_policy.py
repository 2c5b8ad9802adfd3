"""Tests for dysco_proto.policy: YAML policies, validation errors, first-match semantics."""

from __future__ import annotations

import contextlib
import ipaddress
import pickle
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_proto.packet import TCP, UDP, FiveTuple
from dysco_proto.policy import (
    MAX_CHAIN,
    ConfigError,
    Policy,
    PolicyTable,
    PortRange,
    load_policies,
    parse_policies,
)

FILE = "pol.yaml"

EXAMPLE = """\
names:            # optional: name -> IPv4 address, usable in chains
  fw1: 198.18.3.1
policies:
  - name: web
    match:
      src: 198.18.1.0/24      # IPv4 prefix or address; optional
      dst: 198.18.2.10        # optional
      sport: 1024-65535       # int or "low-high"; optional
      dport: 80               # optional
      proto: tcp              # tcp | udp | number; default tcp
    chain: [fw1, 198.18.3.2]  # names or IPv4 addresses
"""


def parse(text: str, **kw: object) -> list[Policy]:
    return parse_policies(textwrap.dedent(text), filename=FILE, **kw)  # type: ignore[arg-type]


def err(text: str, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, **kw)
    e = info.value
    assert e.file == FILE
    assert str(e).startswith(f"{FILE}:")
    return e


def where(e: ConfigError) -> tuple[int | None, str]:
    return e.line, e.field


# ---- valid documents ---------------------------------------------------------------------


def test_example_parses() -> None:
    [p] = parse(EXAMPLE)
    assert p == Policy(
        name="web",
        chain=("198.18.3.1", "198.18.3.2"),
        src=ipaddress.IPv4Network("198.18.1.0/24"),
        dst=ipaddress.IPv4Network("198.18.2.10/32"),
        sport=PortRange(1024, 65535),
        dport=PortRange(80, 80),
        proto=TCP,
    )


def test_defaults_and_empty_chain() -> None:
    [p] = parse("""
        policies:
          - name: all
            chain: []
    """)
    assert p == Policy(name="all", chain=())
    assert p.proto == TCP
    assert p.src is None and p.dst is None
    assert p.sport is None and p.dport is None


@pytest.mark.parametrize(
    "text", ["", "# just a comment\n", "---\n", "policies: []\n", "policies:\n"]
)
def test_empty_documents(text: str) -> None:
    assert parse(text) == []


def test_names_only_document() -> None:
    assert parse("names: {a: 1.2.3.4}\n") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("tcp", TCP), ("TCP", TCP), ("udp", UDP), ("any", None), ("17", UDP), ("'6'", TCP), ("0", 0)],
)
def test_proto_values(value: str, expected: int | None) -> None:
    [p] = parse(f"policies: [{{name: a, chain: [], match: {{proto: {value}}}}}]\n")
    assert p.proto == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("80", PortRange(80, 80)),
        ("'80'", PortRange(80, 80)),
        ("0", PortRange(0, 0)),
        ("65535", PortRange(65535, 65535)),
        ("1024-65535", PortRange(1024, 65535)),
        ("'10 - 20'", PortRange(10, 20)),
        ("0x50", PortRange(80, 80)),
    ],
)
def test_port_values(value: str, expected: PortRange) -> None:
    [p] = parse(f"policies: [{{name: a, chain: [], match: {{sport: {value}, dport: {value}}}}}]\n")
    assert p.sport == expected
    assert p.dport == expected


def test_chain_names_from_argument_and_file_precedence() -> None:
    text = """
        names:
          fw: 10.0.0.1
        policies:
          - name: a
            chain: [fw, ids, 010.0.0.3, 10.0.0.4]
    """
    with pytest.raises(ConfigError):  # leading zeros are not an IPv4 address nor a name
        parse(text, names={"ids": "10.0.0.2", "fw": "10.9.9.9"})
    text = text.replace("010.0.0.3", "10.0.0.3")
    [p] = parse(text, names={"ids": "10.0.0.2", "fw": "10.9.9.9"})
    assert p.chain == ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")


def test_max_chain_allowed() -> None:
    chain = ", ".join(f"10.0.0.{i}" for i in range(1, MAX_CHAIN + 1))
    [p] = parse(f"policies: [{{name: a, chain: [{chain}]}}]\n")
    assert len(p.chain) == MAX_CHAIN == 15


def test_order_preserved_and_int_name() -> None:
    ps = parse("""
        policies:
          - {name: b, chain: []}
          - {name: 2024, chain: []}
          - {name: a, chain: [1.1.1.1]}
    """)
    assert [p.name for p in ps] == ["b", "2024", "a"]


def test_load_policies(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(EXAMPLE)
    assert load_policies(f) == parse(EXAMPLE)
    assert load_policies(str(f)) == parse(EXAMPLE)


# ---- ConfigError -------------------------------------------------------------------------


def test_config_error_format() -> None:
    e = ConfigError("f.yaml", 3, "policies[0].name", "bad")
    assert str(e) == "f.yaml:3: policies[0].name: bad"
    assert (e.file, e.line, e.field, e.message) == ("f.yaml", 3, "policies[0].name", "bad")
    assert isinstance(e, ValueError)
    e2 = ConfigError("f.yaml", None, "file", "missing")
    assert str(e2) == "f.yaml: file: missing"
    e3 = pickle.loads(pickle.dumps(e))
    assert str(e3) == str(e)


# ---- one test per error path -------------------------------------------------------------


def test_yaml_syntax_error() -> None:
    e = err("policies:\n  - name: a\n    chain: [1.1.1.1\n  - name: b\n")
    assert e.field == "yaml"
    assert e.line == 4


def test_yaml_bad_indentation() -> None:
    e = err("policies:\n  - name: a\n   chain: []\n")
    assert where(e) == (3, "yaml")


def test_multiple_documents() -> None:
    e = err("policies: []\n---\npolicies: []\n")
    assert where(e) == (2, "yaml")


def test_root_not_a_mapping() -> None:
    assert where(err("- name: a\n  chain: []\n")) == (1, "document")
    assert where(err("just text\n")) == (1, "document")


def test_unknown_top_level_key() -> None:
    e = err("names: {}\npolicys:\n  - name: a\n")
    assert where(e) == (2, "policys")
    assert "unknown key" in e.message


def test_duplicate_key() -> None:
    e = err("policies: []\npolicies: []\n")
    assert where(e) == (2, "policies")
    assert "duplicate key" in e.message


def test_duplicate_key_in_policy() -> None:
    e = err("policies:\n  - name: a\n    chain: []\n    name: b\n")
    assert where(e) == (4, "policies[0].name")


def test_names_not_a_mapping() -> None:
    assert where(err("names: [a, b]\n")) == (1, "names")


def test_names_bad_address() -> None:
    e = err("names:\n  fw1: 198.18.3.1\n  fw2: 198.18.3.300\n")
    assert where(e) == (3, "names.fw2")


def test_names_address_not_a_string() -> None:
    assert where(err("names:\n  fw1: 12\n")) == (2, "names.fw1")


def test_name_is_an_address() -> None:
    assert where(err("names:\n  1.2.3.4: 5.6.7.8\n")) == (2, "names.1.2.3.4")


def test_name_not_a_string() -> None:
    assert where(err("names:\n  [a]: 5.6.7.8\n")) == (2, "names")


def test_duplicate_name_definition() -> None:
    assert where(err("names:\n  a: 1.1.1.1\n  a: 1.1.1.2\n")) == (3, "names.a")


def test_policies_not_a_list() -> None:
    assert where(err("policies:\n  name: a\n  chain: []\n")) == (2, "policies")


def test_policy_not_a_mapping() -> None:
    assert where(err("policies:\n  - {name: a, chain: []}\n  - web\n")) == (3, "policies[1]")


def test_unknown_policy_key() -> None:
    e = err("policies:\n  - name: a\n    chian: []\n")
    assert where(e) == (3, "policies[0].chian")
    assert "chain" in e.message  # the allowed keys are listed


def test_missing_name() -> None:
    e = err("policies:\n  - {name: a, chain: []}\n  - chain: []\n")
    assert where(e) == (3, "policies[1].name")
    assert "missing" in e.message


def test_missing_chain() -> None:
    e = err("policies:\n  - name: a\n    match: {dport: 80}\n")
    assert where(e) == (2, "policies[0].chain")
    assert "missing" in e.message


@pytest.mark.parametrize("value", ["''", "[a]", "null", "true"])
def test_bad_policy_name(value: str) -> None:
    assert where(err(f"policies:\n  - chain: []\n    name: {value}\n")) == (3, "policies[0].name")


def test_duplicate_policy_names() -> None:
    text = (
        "policies:\n  - name: a\n    chain: []\n  - name: b\n    chain: []\n"
        "  - name: a\n    chain: []\n"
    )
    e = err(text)
    assert where(e) == (6, "policies[2].name")
    assert "line 2" in e.message


def test_match_not_a_mapping() -> None:
    assert where(err("policies:\n  - name: a\n    chain: []\n    match: [80]\n")) == (
        4,
        "policies[0].match",
    )


def test_unknown_match_key() -> None:
    e = err(
        "policies:\n  - name: a\n    chain: []\n    match:\n      dst: 1.2.3.4\n      prot: 80\n"
    )
    assert where(e) == (6, "policies[0].match.prot")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("src", "198.18.1.0/33"),
        ("src", "198.18.1.5/24"),  # host bits set
        ("dst", "not-an-address"),
        ("dst", "2001:db8::/32"),  # IPv6
        ("src", "12"),  # a YAML int
        ("dst", "null"),
        ("src", "[1.2.3.4]"),
    ],
)
def test_bad_prefix(field: str, value: str) -> None:
    text = f"policies:\n  - name: a\n    chain: []\n    match:\n      {field}: {value}\n"
    assert where(err(text)) == (5, f"policies[0].match.{field}")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("dport", "65536", "out of range"),
        ("dport", "-1", "out of range"),
        ("sport", "2000-1000", "low > high"),
        ("sport", "1000-70000", "out of range"),
        ("dport", "http", "expected a port"),
        ("dport", "1-2-3", "expected a port"),
        ("dport", "8.5", "expected a port"),
        ("dport", "true", "expected a port"),
        ("dport", "[80]", "expected a port"),
        ("sport", "null", "expected a port"),
    ],
)
def test_bad_port(field: str, value: str, words: str) -> None:
    text = f"policies:\n  - name: a\n    chain: []\n    match:\n      {field}: {value}\n"
    e = err(text)
    assert where(e) == (5, f"policies[0].match.{field}")
    assert words in e.message


@pytest.mark.parametrize("value", ["sctp", "256", "-1", "[tcp]", "6.0", "null"])
def test_bad_proto(value: str) -> None:
    text = f"policies:\n  - name: a\n    chain: []\n    match:\n      proto: {value}\n"
    assert where(err(text)) == (5, "policies[0].match.proto")


def test_chain_not_a_list() -> None:
    assert where(err("policies:\n  - name: a\n    chain: fw1\n")) == (3, "policies[0].chain")


def test_chain_unknown_name() -> None:
    text = "names: {fw1: 1.1.1.1}\npolicies:\n  - name: a\n    chain:\n      - fw1\n      - fw2\n"
    e = err(text)
    assert where(e) == (6, "policies[0].chain[1]")
    assert "fw2" in e.message


@pytest.mark.parametrize("value", ["17", "{a: 1}", "null", "''"])
def test_chain_element_not_a_string(value: str) -> None:
    text = f"policies:\n  - name: a\n    chain:\n      - 1.1.1.1\n      - {value}\n"
    assert where(err(text)) == (5, "policies[0].chain[1]")


def test_chain_too_long() -> None:
    chain = ", ".join(f"10.0.0.{i}" for i in range(1, MAX_CHAIN + 2))
    e = err(f"policies:\n  - name: a\n    chain: [{chain}]\n")
    assert where(e) == (3, "policies[0].chain")
    assert "15" in e.message


def test_names_argument_bad_address() -> None:
    e = err("policies:\n  - name: a\n    chain: [fw]\n", names={"fw": "nope"})
    assert where(e) == (3, "policies[0].chain[0]")


def test_unsupported_tag() -> None:
    e = err("policies:\n  - name: a\n    chain: []\n    match:\n      dport: !!python/int 80\n")
    assert where(e) == (5, "policies[0].match.dport")


def test_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_policies(missing)
    assert info.value.file == str(missing)
    assert info.value.line is None
    assert info.value.field == "file"


def test_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_policies(tmp_path)
    assert (info.value.line, info.value.field) == (None, "file")


def test_file_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"policies: []\n\xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_policies(f)
    assert (info.value.file, info.value.field) == (str(f), "file")


def test_file_error_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("policies:\n  - name: a\n    chain: [x]\n")
    with pytest.raises(ConfigError) as info:
        load_policies(f)
    assert str(info.value).startswith(f"{f}:3: policies[0].chain[0]: ")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("policesnamchtdrsp:-[]{},.'\"!&*#|>\n 0123456789/")),
        max_size=120,
    )
)
def test_only_config_errors(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_policies(text, filename=FILE)


# ---- matching ----------------------------------------------------------------------------


def t(
    src: str = "198.18.1.5",
    sport: int = 40000,
    dst: str = "198.18.2.10",
    dport: int = 80,
    proto: int = TCP,
) -> FiveTuple:
    return FiveTuple(src, sport, dst, dport, proto)


def test_port_range_contains() -> None:
    r = PortRange(10, 20)
    assert 10 in r
    assert 20 in r
    assert 15 in r
    assert 9 not in r
    assert 21 not in r
    with pytest.raises(ValueError):
        PortRange(5, 4)
    with pytest.raises(ValueError):
        PortRange(0, 65536)


def test_matches_each_field() -> None:
    [p] = parse(EXAMPLE)
    assert p.matches(t())
    assert not p.matches(t(src="198.18.0.5"))
    assert not p.matches(t(dst="198.18.2.11"))
    assert not p.matches(t(sport=1023))
    assert p.matches(t(sport=1024))
    assert not p.matches(t(dport=81))
    assert not p.matches(t(proto=UDP))


def test_matches_wildcards() -> None:
    p = Policy(name="any", chain=(), proto=None)
    assert p.matches(t(proto=UDP))
    assert p.matches(t(src="1.2.3.4", dport=1))
    assert not Policy(name="tcp", chain=()).matches(t(proto=UDP))


def test_policy_chain_coerced_to_tuple() -> None:
    p = Policy(name="x", chain=["1.1.1.1"])  # type: ignore[arg-type]
    assert p.chain == ("1.1.1.1",)
    hash(p)


def test_first_match_wins() -> None:
    ps = parse("""
        policies:
          - name: ssh
            match: {dport: 22}
            chain: [10.0.0.1]
          - name: lan
            match: {src: 198.18.1.0/24}
            chain: [10.0.0.2]
          - name: web
            match: {dport: 80}
            chain: [10.0.0.3]
          - name: rest
            chain: []
    """)
    table = PolicyTable(ps)
    assert len(table) == 4
    assert [p.name for p in table] == ["ssh", "lan", "web", "rest"]
    assert table.match(t(dport=22)).name == "ssh"  # type: ignore[union-attr]
    assert table.match(t(dport=80)).name == "lan"  # type: ignore[union-attr]
    assert table.match(t(src="10.9.9.9", dport=80)).name == "web"  # type: ignore[union-attr]
    assert table.match(t(src="10.9.9.9", dport=81)).name == "rest"  # type: ignore[union-attr]
    assert table.match(t(proto=UDP)) is None
    assert PolicyTable().match(t()) is None


def test_table_add_remove() -> None:
    a = Policy(name="a", chain=("1.1.1.1",), dport=PortRange(80, 80))
    b = Policy(name="b", chain=())
    table = PolicyTable([b])
    table.add(a, index=0)
    assert [p.name for p in table] == ["a", "b"]
    assert table.match(t()) == a
    assert "a" in table
    assert table.get("a") == a
    assert table.get("zz") is None
    with pytest.raises(ValueError):
        table.add(Policy(name="a", chain=()))
    with pytest.raises(ValueError):
        PolicyTable([a, a])
    assert table.remove("a") == a
    assert table.match(t()) == b
    with pytest.raises(KeyError):
        table.remove("a")
    table.add(a)
    assert [p.name for p in table] == ["b", "a"]
    assert len(table) == 2
