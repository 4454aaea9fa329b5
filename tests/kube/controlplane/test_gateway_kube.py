"""The ingress gateway in Kubernetes mode, against the real API server: the Kong walkthrough's
steps 5 and 6. Ingresses created with the Kubernetes API are read by `meshtool control-plane
--store kubernetes`, compiled and pushed to a real `meshtool gateway run`, which serves them;
the served Ingress gets the gateway's address in its status, a bad one a Warning Event and an
analyze finding.

The walkthrough's Ingress (samples/ingress/ingress.yaml, read verbatim) is extensions/v1beta1,
which this API server (Kubernetes >= 1.22) no longer serves: the test shows the API server
refusing it, then creates it in its networking.k8s.io/v1 form, rewritten field for field as
docs/gateway.md tells users to (serviceName/servicePort -> service.name/port.number, pathType
ImplementationSpecific as the legacy form implies). Its backend is magnanimo, as in the
walkthrough, whose calls to benigno go through its own sidecar and follow the canary split.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from meshtool.testing.processes import ControlPlaneProcess, free_port

from .kubeobjects import create_pod, create_service, set_pod_status
from .test_kube_mode import (MESHTOOL, ROOT, V1, V2, config_dump, procs,  # noqa: F401
                             route_rule, rule_names, start_app, wait)  # procs: a fixture

WALKTHROUGH = ROOT / "samples" / "ingress" / "ingress.yaml"
MAGNANIMO = "127.0.0.4"  # magnanimo's pod IP (V1, V2: benigno's)
BAD = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "broken"},
    "spec": {"rules": [{"host": "broken.example.com", "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "nowhere", "port": {"number": 80}}}}]}}]},
}


def as_v1(legacy: dict) -> dict:
    """The walkthrough's extensions/v1beta1 Ingress as networking.k8s.io/v1, field for field."""
    doc = copy.deepcopy(legacy)
    doc["apiVersion"] = "networking.k8s.io/v1"
    for rule in doc["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            old = path.pop("backend")
            path["pathType"] = "ImplementationSpecific"
            path["backend"] = {"service": {"name": old["serviceName"],
                                           "port": {"number": old["servicePort"]}}}
    return doc


def serve_benigno_v1(procs, core, ns: str) -> None:
    """benigno v1, a real app, behind a Service whose one Ready pod is at its address."""
    app_port = free_port()
    start_app(procs, V1, app_port, "v1")
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=app_port)
    create_pod(core, ns, "benigno-v1", {"app": "benigno", "version": "v1"})
    set_pod_status(core, ns, "benigno-v1", V1, ready=True)


def serve_the_canary(procs, core, ns: str, tmp_path: Path, cp_address: str) -> int:
    """benigno v1 and v2, and magnanimo, whose calls to benigno go out through its sidecar
    (HTTP_PROXY, as in the local mesh: no iptables here), all behind Ready pods. Returns the
    sidecar's admin port."""
    serve_benigno_v1(procs, core, ns)
    start_app(procs, V2, core.read_namespaced_service("benigno", ns).spec.ports[0].target_port,
              "v2")
    create_pod(core, ns, "benigno-v2", {"app": "benigno", "version": "v2"})
    set_pod_status(core, ns, "benigno-v2", V2, ready=True)
    ports = {name: free_port() for name in ("app", "inbound", "outbound", "admin")}
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy")}
    procs.append(subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--control-plane", cp_address, "--service", "magnanimo",
         "--proxy-id", f"magnanimo-v1.{ns}", "--app-port", str(ports["app"]),
         "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
         "--admin-port", str(ports["admin"])], env={**env, "POD_NAMESPACE": ns},
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "sidecar.log", "wb")))
    procs.append(subprocess.Popen(
        [sys.executable, str(ROOT / "samples/services/magnanimo.py"), "--host", MAGNANIMO,
         "--port", str(ports["app"])], env={**env, "HTTP_PROXY": f"http://127.0.0.1:"
                                                                 f"{ports['outbound']}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    create_service(core, ns, "magnanimo", {"app": "magnanimo"}, port=4000, target=ports["app"])
    create_pod(core, ns, "magnanimo-v1", {"app": "magnanimo", "version": "v1"})
    set_pod_status(core, ns, "magnanimo-v1", MAGNANIMO, ready=True)
    return ports["admin"]


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_the_walkthroughs_ingress_reaches_a_real_gateway_and_the_split_is_seen_from_outside(
        kube_cluster, kube_namespace, meshtool_crds, procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    net = client.NetworkingV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    walkthrough = yaml.safe_load(WALKTHROUGH.read_text())
    assert walkthrough["apiVersion"] == "extensions/v1beta1"
    with pytest.raises(ApiException) as refused:  # as `kubectl apply` of it is refused
        custom.create_namespaced_custom_object("extensions", "v1beta1", ns, "ingresses",
                                               walkthrough)
    assert refused.value.status == 404
    ingress = net.create_namespaced_ingress(ns, as_v1(walkthrough))
    assert ingress.metadata.annotations == {"konghq.com/strip-path": "true"}
    gw_service = create_service(core, ns, "meshtool-gateway", {"app": "gw"}, port=80, target=8080)

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    http_port, admin = free_port(), free_port()
    with cp.start(timeout=30):
        sidecar_admin = serve_the_canary(procs, core, ns, tmp_path, cp.address)
        log = open(tmp_path / "gateway.log", "wb")
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(http_port), "--admin-port", str(admin), "--proxy-id", f"gw.{ns}"],
            stdout=log, stderr=log))
        cp.wait_for(lambda t: sorted((p["kind"], p["status"]) for p in t["proxies"]) == [
            ("gateway", "SYNCED"), ("sidecar", "SYNCED")], 30)

        # strip-path: /route1/hw2 reaches magnanimo as /hw2 (else it would greet), which calls
        # benigno through its sidecar; /route1 alone is magnanimo's /
        assert wait(lambda: get(http_port, "/route1/hw2")[0] == 200, timeout=30,
                    what="the Ingress served")
        assert get(http_port, "/route1") == (200, "Hello World, Magnanimo\n")
        assert get(http_port, "/route1x")[0] == 404  # whole segments
        assert get(http_port, "/elsewhere")[0] == 404

        # The served Ingress shows the gateway's address, as kubectl get ingress does
        def address():
            lb = net.read_namespaced_ingress(ingress.metadata.name, ns).status
            found = lb.load_balancer.ingress if lb and lb.load_balancer else None
            return found and found[0].ip
        assert wait(address, what="the status address") == gw_service.spec.cluster_ip

        # Step 6: the canary's 90/10 (a RouteRule custom object), seen exactly from outside
        rule = route_rule(ns, "v1")
        rule["spec"]["route"] = [{"labels": {"version": "v1"}, "weight": 90},
                                 {"labels": {"version": "v2"}, "weight": 10}]
        custom.create_namespaced_custom_object("config.meshtool.io", "v1alpha1", ns,
                                               "routerules", rule)
        wait(lambda: "benigno-canary" in rule_names(config_dump(sidecar_admin), ns),
             what="the rule in magnanimo's sidecar")
        seen = Counter()
        for _ in range(100):
            status, body = get(http_port, "/route1/hw2")
            assert status == 200, body
            seen["v2" if "Canary Release" in body else "v1"] += 1
        assert seen == {"v1": 90, "v2": 10}

        # A bad Ingress: not served, a Warning Event says why, and the good one keeps serving
        net.create_namespaced_ingress(ns, BAD)

        def warning():
            events = core.list_namespaced_event(ns, field_selector="involvedObject.name=broken")
            return [e.message for e in events.items if e.type == "Warning"]
        [message] = wait(warning, what="the Warning event")
        assert message == ("not served by the meshtool gateway: backend Service 'nowhere' "
                           f"(namespace '{ns}') not found")
        assert get(http_port, "/route1/hw2")[0] == 200
        status = net.read_namespaced_ingress("broken", ns).status
        assert not (status.load_balancer and status.load_balancer.ingress)

    # ...and analyze of the cluster (its Ingresses with its Services) finds it too
    r = subprocess.run([*MESHTOOL, "analyze", "--use-store", "--store", "kubernetes",
                        "--use-kube", "-n", ns, "--kubeconfig", str(kube_cluster.kubeconfig),
                        "-o", "json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 79, r.stderr
    found = [(m["code"], m["resource"]["kind"], m["resource"]["name"], m.get("field"))
             for m in json.loads(r.stdout) if m["code"].startswith("MT01")]  # routing
    assert found == [("MT0105", "GatewayRoute", "broken", "spec.backends[0].service.name")], \
        r.stdout


def test_install_gateway_objects_are_accepted_by_the_api_server(kube_cluster, kube_namespace):
    import yaml

    from meshtool.kube import objects

    out = subprocess.run([*MESHTOOL, "install", "--gateway", "--dry-run", "-n", kube_namespace],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    gateway = [d for d in docs if d["metadata"]["name"] in ("meshtool-gateway", "meshtool")
               and d["kind"] in ("Deployment", "Service", "ServiceAccount", "IngressClass")]
    assert sorted(d["kind"] for d in gateway) == ["Deployment", "IngressClass", "Service",
                                                  "ServiceAccount"]
    deploy = next(d for d in gateway if d["kind"] == "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["gateway", "run", "--control-plane",
                        f"meshtool-control-plane.{kube_namespace}.svc:15010"]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"],
            "verbs": ["get", "patch"]} in role["rules"]
    # the TLS Secrets Ingresses and Gateways name: read with --gateway only (docs/kubernetes.md)
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
    assert secrets in role["rules"]
    assert "--https-port" in args
    service = next(d for d in gateway if d["kind"] == "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [80, 443]
    plain = subprocess.run([*MESHTOOL, "install", "--dry-run", "-n", kube_namespace],
                           capture_output=True, text=True, timeout=60)
    plain_role = next(d for d in yaml.safe_load_all(plain.stdout)
                      if d and d["kind"] == "ClusterRole")
    assert secrets not in plain_role["rules"]
    for doc in gateway:  # the API server accepts each of them (server-side dry run)
        objects.apply(kube_cluster.api_client, doc, dry_run=True)


def test_create_of_an_ingress_into_the_kubernetes_store_points_to_kubectl(kube_cluster,
                                                                          kube_namespace):
    ingress = Path(__file__).resolve().parents[3] / "samples" / "ingress" / "ingress.yaml"
    r = subprocess.run([*MESHTOOL, "create", "-f", str(ingress), "--store", "kubernetes",
                        "--kubeconfig", str(kube_cluster.kubeconfig), "-n", kube_namespace],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 65, r.stderr
    assert "GatewayRoute/route1 is a route of the ingress gateway: create the Ingress" in r.stderr
    assert "Traceback" not in r.stderr
