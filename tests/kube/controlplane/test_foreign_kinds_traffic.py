"""Other meshes' APIs created through a real API server reach a real sidecar: a VirtualService
and its DestinationRule (created separately), then a Gateway API HTTPRoute, each steering the
requests a `meshtool proxy run` forwards to two real benigno processes."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess

from .kubeobjects import create_pod, create_service, set_pod_status
from .test_kube_mode import (V1, V2, config_dump, get, procs,  # noqa: F401 - procs: fixture
                             rule_names, start_benigno_v1_v2, start_sidecar, wait)

NET = ("networking.istio.io", "v1")
GW = ("gateway.networking.k8s.io", "v1")
V1_TEXT, V2_TEXT = "200 Hello World, Benigno", "200 Hello World, Benigno, Canary Release"


VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "benigno"},
      "spec": {"hosts": ["benigno"], "http": [
          {"route": [{"destination": {"host": "benigno", "subset": "v2"}}]}]}}


DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
      "metadata": {"name": "benigno"},
      "spec": {"host": "benigno", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]}}
ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "benigno-v1-only"},
         "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "benigno", "port": 5000}],
                  "rules": [{"backendRefs": [{"name": "benigno-v1", "port": 5000, "weight": 1},
                                             {"name": "benigno-v2", "port": 5000, "weight": 0}]}]}}


def left_out(cp: ControlPlaneProcess) -> list[dict]:
    """The routes the control plane leaves out, unresolved, with why."""
    with urllib.request.urlopen(f"http://{cp.address}/debug/config_dump", timeout=5) as r:
        return json.load(r)["leftOut"]["unresolved"]


def test_a_virtualservice_with_its_destinationrule_and_an_httproute_steer_a_real_sidecar(
        kube_cluster, kube_namespace, meshtool_crds, foreign_crds, procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    app_port = start_benigno_v1_v2(procs)
    for name, labels in (("benigno", {"app": "benigno"}),
                         ("benigno-v1", {"app": "benigno", "version": "v1"}),
                         ("benigno-v2", {"app": "benigno", "version": "v2"})):
        create_service(core, ns, name, labels, port=5000, target=app_port)
    for version, ip in (("v1", V1), ("v2", V2)):
        create_pod(core, ns, f"benigno-{version}", {"app": "benigno", "version": version})
        set_pod_status(core, ns, f"benigno-{version}", ip, ready=True)

    def create(gv, plural, body):
        custom.create_namespaced_custom_object(gv[0], gv[1], ns, plural, body)

    def answers(n=8):
        return {get(outbound, f"benigno.{ns}:5000") for _ in range(n)}

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    with cp.start(timeout=30):
        cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
        sidecar = start_sidecar(procs, tmp_path, cp.address, ns)
        admin, outbound = sidecar["admin"], sidecar["outbound"]
        wait(lambda: answers() == {V1_TEXT, V2_TEXT}, what="both versions, no rule yet")

        # The VirtualService alone is not pushed (its subset is unresolved); with the
        # DestinationRule, created by another command, every request goes to v2.
        create(NET, "virtualservices", VS)
        wait(lambda: any(u["namespace"] == ns and u["name"] == "benigno"
                         for u in left_out(cp)),
             what="the VirtualService reported unresolved")
        assert rule_names(config_dump(admin), ns) == []
        create(NET, "destinationrules", DR)
        wait(lambda: rule_names(config_dump(admin), ns) == ["benigno"],
             what="the VirtualService at the sidecar")
        assert answers() == {V2_TEXT}

        # Replaced by an HTTPRoute: weight 0 to v2, so every request goes to v1.
        custom.delete_namespaced_custom_object(*NET, ns, "virtualservices", "benigno")
        create(GW, "httproutes", ROUTE)
        wait(lambda: rule_names(config_dump(admin), ns) == ["benigno-v1-only"],
             what="the HTTPRoute at the sidecar")
        assert answers() == {V1_TEXT}
