"""The benchmark harness: ratios, RESULTS.md sections kept across partial runs, process memory."""

import os

from bench.__main__ import merge, render
from bench.harness import Figure, rss_kib


def test_ratio_is_value_over_reference_and_absent_without_one():
    assert Figure("x", 3.0, "s", "ref", 2.0).ratio == 1.5
    assert Figure("x", 3.0, "s").ratio is None
    assert Figure("x", 3.0, "s", "ref", 0).ratio is None


def test_a_partial_run_replaces_its_sections_and_keeps_the_others():
    old = render({"A": [Figure("a", 1.0, "s")], "B": [Figure("b", 2.0, "s")]})
    new = render({"B": [Figure("b", 9.0, "s")]})
    merged = merge(old, new)
    assert merged.count("## A") == 1 and merged.count("## B") == 1
    assert "| b | 9 s |" in merged and "| b | 2 s |" not in merged
    assert "| a | 1 s |" in merged


def test_rss_of_this_process_and_of_a_gone_one():
    assert rss_kib(os.getpid()) > 1024
    assert rss_kib(2 ** 22 + 12345) == 0
