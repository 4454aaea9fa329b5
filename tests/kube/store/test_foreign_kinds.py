"""Other meshes' APIs in a real API server: the Gateway API CRDs of a pinned release (from the Go
module sigs.k8s.io/gateway-api, scripts/gateway-api-crds.sh) and a minimal VirtualService /
DestinationRule pair. Objects created through the API server are read by the kubernetes store as
written and compiled by the control plane, references resolved across them."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from meshtool.testing.processes import ControlPlaneProcess
from meshtool.kube.client import connect
from meshtool.model.compile import compile_resources
from meshtool.store.kubernetes import KubernetesStore

NET = ("networking.istio.io", "v1")
GW = ("gateway.networking.k8s.io", "v1")


def _create(api_client, gv, plural, namespace, body):
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        gv[0], gv[1], namespace, plural, body)


def _delete(api_client, gv, plural, namespace, name):
    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        gv[0], gv[1], namespace, plural, name)


VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "helloworld"},
      "spec": {"hosts": ["helloworld"],
               "http": [{"route": [{"destination": {"host": "helloworld", "subset": "v2"}}]}]}}
DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
      "metadata": {"name": "helloworld"},
      "spec": {"host": "helloworld", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]}}
ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "benigno-canary"},
         "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "benigno", "port": 5000}],
                  "rules": [{"backendRefs": [{"name": "benigno-v1", "port": 5000, "weight": 90},
                                             {"name": "benigno-v2", "port": 5000, "weight": 10}]}]}}


def test_store_reads_other_apis_as_written_and_they_compile(kube_cluster, foreign_crds,
                                                            kube_namespace):
    ns, api_client = kube_namespace, kube_cluster.api_client
    _create(api_client, NET, "virtualservices", ns, VS)
    try:
        with KubernetesStore(connect(str(kube_cluster.kubeconfig)), ns) as store:
            assert "VirtualService.networking.istio.io" in store.kinds()
            assert "HTTPRoute.gateway.networking.k8s.io" in store.kinds()
            _, items = store.snapshot(namespace=ns)
            [vs] = items
            assert (vs.kind, vs.api_version, vs.spec) == (
                "VirtualService.networking.istio.io", "networking.istio.io/v1", VS["spec"])
            assert "needs the DestinationRule" in compile_resources(items).unresolved[vs.key][0]
            _create(api_client, NET, "destinationrules", ns, DR)
            _create(api_client, GW, "httproutes", ns, ROUTE)
            _, items = store.snapshot(namespace=ns)
            services = {(ns, s) for s in ("benigno", "benigno-v1", "benigno-v2", "helloworld")}
            compiled = compile_resources(items, services)
            assert compiled.unresolved == {} and compiled.invalid == {}
            by_name = {r.name: r.spec for r in compiled.rules}
            assert by_name["helloworld"]["route"] == [{"labels": {"version": "v2"}}]
            assert [r["weight"] for r in by_name["benigno-canary"]["route"]] == [90, 10]
    finally:
        for gv, plural, name in ((NET, "virtualservices", "helloworld"),
                                 (NET, "destinationrules", "helloworld"),
                                 (GW, "httproutes", "benigno-canary")):
            try:
                _delete(api_client, gv, plural, ns, name)
            except ApiException:
                pass


def test_control_plane_compiles_objects_created_through_the_api_server(
        kube_cluster, foreign_crds, kube_namespace, tmp_path):
    """VS first, DR later, both through the API server: the control plane in Kubernetes mode
    leaves the route out (and says why) until the DR arrives, then pushes it."""
    ns, api_client = kube_namespace, kube_cluster.api_client
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)

    def dump() -> dict:
        try:
            with urllib.request.urlopen(f"http://{cp.address}/debug/config_dump", timeout=5) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 503 until the store and the cluster have been read
            return {"error": e.code}

    def wait(predicate, what):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            d = dump()
            if "error" not in d and predicate(d):
                return d
            time.sleep(0.1)
        raise AssertionError(f"{what}; last dump: {json.dumps(d)[:800]}")

    try:
        with cp.start(timeout=30):
            cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
            _create(api_client, NET, "virtualservices", ns, VS)
            wait(lambda d: any(u["namespace"] == ns and u["name"] == "helloworld"
                               for u in d["leftOut"]["unresolved"]), "VS reported unresolved")
            _create(api_client, NET, "destinationrules", ns, DR)
            d = wait(lambda d: any(r["metadata"].get("namespace") == ns
                                   and r["metadata"]["name"] == "helloworld"
                                   for r in d["snapshot"]["rules"]), "VS compiled once DR exists")
            [rule] = [r for r in d["snapshot"]["rules"] if r["metadata"].get("namespace") == ns]
            assert rule["spec"]["route"] == [{"labels": {"version": "v2"}}]
            _delete(api_client, NET, "destinationrules", ns, "helloworld")
            wait(lambda d: any(u["namespace"] == ns for u in d["leftOut"]["unresolved"]),
                 "VS unresolved again once the DR is deleted")
    finally:
        for plural in ("virtualservices", "destinationrules"):
            try:
                _delete(api_client, NET, plural, ns, "helloworld")
            except ApiException:
                pass


def test_check_says_which_api_groups_of_other_projects_it_found(kube_cluster, foreign_crds):
    import sys

    r = subprocess.run([sys.executable, "-m", "meshtool", "check", "--kubeconfig",
                        str(kube_cluster.kubeconfig), "-n", "meshtool-check-groups"],
                       capture_output=True, text=True, timeout=120)
    lines = {line.split(" (")[0].strip(): line for line in r.stdout.splitlines()
             if "API group" in line}
    gateway = lines["√ API group gateway.networking.k8s.io"]
    assert "found HTTPRoute v1/v1beta1, GRPCRoute v1;" in gateway, gateway
    assert "found VirtualService v1, DestinationRule v1;" in lines["√ API group networking.istio.io"]
    assert "not installed" in lines["√ API group kuma.io"]
