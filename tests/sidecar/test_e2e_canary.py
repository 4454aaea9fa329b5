"""End to end, canary scenario: magnanimo -> its sidecar -> benigno v1/v2 behind their sidecars."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import pytest

from sidecar_mesh import ProxyClient, canary_doc, http_get, rule, wait_port  # noqa: F401

pytestmark = pytest.mark.timeout(120)

V1, V2 = b"Hello World, Benigno\n", b"Hello World, Benigno, Canary Release\n"


@pytest.fixture(scope="module")
def canary_mesh(mesh):
    empty = {"version": "0"}
    a1 = mesh.app("benigno.py", "--version", "v1")
    a2 = mesh.app("benigno.py", "--version", "v2")
    b1 = mesh.sidecar("benigno-v1", empty, "--service", "benigno", "--label", "version=v1",
                      "--app-port", str(a1), "--access-log")
    b2 = mesh.sidecar("benigno-v2", empty, "--service", "benigno", "--label", "version=v2",
                      "--app-port", str(a2))
    doc = canary_doc(90, 10, version="1", v1_port=b1.inbound, v2_port=b2.inbound)
    m = mesh.sidecar("magnanimo", doc, "--service", "magnanimo", "--label", "version=v1")
    app = mesh.app("magnanimo.py", "--benigno", "http://benigno:5000/hw2", proxy=m)
    for sc in (b1, b2, m):
        sc.wait_ready()
    for port in (a1, a2, app):
        wait_port(port)
    m.doc = lambda v1, v2, version, extra=(): canary_doc(
        v1, v2, version=version, v1_port=b1.inbound, v2_port=b2.inbound, extra_rules=extra)
    return m, app, b1


def _split(m, n: int, headers=None, clients: int = 4) -> Counter:
    """n requests from `clients` keep-alive connections; the split is per request, so the
    totals are exact however the connections interleave."""
    counts = Counter()

    def worker(share: int) -> None:
        client = ProxyClient(m.outbound)
        for _ in range(share):
            status, _, body = client.get("http://benigno:5000/hw2", headers)
            counts[{V1: "v1", V2: "v2"}.get(body, f"{status} {body[:60]!r}")] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(n // clients + (i < n % clients),))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return counts


def test_app_calls_through_its_sidecar(canary_mesh):
    m, app, _ = canary_mesh
    bodies = {http_get(app, "/hw2")[1] for _ in range(10)}
    assert bodies <= {V1, V2} and V1 in bodies


def test_90_10_is_exactly_900_100_over_1000_requests(canary_mesh):
    m, _, _ = canary_mesh
    m.apply(m.doc(90, 10, "2"))
    assert _split(m, 1000) == {"v1": 900, "v2": 100}
    text = m.metrics()
    # the workload comes back from the callee's sidecar (x-meshtool-peer)
    assert re.search(r'destination_service="benigno",destination_namespace="default",'
                     r'destination_workload="benigno-\d+",destination_version="v2",'
                     r'response_code="200"', text)


def test_shift_to_50_50_then_100_percent_v2(canary_mesh):
    m, _, _ = canary_mesh
    m.apply(m.doc(50, 50, "3"))
    assert _split(m, 200) == {"v1": 100, "v2": 100}
    m.apply(m.doc(0, 100, "4"))
    assert _split(m, 100) == {"v2": 100}


def test_header_match_routes_one_user_to_v2(canary_mesh):
    m, _, _ = canary_mesh
    jason = rule("RouteRule", "jason-to-v2", {
        "destination": {"name": "benigno"}, "precedence": 2,
        "match": {"request": {"headers": {"cookie": {"regex": ".*user=jason.*"}}}},
        "route": [{"labels": {"version": "v2"}}]})
    m.apply(m.doc(100, 0, "5", [jason]))
    assert _split(m, 20, {"cookie": "theme=dark; user=jason"}) == {"v2": 20}
    assert _split(m, 20, {"cookie": "user=alice"}) == {"v1": 20}


def test_inbound_sidecar_counts_requests_by_source(canary_mesh):
    _, _, b1 = canary_mesh
    text = b1.metrics()
    assert 'direction="inbound",source_service="magnanimo",' in text
    assert re.search(r'destination_service="benigno",destination_namespace="default",'
                     r'destination_workload="benigno-\d+",destination_version="v1",'
                     r'response_code="200"', text)


def test_access_log_writes_one_json_line_per_request(canary_mesh):
    _, _, b1 = canary_mesh
    entries = [json.loads(line) for line in b1.output().splitlines() if line.startswith("{")]
    assert entries, b1.output()[-500:]
    inbound = [e for e in entries if e["direction"] == "inbound"]
    assert inbound and inbound[-1]["status"] == 200 and inbound[-1]["request_id"]


def test_invalid_snapshot_is_rejected_and_the_old_one_keeps_serving(canary_mesh):
    m, _, _ = canary_mesh
    m.apply(m.doc(100, 0, "6"))
    bad = m.doc(100, 0, "7")
    bad["rules"][0]["spec"]["route"][0]["weight"] = 70
    m.apply(bad)
    dump = m.config_dump()
    assert dump["version"] == "6"
    assert dump["lastRejected"]["version"] == "7"
    assert "weights sum to" in dump["lastRejected"]["error"]
    assert _split(m, 20) == {"v1": 20}
    assert "meshtool_snapshots_rejected_total 1" in m.metrics()


def test_snapshot_swaps_under_load_fail_no_request(canary_mesh):
    m, _, _ = canary_mesh
    failures, done, stop = [], Counter(), threading.Event()

    def load():
        client = ProxyClient(m.outbound)
        while not stop.is_set():
            try:
                status, _, body = client.get("http://benigno:5000/hw2")
                if status != 200 or body not in (V1, V2):
                    failures.append((status, body[:80]))
                done["ok"] += 1
            except Exception as exc:  # noqa: BLE001 - any failure counts
                failures.append(repr(exc))
        client.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        m.apply(m.doc(*((90, 10) if i % 2 else (50, 50)), f"swap-{i}"))
    stop.set()
    for t in threads:
        t.join(10)
    assert failures == []
    assert done["ok"] > 100
    assert m.config_dump()["version"] == "swap-19"
