"""End to end, Kubernetes mode: `meshtool control-plane --store kubernetes` against the real API
server pushes rule changes (CRD objects) and Pod changes (readiness, new pods) to a real local
sidecar (`meshtool proxy run`), and `meshtool proxy-status` shows it SYNCED, also through the API
server's service proxy.

No kubelet runs, so the tests play its part: Pod IPs and readiness are set through the status
subresource. The pod IPs are loopback addresses (127.0.0.2, 127.0.0.3) where the sample app
really listens, so requests through the sidecar reach the pods the cluster says are Ready.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess, free_port

from .kubeobjects import create_pod, create_service, set_pod_status

ROOT = Path(__file__).resolve().parents[3]
MESHTOOL = [sys.executable, "-m", "meshtool"]
V1, V2 = "127.0.0.2", "127.0.0.3"  # the pods' IPs


def wait(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met in {timeout}s; last: {last}")


def config_dump(admin_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/config_dump", timeout=5) as r:
        return json.load(r)


def endpoints(dump: dict, service: str) -> list[tuple[str, str]]:
    for svc in dump["snapshot"]["services"]:
        if svc["name"] == service:
            return sorted((e["address"], e["labels"].get("version")) for e in svc["endpoints"])
    return []


def rule_names(dump: dict, namespace: str) -> list[str]:
    """The rules of one namespace (the control plane pushes every namespace's rules)."""
    return sorted(r["metadata"]["name"] for r in dump["snapshot"]["rules"]
                  if r["metadata"].get("namespace") == namespace)


def get(outbound_port: int, host: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", outbound_port, timeout=10)
    try:
        conn.request("GET", f"http://{host}/", headers={"Host": host})
        resp = conn.getresponse()
        return f"{resp.status} {resp.read().decode().strip()}"
    finally:
        conn.close()


def route_rule(namespace: str, version: str) -> dict:
    return {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
            "metadata": {"name": "benigno-canary", "namespace": namespace},
            "spec": {"destination": {"name": "benigno"},
                     "route": [{"labels": {"version": version}, "weight": 100}]}}


def host_address() -> str | None:
    """A non-loopback IPv4 address of this machine: the API server proxies only to those."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True,
                             timeout=5).stdout
        for link in json.loads(out or "[]"):
            for addr in link.get("addr_info", []):
                ip = addr.get("local", "")
                if ip and not ip.startswith(("127.", "169.254.")):
                    return ip
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return None


@pytest.fixture
def procs(tmp_path):
    started: list[subprocess.Popen] = []
    yield started
    for p in reversed(started):
        p.terminate()
    for p in started:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def start_app(procs, host: str, port: int, version: str) -> None:
    procs.append(subprocess.Popen(
        [sys.executable, str(ROOT / "samples/services/benigno.py"), "--host", host, "--port",
         str(port), "--version", version], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def start_benigno_v1_v2(procs) -> int:
    """benigno v1 at V1 and v2 at V2, both on one free port (their pods' IPs): the port."""
    port = free_port()
    start_app(procs, V1, port, "v1")
    start_app(procs, V2, port, "v2")
    return port


def start_sidecar(procs, tmp_path, cp_address: str, namespace: str) -> dict:
    ports = {name: free_port() for name in ("app", "inbound", "outbound", "admin")}
    log = open(tmp_path / "sidecar.log", "wb")
    env = {**os.environ, "POD_NAMESPACE": namespace}
    procs.append(subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--control-plane", cp_address, "--service", "sleep",
         "--proxy-id", f"sleep.{namespace}", "--app-port", str(ports["app"]),
         "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
         "--admin-port", str(ports["admin"])], stdout=log, stderr=log, env=env))
    return ports


def proxy_status(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([*MESHTOOL, "proxy-status", *args], capture_output=True, text=True,
                          timeout=30, env=env)


def expose_control_plane(core, namespace: str, ip: str, port: int) -> None:
    """What the install and the controllers would make: a pod of the control plane at the
    host's address (its status set as the kubelet would), its Service, and the Endpoints the
    endpoints controller would write. The service proxy only goes to addresses of real Pods."""
    name = "meshtool-control-plane"
    create_pod(core, namespace, f"{name}-0", {"app": name})
    set_pod_status(core, namespace, f"{name}-0", ip, ready=True)
    create_service(core, namespace, name, None, port=15010, target=port)
    core.create_namespaced_endpoints(namespace, {
        "metadata": {"name": name},
        "subsets": [{"addresses": [{"ip": ip, "targetRef": {
            "kind": "Pod", "namespace": namespace, "name": f"{name}-0"}}],
            "ports": [{"port": port, "protocol": "TCP"}]}]})


def test_rule_and_pod_changes_reach_a_real_sidecar(kube_cluster, kube_namespace, meshtool_crds,
                                                   procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    app_port = start_benigno_v1_v2(procs)
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=app_port)
    create_pod(core, ns, "benigno-v1", {"app": "benigno", "version": "v1"})
    set_pod_status(core, ns, "benigno-v1", V1, ready=True)

    # On all addresses: the sidecar uses loopback, the API server's service proxy the host's.
    ip = host_address()
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns,
               "--listen", f"0.0.0.0:{cp.port}")
    with cp.start(timeout=30):
        table = cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
        assert table["workloads"] == "kubernetes"
        sidecar = start_sidecar(procs, tmp_path, cp.address, ns)
        admin, outbound = sidecar["admin"], sidecar["outbound"]
        pid = f"sleep.{ns}"

        def synced(t):
            return [p["status"] for p in t["proxies"] if p["proxyId"] == pid] == ["SYNCED"]

        # The Service's Ready pod is its endpoint; requests through the sidecar reach it.
        cp.wait_for(synced, 30)
        wait(lambda: endpoints(config_dump(admin), "benigno") == [(V1, "v1")], what="v1 only")
        dump = config_dump(admin)
        assert dump["snapshot"]["services"][0]["addresses"]  # the Service's cluster IP
        assert get(outbound, f"benigno.{ns}:5000") == "200 Hello World, Benigno"

        # Pod change: a new pod joins when it becomes Ready, not before.
        create_pod(core, ns, "benigno-v2", {"app": "benigno", "version": "v2"})
        set_pod_status(core, ns, "benigno-v2", V2, ready=False)
        time.sleep(0.3)
        assert endpoints(config_dump(admin), "benigno") == [(V1, "v1")]
        set_pod_status(core, ns, "benigno-v2", V2, ready=True)
        wait(lambda: endpoints(config_dump(admin), "benigno") == [(V1, "v1"), (V2, "v2")],
             what="both pods")

        # Rule change, written raw as a custom object: everything to v2.
        custom.create_namespaced_custom_object("config.meshtool.io", "v1alpha1", ns,
                                               "routerules", route_rule(ns, "v2"))
        wait(lambda: rule_names(config_dump(admin), ns) == ["benigno-canary"], what="the rule")
        assert {get(outbound, f"benigno.{ns}:5000") for _ in range(6)} == {
            "200 Hello World, Benigno, Canary Release"}

        # A pod becoming not ready leaves the endpoints; the rule now points back at v1.
        set_pod_status(core, ns, "benigno-v2", V2, ready=False)
        wait(lambda: endpoints(config_dump(admin), "benigno") == [(V1, "v1")], what="v1 again")
        custom.replace_namespaced_custom_object(
            "config.meshtool.io", "v1alpha1", ns, "routerules", "benigno-canary",
            {**route_rule(ns, "v1"), "metadata": {
                **route_rule(ns, "v1")["metadata"],
                "resourceVersion": custom.get_namespaced_custom_object(
                    "config.meshtool.io", "v1alpha1", ns, "routerules",
                    "benigno-canary")["metadata"]["resourceVersion"]}})
        wait(lambda: config_dump(admin)["snapshot"]["rules"][0]["spec"]["route"][0]["labels"]
             == {"version": "v1"}, what="the replaced rule")
        assert get(outbound, f"benigno.{ns}:5000") == "200 Hello World, Benigno"

        # proxy-status, pointed at the address: the sidecar has the latest snapshot.
        t = cp.wait_for(synced, 15)
        direct = proxy_status("--control-plane", cp.address)
        assert direct.returncode == 0, direct.stderr
        (row,) = [line for line in direct.stdout.splitlines() if line.startswith(pid)]
        assert "SYNCED" in row and t["version"] in row

        # ...and the cluster's way, through the API server's service proxy.
        if ip is None:
            pytest.skip("no non-loopback address on this machine: the API server proxies to "
                        "no loopback endpoint, so the service proxy cannot be exercised here")
        expose_control_plane(core, ns, ip, cp.port)
        via = proxy_status("--kubernetes", "-n", ns, "-o", "json",
                           kubeconfig=kube_cluster.kubeconfig)
        assert via.returncode == 0, via.stderr
        table = json.loads(via.stdout)
        assert [(p["proxyId"], p["status"]) for p in table["proxies"]] == [(pid, "SYNCED")]
        assert table["version"] == t["version"]
        # One proxy compared with the control plane's intent, read through the service proxy.
        same = proxy_status(pid, "--kubernetes", "-n", ns, kubeconfig=kube_cluster.kubeconfig)
        assert same.returncode == 0, same.stderr
        assert f"proxy {pid} is in sync" in same.stdout
        # The dashboard reads the cluster's control plane the same way (meshtool dashboard -k).
        board = subprocess.Popen(
            [*MESHTOOL, "dashboard", "--kubernetes", "-n", ns, "--address",
             f"127.0.0.1:{free_port()}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env={**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)})
        try:
            url = board.stdout.readline().strip()
            with urllib.request.urlopen(url + "api/proxies", timeout=15) as r:
                rows = json.loads(r.read())
            assert [(p["proxyId"], p["status"]) for p in rows] == [(pid, "SYNCED")]
            with urllib.request.urlopen(url + "api/policies", timeout=15) as r:
                assert [p["name"] for p in json.loads(r.read())] == ["benigno-canary"]
        finally:
            board.terminate()
            board.wait(10)
