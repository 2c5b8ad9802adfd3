"""The `make test` summary line: which target suites ran, which skipped and why."""

from __future__ import annotations

from tests.suite_summary import _suite_of, _Tally


def test_paths_map_to_their_suite() -> None:
    assert _suite_of("bmv2_tests/test_vectors.py") == "bmv2"
    assert _suite_of("tests/tofino/test_tofino_build.py") == "tofino"
    assert _suite_of("tests/e2e/test_e2e.py") == "namespaces"
    assert _suite_of("tests/targets/test_dpdk_netns.py") == "namespaces"
    assert _suite_of("tests/targets/test_dpdk_agent.py") == "dpdk"
    assert _suite_of("tests/pipeline/test_pipeline_vectors.py") == "refmodel"
    assert _suite_of("tests/proto/test_policy.py") is None


def test_a_suite_that_only_skipped_says_why() -> None:
    tally = _Tally(skipped=3, reasons=["bf-p4c not installed"])
    assert tally.line("tofino") == "tofino skipped (bf-p4c not installed)"


def test_a_suite_that_ran_counts_and_names_partial_skips() -> None:
    assert _Tally(passed=5).line("dpdk") == "dpdk ran (5 passed)"
    mixed = _Tally(passed=2, failed=1, skipped=1, reasons=["needs root"]).line("namespaces")
    assert mixed == "namespaces ran (2 passed, 1 failed, 1 skipped: needs root)"


def test_a_suite_with_no_tests_is_reported_as_such() -> None:
    assert _Tally().line("bmv2") == "bmv2 not collected"
