"""The churn benchmark: its reading of the fleet's trace, and a run at tiny size against two real
API servers so that it cannot rot (the full size is `python -m bench churn`)."""

import json

from bench.__main__ import render
from bench.bench_churn import Trace, Write, figures, measure


def _trace(tmp_path, records):
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return Trace(path)


def test_a_change_counts_when_the_last_traced_proxy_has_it(tmp_path):
    trace = _trace(tmp_path, [
        {"v": "5.a", "endpoints": {"ns/web": ["10.0.0.1", "10.0.0.2"]}},
        {"v": "5.b", "endpoints": {"ns/web": ["10.0.0.1"]}},
        {"v": "6.c", "endpoints": {"ns/web": ["10.0.0.1"]}},
        {"p": 0, "t": 100.0, "v": "5.a"}, {"p": 10, "t": 100.0, "v": "5.a"},
        {"p": 0, "t": 101.2, "v": "5.b"}, {"p": 10, "t": 101.5, "v": "5.b"},
        {"p": 0, "t": 102.0, "v": "6.c"}, {"p": 10, "t": 103.0, "v": "6.c"},
    ])
    gone = Write(101.0, "pod", "churn", "ns/web", "10.0.0.2", ready=False)
    assert abs(trace.latency(gone) - 0.5) < 1e-9  # proxy 10 had it last
    rule = Write(101.0, "rule", "churn", revision=6)
    assert abs(trace.latency(rule) - 2.0) < 1e-9
    # an apply before the write does not count, nor one past the horizon
    back = Write(100.5, "pod", "churn", "ns/web", "10.0.0.2", ready=True)
    assert trace.latency(back) is None
    assert trace.latency(rule, horizon=1.5) is None


def test_the_bench_runs_at_tiny_size(tmp_path):
    out = measure(proxies=20, pods=20, rate=20, seconds=4, rule_changes=2, tmp=tmp_path,
                  trace_every=5)
    assert out["traced"] == 4
    for phase in ("quiet", "churn"):
        for kind in ("rule", "pod"):
            assert out[f"{phase}_{kind}_n"] > 0 and out[f"{phase}_{kind}_missed"] == 0, out
            assert 0 < out[f"{phase}_{kind}_p50"] <= out[f"{phase}_{kind}_p99"] < 10, out
    assert out["churn_pod_n"] >= 40 and out["write_errors"] == 0
    assert out["final_mismatch"] == 0  # what the control plane serves is what the clusters say
    assert 10 < out["achieved_rate"] < 30
    assert out["churn_cpu_cp"] > 0 and out["rss_mib"] > 0
    table = render({"churn": figures([out])})
    assert "pod change p99 under churn" in table and "rule change p99, quiet" in table
