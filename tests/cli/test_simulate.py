"""`meshtool simulate` answers what a real sidecar does with the same snapshot: the same rule,
the same subset for a header match, the same split over N requests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from meshtool.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]


def snapshot(v1: int, v2: int) -> dict:
    route = {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule"}
    return {"version": "7", "services": [{"name": "benigno", "namespace": "default", "ports": [5000],
            "endpoints": [{"address": "127.0.0.1", "port": v1, "labels": {"version": "v1"}},
                          {"address": "127.0.0.1", "port": v2, "labels": {"version": "v2"}}]}],
            "rules": [
                {**route, "metadata": {"name": "split", "namespace": "default"},
                 "spec": {"destination": {"name": "benigno"}, "route": [
                     {"labels": {"version": "v1"}, "weight": 70},
                     {"labels": {"version": "v2"}, "weight": 30}]}},
                {**route, "metadata": {"name": "testers", "namespace": "default"},
                 "spec": {"destination": {"name": "benigno"}, "precedence": 2,
                          "match": {"request": {"headers": {"x-user": {"exact": "tester"}}}},
                          "route": [{"labels": {"version": "v2"}}]}},
                {**route, "metadata": {"name": "only-for-svcz", "namespace": "default"},
                 "spec": {"destination": {"name": "benigno"}, "precedence": 9,
                          "match": {"source": {"name": "svcz"}},
                          "route": [{"labels": {"version": "v1"}}]}},
            ]}


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("condition not met")


@pytest.fixture
def sidecar(tmp_path):
    v1, v2, inbound, outbound, admin, app = free_ports(6)
    snap = tmp_path / "snap.yaml"
    snap.write_text(yaml.safe_dump(snapshot(v1, v2)))
    procs = [subprocess.Popen([sys.executable, str(ROOT / "samples/services/benigno.py"), "--port",
                               str(port), "--version", ver], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for port, ver in ((v1, "v1"), (v2, "v2"))]
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot", str(snap), "--service",
         "magnanimo", "--label", "version=v1", "--app-port", str(app), "--inbound-port",
         str(inbound), "--outbound-port", str(outbound), "--admin-port", str(admin)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).status == 200)
        yield snap, urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": f"http://127.0.0.1:{outbound}"}))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def simulate(snap, *args) -> dict:
    r = subprocess.run([sys.executable, "-m", "meshtool", "simulate", "--snapshot", str(snap),
                        "--from", "magnanimo", "--version", "v1", "-o", "json", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def version_of(opener, headers: dict) -> str:
    req = urllib.request.Request("http://benigno:5000/", headers=headers)
    body = opener.open(req, timeout=10).read().decode()
    return "v2" if "Canary" in body else "v1"


def test_simulate_agrees_with_a_real_sidecar(sidecar):
    snap, opener = sidecar
    plain = simulate(snap, "--count", "100", "GET", "http://benigno:5000/")
    results = {r["rule"]: r["result"] for r in plain["rules"]}
    assert results["RouteRule default/split"] == "matched: applies"
    assert results["RouteRule default/testers"] == "does not match this request"
    assert "RouteRule default/only-for-svcz" not in results  # left out for this source, as the sidecar does
    real = Counter(version_of(opener, {}) for _ in range(100))
    assert plain["distribution"] == {"version=v1": real["v1"], "version=v2": real["v2"]} == \
        {"version=v1": 70, "version=v2": 30}

    tester = simulate(snap, "-H", "x-user: tester", "GET", "http://benigno:5000/")
    assert tester["subset"] == {"labels": {"version": "v2"}}
    assert {version_of(opener, {"x-user": "tester"}) for _ in range(10)} == {"v2"}

    outside = simulate(snap, "GET", "http://example.com/")
    assert outside["egress"]["allowed"] is False
    with pytest.raises(urllib.error.HTTPError) as denied:
        opener.open("http://example.com/", timeout=10)
    assert denied.value.code == 403


def run_simulate(*args, cwd=ROOT) -> dict:
    r = subprocess.run([sys.executable, "-m", "meshtool", "simulate", "-o", "json", *args],
                       capture_output=True, text=True, timeout=60, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_offline_from_rule_files_and_manifests_names_the_rule_file_and_line():
    answer = run_simulate("-f", "samples/canary/kubernetes.yaml", "-f",
                          "samples/canary/rules/route-90-10.yaml", "--from", "magnanimo",
                          "--count", "100", "GET", "http://benigno:5000/")
    [rule] = answer["rules"]
    assert rule["result"] == "matched: applies"
    lines = (ROOT / "samples/canary/rules/route-90-10.yaml").read_text().splitlines()
    file, line = rule["source"].rsplit(":", 1)
    assert file == "samples/canary/rules/route-90-10.yaml"
    assert lines[int(line) - 1].startswith("apiVersion:")  # where the rule's document starts
    assert "name: benigno-canary" in lines[int(line):int(line) + 3][-1]
    assert answer["distribution"] == {"version=v1": 90, "version=v2": 10}
    # endpoints: the Deployments' replicas behind the Service, as placeholders (nothing runs)
    assert answer["endpoints"] and all(e.startswith("benigno-v") for e in answer["endpoints"])


def test_offline_a_compiled_rule_points_at_the_resource_its_author_wrote():
    answer = run_simulate("-f", "samples/helloworld/kubernetes.yaml", "-f",
                          "samples/helloworld/istio/", "--from", "sleep", "GET",
                          "http://helloworld:5000/hello")
    [rule] = answer["rules"]
    assert rule["source"].startswith("samples/helloworld/istio/virtualservice.yaml:")
    assert rule["source"].endswith("(VirtualService helloworld)")


def test_one_source_of_the_snapshot_and_a_caller_are_required(tmp_path):
    for args, needle in ((["GET", "http://a/"], "give the snapshot one way"),
                         (["-f", "samples/canary/kubernetes.yaml", "--snapshot",
                           "samples/snapshots/magnanimo.yaml", "GET", "http://a/"],
                          "different sources"),
                         (["-f", "samples/canary/kubernetes.yaml", "GET", "http://a/"], "--from")):
        r = subprocess.run([sys.executable, "-m", "meshtool", "simulate", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 64 and needle in r.stderr, r.stderr


def test_live_answers_from_the_control_planes_snapshot_for_a_proxy(tmp_path):
    from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet
    from meshtool.model.resource import Resource
    from meshtool.store import open_store

    store = tmp_path / "store.db"
    with open_store(str(store)) as st:
        st.create([Resource("RouteRule", "to-v2", "default", {
            "destination": {"name": "lv-svc1"}, "route": [{"labels": {"version": "v2"}}]})])
    with ControlPlaneProcess(store, log=tmp_path / "cp.log") as cp, \
            SimulatedFleet(cp.address, 6, prefix="lv", services=3, log=tmp_path / "fleet.log"):
        cp.wait_for(lambda t: len(t["proxies"]) == 6
                    and {p["status"] for p in t["proxies"]} == {"SYNCED"})
        answer = run_simulate("--proxy", "lv-0", "--control-plane", cp.address, "GET",
                              "http://lv-svc1:8080/")
    assert answer["rules"][0]["rule"] == "RouteRule default/to-v2"
    assert answer["rules"][0]["result"] == "matched: applies"
    # the fleet's proxies are the endpoints: lv-1 (v2) and lv-4 (v1) serve lv-svc1
    assert answer["subset"] == {"labels": {"version": "v2"}}
    assert answer["endpoints"] == ["127.0.0.1:20001"]
