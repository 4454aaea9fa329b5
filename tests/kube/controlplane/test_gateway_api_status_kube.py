"""Gateway API status against the real API server and the Gateway API's own CRDs: the control
plane writes, as a Gateway API controller does, the gateway's address and Programmed on a
Gateway of class `meshtool`, and on each HTTPRoute attached to it whether it is accepted and
its backends resolved (`kubectl get gateway`, `kubectl describe httproute`)."""

from __future__ import annotations

from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess

from .kubeobjects import create_service
from .test_gateway_tls_crds_kube import gateway_crds  # noqa: F401 - a fixture
from .test_kube_mode import wait

GW = ("gateway.networking.k8s.io", "v1")


def route(name: str, parent: str, backend: str) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": parent}],
                     "rules": [{"backendRefs": [{"name": backend, "port": 5000}]}]}}


def test_gateways_and_their_routes_get_a_controllers_status(kube_cluster, kube_namespace,
                                                             meshtool_crds, gateway_crds,
                                                             tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=5000)
    gw_service = create_service(core, ns, "meshtool-gateway", {"app": "gw"}, port=80,
                                target=8080)
    custom.create_namespaced_custom_object(*GW, ns, "gateways", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"gatewayClassName": "meshtool",
                 "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}]}})
    for name, parent, backend in (("good", "edge", "benigno"), ("nobackend", "edge", "nowhere"),
                                  ("orphan", "gone", "benigno")):
        custom.create_namespaced_custom_object(*GW, ns, "httproutes",
                                               route(name, parent, backend))

    def status(plural: str, name: str) -> dict:
        return custom.get_namespaced_custom_object(*GW, ns, plural, name).get("status") or {}

    def conditions(found: list) -> dict:
        return {c["type"]: (c["status"], c["reason"]) for c in found or []}

    def ours(name: str) -> dict | None:
        parents = [p for p in status("httproutes", name).get("parents") or []
                   if p["controllerName"] == "meshtool.io/gateway"]
        return conditions(parents[0]["conditions"]) if parents else None

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    with cp.start(timeout=30):
        wait(lambda: status("gateways", "edge").get("addresses"), timeout=30,
             what="the Gateway's address")
        edge = status("gateways", "edge")
        assert edge["addresses"] == [{"type": "IPAddress", "value": gw_service.spec.cluster_ip}]
        assert conditions(edge["conditions"]) == {"Accepted": ("True", "Accepted"),
                                                  "Programmed": ("True", "Programmed")}
        assert wait(lambda: ours("good"), what="the good route's status") == {
            "Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")}
        assert wait(lambda: ours("nobackend"), what="the route with no backend") == {
            "Accepted": ("True", "Accepted"), "ResolvedRefs": ("False", "BackendNotFound")}
        assert wait(lambda: ours("orphan"), what="the route with no parent")["Accepted"] == (
            "False", "NoMatchingParent")
        # the backend appears: the route's status follows
        core.create_namespaced_service(ns, client.V1Service(
            metadata=client.V1ObjectMeta(name="nowhere"), spec=client.V1ServiceSpec(
                ports=[client.V1ServicePort(port=5000)], selector={"app": "nowhere"})))
        wait(lambda: ours("nobackend")["ResolvedRefs"] == ("True", "ResolvedRefs"),
             what="the route resolved")


def test_istio_gateway_resources_the_gateway_cannot_serve_get_a_warning_event(
        kube_cluster, kube_namespace, meshtool_crds, gateway_crds, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    istio = ("networking.istio.io", "v1")
    custom.create_namespaced_custom_object(*istio, ns, "gateways", {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "tcp"},
        "spec": {"servers": [{"port": {"number": 9000, "name": "tcp", "protocol": "TCP"},
                              "hosts": ["*"]}]}})
    custom.create_namespaced_custom_object(*istio, ns, "virtualservices", {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "shop"},
        "spec": {"hosts": ["shop.example.com"], "gateways": ["missing"],
                 "http": [{"route": [{"destination": {"host": "benigno"}}]}]}})

    def warnings(name: str) -> list[str]:
        events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
        return [e.message for e in events.items if e.type == "Warning"]

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns)
    with cp.start(timeout=30):
        [gateway] = wait(lambda: warnings("tcp"), what="the Gateway's Warning event")
        assert gateway.startswith("not served by the meshtool gateway: spec.servers[0]")
        assert "'TCP'" in gateway
        [route] = wait(lambda: warnings("shop"), what="the VirtualService's Warning event")
        assert route == ("not served by the meshtool gateway: spec.gateways[0]: Gateway "
                         "'missing' not found")
