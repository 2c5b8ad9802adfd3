"""The testbed's RST accounting (``dysco_testbed.scenarios.after_close``): a RST a host's closed
socket sends right after its own FIN is reported apart (``rst_after_close``); every other RST
counts (``rst_seen``). Lines as tcpdump prints them (``-n -S``), from the rack's e2e 8."""

from __future__ import annotations

from dysco_testbed.scenarios import after_close

FIN = (
    "17:19:15.382 IP 198.18.3.2.9002 > 198.18.3.1.54692: Flags [F.], seq 4190303305, "
    "ack 3764351490, win 80, options [nop,nop,TS val 1 ecr 2], length 0"
)
RST_AFTER = (
    "17:19:16.945 IP 198.18.3.2.9002 > 198.18.3.1.54692: Flags [R], seq 4190303306, win 0, length 0"
)
RAW = (
    "21:53:55.673 IP 198.18.3.6.9002 > 198.18.3.1.50842: Flags [R], seq 2452113060, win 0, length 0"
)


def test_the_passive_closers_rst_after_its_fin_is_apart() -> None:
    assert after_close([FIN, RST_AFTER]) == ([], [RST_AFTER])


def test_a_rst_on_a_subsession_tuple_counts() -> None:
    # the monitor's stack answering a segment that reached it unrewritten
    assert after_close([FIN, RAW]) == ([RAW], [])


def test_a_rst_before_the_fin_or_with_another_sequence_counts() -> None:
    other = RST_AFTER.replace("seq 4190303306", "seq 4190303305")
    assert after_close([RST_AFTER, FIN]) == ([RST_AFTER], [])
    assert after_close([FIN, other]) == ([other], [])
    # the other direction's FIN does not explain this host's RST
    rev = FIN.replace("198.18.3.2.9002 > 198.18.3.1.54692", "198.18.3.1.54692 > 198.18.3.2.9002")
    assert after_close([rev, RST_AFTER]) == ([RST_AFTER], [])


def test_a_fin_with_data_and_sequence_wrap() -> None:
    fin = "1.0 IP 10.0.0.1.80 > 10.0.0.2.5000: Flags [FP.], seq 4294967000:4294967295, length 295"
    rst = "2.0 IP 10.0.0.1.80 > 10.0.0.2.5000: Flags [R], seq 0, win 0, length 0"
    assert after_close([fin, rst]) == ([], [rst])
