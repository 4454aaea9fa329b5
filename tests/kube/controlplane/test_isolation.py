"""One invalid rule never poisons the mesh (Kubernetes mode, real API server, real sidecars).

A RouteRule whose weights sum to 70 passes the CRD schema (it cannot say "sums to 100") when it
is posted straight to the API server. The control plane must leave it out of every snapshot,
report it (status condition, Event, metric, sync table, proxy-status) and keep serving every
other rule; fixed, it goes live.
"""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess

from .kubeobjects import create_pod, create_service, set_pod_status
from .test_kube_mode import (V1, V2, config_dump, get, proxy_status, route_rule, rule_names,
                             start_benigno_v1_v2, start_sidecar, wait)
from .test_kube_mode import procs  # noqa: F401 - the fixture

GROUP, VERSION = "config.meshtool.io", "v1alpha1"


def bad_sum(namespace: str, second: int = 20) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RouteRule",
            "metadata": {"name": "bad-sum", "namespace": namespace},
            "spec": {"destination": {"name": "magnanimo"},
                     "route": [{"labels": {"version": "v1"}, "weight": 50},
                               {"labels": {"version": "v2"}, "weight": second}]}}


def names(admin_port: int, ns: str) -> list[str]:
    dump = config_dump(admin_port)
    return rule_names(dump, ns) if dump.get("snapshot") else []


def accepted(custom, ns: str) -> dict | None:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "routerules", "bad-sum")
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Accepted"), None)


def test_an_invalid_rule_is_isolated_reported_and_goes_live_when_fixed(
        kube_cluster, kube_namespace, meshtool_crds, procs, tmp_path):  # noqa: F811
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    app_port = start_benigno_v1_v2(procs)
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=app_port)
    for name, ip in (("benigno-v1", V1), ("benigno-v2", V2)):
        create_pod(core, ns, name, {"app": "benigno", "version": name[-2:]})
        set_pod_status(core, ns, name, ip, ready=True)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "routerules", route_rule(ns, "v2"))

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    with cp.start(timeout=30):
        sidecar = start_sidecar(procs, tmp_path, cp.address, ns)
        pid = f"sleep.{ns}"

        def synced(t):
            return [(p["status"], p["acked"] and p["acked"]["version"]) for p in t["proxies"]
                    if p["proxyId"] == pid] == [("SYNCED", t["version"])]

        cp.wait_for(synced, 30)
        wait(lambda: names(sidecar["admin"], ns) == ["benigno-canary"])

        # Posted straight to the API server: accepted there, isolated here.
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "routerules", bad_sum(ns))
        t = cp.wait_for(lambda t: t["invalid"] and synced(t), 20)
        assert t["invalid"] == [{
            "kind": "RouteRule", "namespace": ns, "name": "bad-sum",
            "resourceVersion": t["invalid"][0]["resourceVersion"],
            "problems": ["spec.route[1].weight: weights sum to 70, must be 100"]}]
        assert names(sidecar["admin"], ns) == ["benigno-canary"]
        assert {get(sidecar["outbound"], f"benigno.{ns}:5000") for _ in range(4)} == {
            "200 Hello World, Benigno, Canary Release"}

        # A sidecar connecting now gets configuration at once (not "no configuration yet").
        late = start_sidecar(procs, tmp_path, cp.address, ns)
        wait(lambda: names(late["admin"], ns) == ["benigno-canary"])
        assert get(late["outbound"], f"benigno.{ns}:5000") == \
            "200 Hello World, Benigno, Canary Release"

        # Reported: status condition, a Warning Event, the metric, proxy-status.
        condition = wait(lambda: accepted(custom, ns), what="the Accepted condition")
        assert (condition["status"], condition["reason"]) == ("False", "Invalid")
        assert condition["message"] == "spec.route[1].weight: weights sum to 70, must be 100"
        events = wait(lambda: [e for e in core.list_namespaced_event(ns).items
                               if e.involved_object.name == "bad-sum"], what="the Event")
        assert events[0].type == "Warning" and "weights sum to 70" in events[0].message
        assert events[0].involved_object.kind == "RouteRule"
        metrics = urllib.request.urlopen(f"http://{cp.address}/metrics", timeout=5).read()
        assert b"meshtool_controlplane_invalid_resources 1\n" in metrics
        status = proxy_status("--control-plane", cp.address)
        assert status.returncode == 0
        assert (f"invalid: RouteRule {ns}/bad-sum is left out of every snapshot: "
                "spec.route[1].weight: weights sum to 70, must be 100") in status.stderr

        # Fixed through the API: it goes live, the status says so.
        fixed = bad_sum(ns, 50)
        fixed["metadata"]["resourceVersion"] = custom.get_namespaced_custom_object(
            GROUP, VERSION, ns, "routerules", "bad-sum")["metadata"]["resourceVersion"]
        custom.replace_namespaced_custom_object(GROUP, VERSION, ns, "routerules", "bad-sum", fixed)
        cp.wait_for(lambda t: not t["invalid"] and synced(t), 20)
        wait(lambda: names(sidecar["admin"], ns) == ["bad-sum", "benigno-canary"])
        condition = wait(lambda: (accepted(custom, ns) or {}).get("status") == "True"
                         and accepted(custom, ns), what="Accepted=True")
        assert condition["reason"] == "Valid"
        dump = json.loads(urllib.request.urlopen(f"http://{cp.address}/debug/config_dump",
                                                 timeout=5).read())
        assert dump["invalid"] == []
