"""Locality-aware load balancing with failover, with real processes: a control plane, helloworld
in two clusters (v1 in cluster1, v2 in cluster2, each a real app behind a real `meshtool proxy
run --cluster`) and a caller's sidecar in cluster1.

Without a locality setting the caller's calls alternate between both clusters; the walkthrough's
DestinationRule with `localityLbSetting` (stored as written, compiled by the model) keeps them in
the caller's own cluster; when cluster1's helloworld stops answering, its failures are retried
on cluster2 and outlier detection ejects it, so calls fail over with no failed request; when its
sidecar goes too, its endpoint is gone and cluster2 serves alone.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.model.resource import Resource
from meshtool.store import open_store

from .test_e2e_sidecars import config_dump, wait

ROOT = Path(__file__).resolve().parents[2]
MESHTOOL = [sys.executable, "-m", "meshtool"]

LOCALITY = {"host": "helloworld", "trafficPolicy": {
    "loadBalancer": {"localityLbSetting": {"enabled": True}},
    "outlierDetection": {"consecutive5xxErrors": 1, "baseEjectionTime": "60s"}}}
RETRY = {"hosts": ["helloworld"], "http": [{"route": [{"destination": {"host": "helloworld"}}],
                                            "retries": {"attempts": 1}}]}


@pytest.fixture
def procs():
    started: dict[str, subprocess.Popen] = {}
    yield started
    for p in started.values():
        if p.poll() is None:
            p.terminate()
    for p in started.values():
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def sidecar(procs, tmp_path, cp, name, service, cluster, app_port, version=None) -> dict:
    ports = {"inbound": free_port(), "outbound": free_port(), "admin": free_port()}
    log = open(tmp_path / f"{name}.log", "wb")
    procs[name] = subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", service,
         *(["--label", f"version={version}"] if version else []), "--cluster", cluster,
         "--proxy-id", f"{name}.default", "--app-port", str(app_port), "--inbound-port",
         str(ports["inbound"]), "--outbound-port", str(ports["outbound"]), "--admin-port",
         str(ports["admin"])], stdout=log, stderr=log)
    return ports


def call(outbound: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", outbound, timeout=10)
    try:
        conn.request("GET", "http://helloworld:5000/hello")
        resp = conn.getresponse()
        body = resp.read().decode()
        return body.split(",")[0].rsplit(" ", 1)[-1] if resp.status == 200 else \
            f"{resp.status} {body.strip()}"
    finally:
        conn.close()


def endpoint_count(admin: int) -> int:
    snap = config_dump(admin)["snapshot"] or {}
    return sum(len(s["endpoints"]) for s in snap.get("services") or []
               if s["name"] == "helloworld")


def test_calls_stay_in_the_callers_cluster_and_fail_over_to_the_other(procs, tmp_path):
    store = tmp_path / "store.db"
    cp = ControlPlaneProcess(store, log=tmp_path / "cp.log", args=("--grace", "300ms")).start()
    try:
        for cluster, version in (("cluster1", "v1"), ("cluster2", "v2")):
            app = free_port()
            procs[f"app-{version}"] = subprocess.Popen(
                [sys.executable, str(ROOT / "samples/services/helloworld.py"), "--port", str(app),
                 "--version", version], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            sidecar(procs, tmp_path, cp, f"helloworld-{version}", "helloworld", cluster, app,
                    version)
        caller = sidecar(procs, tmp_path, cp, "sleep", "sleep", "cluster1", free_port())
        out, admin = caller["outbound"], caller["admin"]
        wait(lambda: endpoint_count(admin) == 2, what="both clusters' endpoints")
        wait(lambda: call(out) in ("v1", "v2"), what="helloworld answering")

        # No locality setting: round robin over both clusters.
        seen = [call(out) for _ in range(10)]
        assert sorted(seen) == ["v1"] * 5 + ["v2"] * 5, seen

        # The DestinationRule's localityLbSetting: the caller's own cluster only.
        with open_store(str(store)) as s:
            s.create([Resource("DestinationRule.networking.istio.io", "helloworld", "default", LOCALITY,
                               api_version="networking.istio.io/v1alpha3"),
                      Resource("VirtualService.networking.istio.io", "helloworld", "default", RETRY,
                               api_version="networking.istio.io/v1alpha3")])
        wait(lambda: len(config_dump(admin)["snapshot"]["rules"]) == 2, what="the rules")
        assert [call(out) for _ in range(10)] == ["v1"] * 10

        # cluster1's app stops: its 503 is retried on cluster2, then it is ejected.
        procs["app-v1"].send_signal(signal.SIGKILL)
        procs["app-v1"].wait(10)
        assert [call(out) for _ in range(10)] == ["v2"] * 10

        # Its sidecar goes too: after the grace period the endpoint is gone; cluster2 serves.
        procs["helloworld-v1"].terminate()
        procs["helloworld-v1"].wait(10)
        wait(lambda: endpoint_count(admin) == 1, what="cluster1's endpoint gone")
        assert [call(out) for _ in range(5)] == ["v2"] * 5
    finally:
        cp.stop()


def start_helloworld(procs, version: str, port: int) -> None:
    procs[f"app-{version}"] = subprocess.Popen(
        [sys.executable, str(ROOT / "samples/services/helloworld.py"), "--port", str(port),
         "--version", version], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_active_health_checks_take_a_failing_endpoint_out_before_calls_hit_it(procs, tmp_path):
    """No retries here: the caller's sidecar probes, finds cluster1's helloworld failing and
    sends every call to cluster2 until it passes again."""
    store = tmp_path / "store.db"
    cp = ControlPlaneProcess(store, log=tmp_path / "cp.log").start()
    try:
        apps = {}
        for cluster, version in (("cluster1", "v1"), ("cluster2", "v2")):
            apps[version] = free_port()
            start_helloworld(procs, version, apps[version])
            inbound = sidecar(procs, tmp_path, cp, f"helloworld-{version}", "helloworld",
                              cluster, apps[version], version)["inbound"]
            apps[f"{version}-endpoint"] = f"127.0.0.1:{inbound}"
        caller = sidecar(procs, tmp_path, cp, "sleep", "sleep", "cluster1", free_port())
        out, admin = caller["outbound"], caller["admin"]
        wait(lambda: endpoint_count(admin) == 2, what="both clusters' endpoints")
        with open_store(str(store)) as s:
            # locality in the native form, the probes as Kuma writes them: both apply
            s.create([Resource("DestinationPolicy", "helloworld", "default", {
                "destination": {"name": "helloworld"}, "loadBalancing": {"locality": {}}}),
                Resource("HealthCheck.kuma.io", "helloworld-probe", "default", {
                    "sources": [{"match": {"kuma.io/service": "*"}}],
                    "destinations": [{"match": {"kuma.io/service": "helloworld_default_svc_5000"}}],
                    "conf": {"interval": "100ms", "timeout": "1s", "unhealthyThreshold": 2,
                             "healthyThreshold": 2, "http": {"path": "/hello"}}},
                    api_version="kuma.io/v1alpha1")])
        wait(lambda: len(config_dump(admin)["snapshot"]["rules"]) == 2, what="the policies")
        wait(lambda: call(out) == "v1", what="helloworld v1 answering")
        assert [call(out) for _ in range(5)] == ["v1"] * 5

        procs["app-v1"].kill()  # its sidecar stays up and answers 503 for it
        procs["app-v1"].wait(10)
        wait(lambda: config_dump(admin)["unhealthy"] == [apps["v1-endpoint"]],
             what="v1 found unhealthy")
        assert [call(out) for _ in range(10)] == ["v2"] * 10

        start_helloworld(procs, "v1", apps["v1"])  # back on its port: healthy again
        wait(lambda: config_dump(admin)["unhealthy"] == [], what="v1 healthy again")
        assert [call(out) for _ in range(5)] == ["v1"] * 5
    finally:
        cp.stop()
