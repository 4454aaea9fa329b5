"""The ingress gateway in Kubernetes mode, against the real API server: Ingresses created with
the Kubernetes API are read by `meshtool control-plane --store kubernetes`, compiled and pushed
to a real `meshtool gateway run`, which serves them; the served Ingress gets the gateway's
address in its status, a bad one a Warning Event.

The walkthrough's Ingress (samples/ingress/ingress.yaml) is extensions/v1beta1, which this API
server (Kubernetes >= 1.22) no longer serves: it is created here in its networking.k8s.io/v1
form, field for field (serviceName/servicePort -> service.name/port.number, a pathType
ImplementationSpecific as the legacy form implies), with the backend benigno instead of
magnanimo so that one sample app answers.
"""

from __future__ import annotations

import http.client
import subprocess
from pathlib import Path

from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess, free_port

from .kubeobjects import create_pod, create_service, set_pod_status
from .test_kube_mode import MESHTOOL, V1, procs, start_app, wait  # noqa: F401 - procs: fixture

WALKTHROUGH_V1 = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "route1", "annotations": {"konghq.com/strip-path": "true"}},
    "spec": {"rules": [{"http": {"paths": [{
        "path": "/route1", "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": "benigno", "port": {"number": 5000}}}}]}}]},
}
BAD = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "broken"},
    "spec": {"rules": [{"host": "broken.example.com", "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "nowhere", "port": {"number": 80}}}}]}}]},
}


def serve_benigno_v1(procs, core, ns: str) -> None:
    """benigno v1, a real app, behind a Service whose one Ready pod is at its address."""
    app_port = free_port()
    start_app(procs, V1, app_port, "v1")
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=app_port)
    create_pod(core, ns, "benigno-v1", {"app": "benigno", "version": "v1"})
    set_pod_status(core, ns, "benigno-v1", V1, ready=True)


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_ingresses_from_the_api_server_reach_a_real_gateway(kube_cluster, kube_namespace,
                                                            meshtool_crds, procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    net = client.NetworkingV1Api(kube_cluster.api_client)
    ns = kube_namespace
    serve_benigno_v1(procs, core, ns)
    gw_service = create_service(core, ns, "meshtool-gateway", {"app": "gw"}, port=80, target=8080)
    net.create_namespaced_ingress(ns, WALKTHROUGH_V1)

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    http_port, admin = free_port(), free_port()
    with cp.start(timeout=30):
        log = open(tmp_path / "gateway.log", "wb")
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(http_port), "--admin-port", str(admin), "--proxy-id", f"gw.{ns}"],
            stdout=log, stderr=log))
        cp.wait_for(lambda t: [p["status"] for p in t["proxies"]] == ["SYNCED"], 30)

        # strip-path: /route1/x reaches benigno as /x, through the pod the cluster says is Ready
        assert wait(lambda: get(http_port, "/route1/x") == (200, "Hello World, Benigno\n"),
                    what="the Ingress served")
        assert get(http_port, "/elsewhere")[0] == 404

        # The served Ingress shows the gateway's address, as kubectl get ingress does
        def address():
            lb = net.read_namespaced_ingress(WALKTHROUGH_V1["metadata"]["name"], ns).status
            found = lb.load_balancer.ingress if lb and lb.load_balancer else None
            return found and found[0].ip
        assert wait(address, what="the status address") == gw_service.spec.cluster_ip

        # A bad Ingress: not served, a Warning Event says why, and the good one keeps serving
        net.create_namespaced_ingress(ns, BAD)

        def warning():
            events = core.list_namespaced_event(ns, field_selector="involvedObject.name=broken")
            return [e.message for e in events.items if e.type == "Warning"]
        [message] = wait(warning, what="the Warning event")
        assert message == ("not served by the meshtool gateway: backend Service 'nowhere' "
                           f"(namespace '{ns}') not found")
        assert get(http_port, "/route1/x")[0] == 200
        status = net.read_namespaced_ingress("broken", ns).status
        assert not (status.load_balancer and status.load_balancer.ingress)


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
