"""End to end: a real control plane pushes to two real sidecars (`meshtool proxy run`)."""

import http.client
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.model.resource import Resource
from meshtool.store import open_store

ROOT = Path(__file__).resolve().parents[2]
MESHTOOL = [sys.executable, "-m", "meshtool"]

CANARY_ALL_V2 = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: benigno-canary
spec:
  destination:
    name: benigno
  route:
  - labels:
      version: v2
    weight: 100
"""


def wait(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met in {timeout}s")


def config_dump(admin_port):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/config_dump",
                                            timeout=5))


def via_proxy(outbound_port, url):
    conn = http.client.HTTPConnection("127.0.0.1", outbound_port, timeout=10)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


@pytest.fixture
def mesh(tmp_path):
    store = tmp_path / "store.db"
    procs = []
    cp = ControlPlaneProcess(store, log=tmp_path / "cp.log").start()
    sidecars = {}
    try:
        for version in ("v1", "v2"):
            app, inbound, outbound, admin = (free_port() for _ in range(4))
            procs.append(subprocess.Popen(
                [sys.executable, str(ROOT / "samples/services/benigno.py"), "--port", str(app),
                 "--version", version], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            log = open(tmp_path / f"sidecar-{version}.log", "wb")
            procs.append(subprocess.Popen(
                [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", "benigno",
                 "--label", f"version={version}", "--proxy-id", f"benigno-{version}.default",
                 "--app-port", str(app), "--inbound-port", str(inbound), "--outbound-port",
                 str(outbound), "--admin-port", str(admin)], stdout=log, stderr=log))
            sidecars[version] = {"admin": admin, "outbound": outbound, "inbound": inbound}
        yield cp, store, sidecars
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cp.stop()


def statuses(table):
    return {p["proxyId"]: p["status"] for p in table["proxies"]}


def test_rules_reach_both_sidecars_and_a_rejected_one_shows_error(mesh):
    cp, store, sidecars = mesh
    both = {"benigno-v1.default", "benigno-v2.default"}
    # Both sidecars connect, become endpoints of benigno and ACK a snapshot with both.
    t = cp.wait_for(lambda t: statuses(t) == dict.fromkeys(both, "SYNCED") and
                    len(json.loads(urllib.request.urlopen(
                        f"http://{cp.address}/debug/config_dump", timeout=5).read())
                        ["snapshot"]["services"][0]["endpoints"]) == 2, 30)
    for version, sc in sidecars.items():
        dump = config_dump(sc["admin"])
        assert dump["version"] == t["version"] and dump["source"] == "control-plane"
        ports = sorted(ep["port"] for ep in dump["snapshot"]["services"][0]["endpoints"])
        assert ports == sorted(s["inbound"] for s in sidecars.values())

    # meshtool create: the rule reaches both, ACKed, and routes traffic.
    rule_file = Path(store).with_name("canary.yaml")
    rule_file.write_text(CANARY_ALL_V2)
    r = subprocess.run([*MESHTOOL, "create", "-f", str(rule_file), "--store", str(store)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    t = cp.wait_for(lambda t: t["storeRevision"] >= 1 and t["version"].startswith(
        f"{t['storeRevision']}.") and statuses(t) == dict.fromkeys(both, "SYNCED"), 15)
    for sc in sidecars.values():
        dump = config_dump(sc["admin"])
        assert dump["version"] == t["version"]
        assert [r["metadata"]["name"] for r in dump["snapshot"]["rules"]] == ["benigno-canary"]
    for _ in range(4):  # from v1's sidecar, benigno means v2 now
        status, body = via_proxy(sidecars["v1"]["outbound"], "http://benigno:5000/")
        assert (status, body.strip()) == (200, "Hello World, Benigno, Canary Release")

    # A rule `validate` refuses that reached the store anyway (as a CRD applied with kubectl
    # could): the control plane leaves it out and reports it; the sidecars stay SYNCED with
    # everything else, and the canary keeps routing.
    with open_store(str(store)) as st:
        st.create([Resource("RouteRule", "broken", "default", {
            "destination": {"name": "benigno"},
            "route": [{"labels": {"version": "v1"}, "weight": 50},
                      {"labels": {"version": "v2"}, "weight": 20}]})])
    t = cp.wait_for(lambda t: t["invalid"] and statuses(t) == dict.fromkeys(both, "SYNCED")
                    and all(p["acked"]["version"] == t["version"] for p in t["proxies"]), 15)
    (bad,) = t["invalid"]
    assert (bad["kind"], bad["namespace"], bad["name"]) == ("RouteRule", "default", "broken")
    assert bad["problems"] == ["spec.route[1].weight: weights sum to 70, must be 100"]
    for sc in sidecars.values():
        dump = config_dump(sc["admin"])
        assert [r["metadata"]["name"] for r in dump["snapshot"]["rules"]] == ["benigno-canary"]
    status, body = via_proxy(sidecars["v1"]["outbound"], "http://benigno:5000/")
    assert (status, body.strip()) == (200, "Hello World, Benigno, Canary Release")
    metrics = urllib.request.urlopen(f"http://{cp.address}/metrics", timeout=5).read().decode()
    assert "meshtool_controlplane_invalid_resources 1\n" in metrics
    assert "meshtool_controlplane_rejected_resources_total 1\n" in metrics
    dump = json.loads(urllib.request.urlopen(f"http://{cp.address}/debug/config_dump",
                                             timeout=5).read())
    assert [i["name"] for i in dump["invalid"]] == ["broken"]

    r = subprocess.run([*MESHTOOL, "proxy-status", "--control-plane", cp.address],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and all("SYNCED" in row for row in r.stdout.splitlines()[1:])
    assert ("invalid: RouteRule default/broken is left out of every snapshot: "
            "spec.route[1].weight: weights sum to 70, must be 100") in r.stderr

    # Fixed, it goes live; the list empties.
    with open_store(str(store)) as st:
        st.replace([Resource("RouteRule", "broken", "default", {
            "destination": {"name": "benigno"},
            "route": [{"labels": {"version": "v1"}, "weight": 50},
                      {"labels": {"version": "v2"}, "weight": 50}]})])
    t = cp.wait_for(lambda t: not t["invalid"] and statuses(t) == dict.fromkeys(both, "SYNCED")
                    and all(p["acked"]["version"] == t["version"] for p in t["proxies"]), 15)
    assert sorted(r["metadata"]["name"] for r in config_dump(sidecars["v1"]["admin"])
                  ["snapshot"]["rules"]) == ["benigno-canary", "broken"]


def test_sidecars_keep_serving_while_the_control_plane_is_down(mesh):
    cp, store, sidecars = mesh
    both = {"benigno-v1.default", "benigno-v2.default"}
    cp.wait_for(lambda t: statuses(t) == dict.fromkeys(both, "SYNCED") and
                json.loads(urllib.request.urlopen(f"http://{cp.address}/debug/config_dump",
                                                  timeout=5).read())["snapshot"]["services"]
                [0]["endpoints"].__len__() == 2, 30)
    before = config_dump(sidecars["v1"]["admin"])["version"]
    cp.kill()
    failures = 0
    for _ in range(20):
        status, _ = via_proxy(sidecars["v1"]["outbound"], "http://benigno:5000/")
        failures += status != 200
    assert failures == 0
    assert config_dump(sidecars["v1"]["admin"])["version"] == before
    cp.start()
    t = cp.wait_for(lambda t: statuses(t) == dict.fromkeys(both, "SYNCED"), 30)
    assert t["version"] == before  # same store, same endpoints: the same content
