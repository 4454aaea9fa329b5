"""The Istio multi-cluster walkthrough with two real API servers and real processes.

One control plane (`meshtool control-plane --workloads kubernetes --cluster-name cluster1`) for
two clusters: helloworld v1 and sleep in cluster 1, helloworld v2 in cluster 2, each app with a
real `meshtool proxy run` connected to that one control plane. Before any rule, sleep's calls
reach both versions; the walkthrough's VirtualService (+ DestinationRule subsets) sends them all
to cluster 2; deleting cluster 2's remote secret takes its endpoints out of every sidecar.

No kubelet runs: the Pods' addresses and readiness are set through the status subresource. The
addresses are loopback addresses (127.0.0.2 in cluster 1, 127.0.0.3 in cluster 2), routable from
both "clusters" as on the walkthrough's flat network, where each helloworld's sidecar listens.
Without iptables the sidecar cannot take over the app's port, so each cluster's helloworld Service
targets its sidecar's inbound port (in a pod, the init container's redirect does that).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.conventions import CLUSTER_LABEL, ZONE_LABEL

from .kubeobjects import create_service, set_pod_status
from .test_kube_mode import config_dump, procs, wait  # noqa: F401 - procs is a fixture

ROOT = Path(__file__).resolve().parents[3]
MESHTOOL = [sys.executable, "-m", "meshtool"]
HELLO = {"cluster1": "127.0.0.2", "cluster2": "127.0.0.3"}  # helloworld's pod IP per cluster
VERSION = {"cluster1": "v1", "cluster2": "v2"}


def create_node(core, name: str, region: str, zone: str) -> None:
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name, labels={
        "topology.kubernetes.io/region": region, ZONE_LABEL: zone})))


def create_pod_on(core, ns: str, name: str, labels: dict, node: str) -> None:
    container = client.V1Container(name="app", image="meshtool-test/app:1")
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[container], node_name=node)))


def start(procs, log: Path, *args: str, env: dict | None = None) -> None:
    out = open(log, "wb")
    procs.append(subprocess.Popen(list(args), stdout=out, stderr=out,
                                  env={**os.environ, **(env or {})}))


def start_app(procs, tmp_path, name: str, *args: str) -> int:
    port = free_port()
    start(procs, tmp_path / f"{name}.log", sys.executable,
          str(ROOT / f"samples/services/{name.split('-')[0]}.py"), "--port", str(port), *args)
    return port


def start_sidecar(procs, tmp_path, cp: str, ns: str, name: str, service: str, cluster: str,
                  app_port: int, host: str = "127.0.0.1", version: str | None = None) -> dict:
    ports = {"inbound": free_port(), "outbound": free_port(), "admin": free_port()}
    labels = ["--label", f"version={version}"] if version else []
    start(procs, tmp_path / f"{name}-sidecar.log", *MESHTOOL, "proxy", "run",
          "--control-plane", cp, "--service", service, *labels, "--cluster", cluster,
          "--proxy-id", f"{name}.{ns}", "--listen-host", host, "--app-port", str(app_port),
          "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
          "--admin-port", str(ports["admin"]), env={"POD_NAMESPACE": ns})
    return ports


def hello_endpoints(admin: int) -> list[tuple[str, str, str, str]]:
    """helloworld's endpoints in a sidecar's snapshot: (address, version, cluster, zone)."""
    for svc in (config_dump(admin)["snapshot"] or {}).get("services") or []:
        if svc["name"] == "helloworld":
            return sorted((e["address"], e["labels"].get("version"),
                           e["labels"].get(CLUSTER_LABEL), e["labels"].get(ZONE_LABEL))
                          for e in svc["endpoints"])
    return []


def call(sleep_port: int) -> str:
    """sleep's /call: it calls http://helloworld:5000/hello through its sidecar."""
    with urllib.request.urlopen(f"http://127.0.0.1:{sleep_port}/call", timeout=15) as r:
        return r.read().decode().split(",")[0]  # "Hello version: v2"


def test_the_walkthrough_across_two_real_clusters(kube_cluster, kube_cluster_2, kube_namespace,
                                                  procs, tmp_path):
    ns = kube_namespace
    cores = {"cluster1": client.CoreV1Api(kube_cluster.api_client),
             "cluster2": client.CoreV1Api(kube_cluster_2.api_client)}
    cores["cluster2"].create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    cores["cluster2"].create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="default")))
    nodes = {"cluster1": f"{ns}-node-1", "cluster2": f"{ns}-node-2"}
    try:
        made = subprocess.run(
            [*MESHTOOL, "create-remote-secret", "--context", "meshtool-test", "--name",
             "cluster2"], capture_output=True, text=True, timeout=60,
            env={**os.environ, "KUBECONFIG": str(kube_cluster_2.kubeconfig)})
        assert made.returncode == 0, made.stderr
        secret = yaml.safe_load(made.stdout)
        secret["metadata"]["namespace"] = ns  # the control plane's namespace ($POD_NAMESPACE)

        store = tmp_path / "mesh.db"
        cp = ControlPlaneProcess(store, log=tmp_path / "cp.log", env={"POD_NAMESPACE": ns},
                                 args=("--workloads", "kubernetes", "--cluster-name", "cluster1",
                                       "--kubeconfig", str(kube_cluster.kubeconfig),
                                       "--context", "meshtool-test", "-n", ns))
        with cp.start(timeout=30):
            admins = {}
            for cluster, ip in HELLO.items():
                core, version = cores[cluster], VERSION[cluster]
                create_node(core, nodes[cluster], "region-1", f"zone-{cluster[-1]}")
                app = start_app(procs, tmp_path, f"helloworld-{version}", "--version", version)
                sidecar = start_sidecar(procs, tmp_path, cp.address, ns, f"helloworld-{version}",
                                        "helloworld", cluster, app, host=ip, version=version)
                admins[f"helloworld-{version}"] = sidecar["admin"]
                # each cluster's Service targets its own sidecar's inbound port (see above)
                create_service(core, ns, "helloworld", {"app": "helloworld"}, port=5000,
                               target=sidecar["inbound"])
                pod = f"helloworld-{version}"
                create_pod_on(core, ns, pod, {"app": "helloworld", "version": version},
                              nodes[cluster])
                set_pod_status(core, ns, pod, ip, ready=True)
            sleep_app = free_port()
            sidecar = start_sidecar(procs, tmp_path, cp.address, ns, "sleep", "sleep",
                                    "cluster1", sleep_app)
            admins["sleep"] = sidecar["admin"]
            start(procs, tmp_path / "sleep.log", sys.executable,
                  str(ROOT / "samples/services/sleep.py"), "--port", str(sleep_app),
                  env={"HTTP_PROXY": f"http://127.0.0.1:{sidecar['outbound']}",
                       "NO_PROXY": "127.0.0.1"})

            v1 = ("127.0.0.2", "v1", "cluster1", "zone-1")
            v2 = ("127.0.0.3", "v2", "cluster2", "zone-2")
            for admin in admins.values():  # cluster 1 only, until the remote secret is applied
                wait(lambda a=admin: hello_endpoints(a) == [v1], 30, "cluster 1's endpoint")
            assert {call(sleep_app) for _ in range(4)} == {"Hello version: v1"}

            # The remote secret, applied in the primary: cluster 2's endpoint joins at run time.
            cores["cluster1"].create_namespaced_secret(ns, secret)
            for admin in admins.values():
                wait(lambda a=admin: hello_endpoints(a) == [v1, v2], 30, "both clusters")
            seen = [call(sleep_app) for _ in range(10)]  # round robin over both endpoints
            assert sorted(set(seen)) == ["Hello version: v1", "Hello version: v2"], seen
            assert seen.count("Hello version: v2") == 5, seen

            # The walkthrough's rules: everything to subset v2, which is cluster 2's pod.
            created = subprocess.run(
                [*MESHTOOL, "create", "-f", str(ROOT / "samples/helloworld/istio"), "-n", ns, "--store",
                 str(store)], capture_output=True, text=True, timeout=60)
            assert created.returncode == 0, created.stderr
            wait(lambda: any(r["kind"] == "RouteRule" for r in
                             config_dump(admins["sleep"])["snapshot"]["rules"]), 20, "the rule")
            assert {call(sleep_app) for _ in range(10)} == {"Hello version: v2"}

            # proxy-status shows each proxy's cluster.
            status = subprocess.run([*MESHTOOL, "proxy-status", "--control-plane", cp.address],
                                    capture_output=True, text=True, timeout=30,
                                    env={**os.environ, "NO_COLOR": "1"})
            assert status.returncode == 0, status.stderr
            assert "CLUSTER" in status.stdout.splitlines()[0]
            rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:]}
            assert "cluster2" in rows[f"helloworld-v2.{ns}"]
            assert "cluster1" in rows[f"sleep.{ns}"]

            # Removing the remote secret removes cluster 2's endpoints from every sidecar.
            cores["cluster1"].delete_namespaced_secret(secret["metadata"]["name"], ns)
            for admin in admins.values():
                wait(lambda a=admin: hello_endpoints(a) == [v1], 30, "cluster 1 only again")
            # The VirtualService still sends everything to v2, which now has no endpoint.
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{sleep_app}/call", timeout=15)
                raise AssertionError("a call reached v2 after its cluster was removed")
            except urllib.error.HTTPError as exc:
                assert exc.code == 503 and b"no healthy upstream" in exc.read()
    finally:
        cores["cluster2"].delete_namespace(ns)
        for cluster, core in cores.items():
            try:
                core.delete_node(nodes[cluster])
            except client.ApiException:
                pass
