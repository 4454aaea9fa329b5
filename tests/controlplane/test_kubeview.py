"""The cluster view: Services select Ready Pods; endpoints at podIP:targetPort with Pod labels."""

from hypothesis import given
from hypothesis import strategies as st

from meshtool.controlplane.kubeview import (PODS, SERVICES, ClusterView, pod_info,
                                            service_info)


def pod(name, labels, ip="10.1.0.1", ready=True, ns="shop", ports=None, deleting=False):
    meta = {"name": name, "namespace": ns, "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta,
            "spec": {"containers": [{"name": "app", "ports": ports or []}]},
            "status": {"podIP": ip, "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def service(name, selector, port=80, target=8080, ns="shop", cluster_ip="10.96.0.10"):
    spec = {"selector": selector, "ports": [{"port": port, "targetPort": target}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def view(services, pods):
    v = ClusterView()
    v.replace(SERVICES, [service_info(s) for s in services])
    v.replace(PODS, [pod_info(p) for p in pods])
    return v


def test_selector_picks_ready_pods_of_its_namespace_only():
    v = view([service("benigno", {"app": "benigno"})], [
        pod("b1", {"app": "benigno", "version": "v1"}, ip="10.1.0.2"),
        pod("b2", {"app": "benigno", "version": "v2"}, ip="10.1.0.1"),
        pod("b3", {"app": "benigno", "version": "v3"}, ip="10.1.0.3", ready=False),
        pod("b4", {"app": "benigno", "version": "v4"}, ip="10.1.0.4", deleting=True),
        pod("b5", {"app": "benigno"}, ip=None),
        pod("other", {"app": "benigno"}, ip="10.1.0.9", ns="elsewhere"),
        pod("m1", {"app": "magnanimo"}, ip="10.1.0.5"),
    ])
    assert v.services() == [{
        "name": "benigno", "namespace": "shop", "ports": [80], "addresses": ["10.96.0.10"],
        "endpoints": [
            {"address": "10.1.0.1", "port": 8080, "labels": {"app": "benigno", "version": "v2"}},
            {"address": "10.1.0.2", "port": 8080, "labels": {"app": "benigno", "version": "v1"}},
        ]}]


def test_named_target_port_and_missing_target():
    named = service("s", {"app": "s"}, target="http", cluster_ip=None)
    plain = service("t", {"app": "s"}, port=90, target=None, cluster_ip="None")
    v = view([named, plain], [
        pod("p1", {"app": "s"}, ip="10.1.0.1", ports=[{"name": "http", "containerPort": 5000}]),
        pod("p2", {"app": "s"}, ip="10.1.0.2"),  # no port named http: not an endpoint of s
    ])
    s, t = v.services()
    assert s["endpoints"] == [{"address": "10.1.0.1", "port": 5000, "labels": {"app": "s"}}]
    assert "addresses" not in s and "addresses" not in t  # headless: no virtual address
    assert [e["port"] for e in t["endpoints"]] == [90, 90]


def test_services_without_selector_are_left_out():
    v = view([service("kubernetes", {}, ns="default")], [pod("p", {})])
    assert v.services() == []


def test_changes_report_only_what_matters():
    v = view([service("benigno", {"app": "benigno"})], [])
    assert v.ready
    p = pod_info(pod("b1", {"app": "benigno"}))
    assert v.upsert(PODS, p) is True
    assert v.upsert(PODS, pod_info(pod("b1", {"app": "benigno"}))) is False  # same content
    assert v.upsert(PODS, pod_info(pod("b1", {"app": "benigno"}, ready=False))) is True
    assert v.services()[0]["endpoints"] == []
    assert v.delete(PODS, ("shop", "b1")) is True and v.delete(PODS, ("shop", "b1")) is False


def test_not_ready_until_both_kinds_listed():
    v = ClusterView()
    assert v.replace(SERVICES, []) is True  # the first list counts as a change
    assert not v.ready
    v.replace(PODS, [])
    assert v.ready and v.replace(PODS, []) is False


labels = st.dictionaries(st.sampled_from(["app", "version", "tier"]),
                         st.sampled_from(["a", "b"]), max_size=3)


@given(st.lists(st.tuples(labels, st.booleans()), max_size=8), labels)
def test_endpoints_are_exactly_the_ready_pods_whose_labels_contain_the_selector(pods, selector):
    objs = [pod(f"p{i}", lab, ip=f"10.1.0.{i + 1}", ready=ready)
            for i, (lab, ready) in enumerate(pods)]
    v = view([service("s", selector or {"app": "a"})], objs)
    sel = selector or {"app": "a"}
    expected = sorted(f"10.1.0.{i + 1}" for i, (lab, ready) in enumerate(pods)
                      if ready and sel.items() <= lab.items())
    assert [e["address"] for e in v.services()[0]["endpoints"]] == expected


ops = st.lists(st.tuples(st.sampled_from(["pod", "svc", "del-pod", "del-svc"]),
                         st.sampled_from(["a", "b"]),  # namespace
                         st.integers(0, 3),  # name
                         labels, st.booleans()), max_size=25)


@given(ops)
def test_incremental_services_equal_a_fresh_computation(steps):
    """Recomputing only the namespaces that changed gives what computing everything gives."""
    v = ClusterView()
    v.replace(SERVICES, [])
    v.replace(PODS, [])
    for op, ns, i, lab, flag in steps:
        if op == "pod":
            v.upsert(PODS, pod_info(pod(f"p{i}", lab, ip=f"10.1.0.{i + 1}", ready=flag, ns=ns)))
        elif op == "svc":
            v.upsert(SERVICES, service_info(service(f"s{i}", lab or {"app": "a"}, ns=ns)))
        else:
            kind, prefix = (PODS, "p") if op == "del-pod" else (SERVICES, "s")
            v.delete(kind, (ns, f"{prefix}{i}"))
        v.services()  # the cache is refreshed after each step
    fresh = ClusterView()
    fresh.replace(SERVICES, list(v.objects[SERVICES].values()))
    fresh.replace(PODS, list(v.objects[PODS].values()))
    assert v.services() == fresh.services()


def test_port_protocols_from_app_protocol_or_name_prefix():
    svc = service("api", {"app": "api"})
    svc["spec"]["ports"] = [
        {"name": "grpc-web-ui", "port": 81, "targetPort": 8081},
        {"name": "grpc", "port": 50051, "targetPort": 50051},
        {"name": "api", "port": 8080, "appProtocol": "kubernetes.io/h2c"},
        {"name": "http2-admin", "port": 9090, "appProtocol": "HTTP"},  # appProtocol wins
        {"name": "metrics", "port": 9100},  # no protocol declared: a bare number
        {"name": "tcp-db", "port": 80}]
    (entry,) = view([svc], [pod("a1", {"app": "api"})]).services()
    assert entry["ports"] == [{"port": 80, "protocol": "tcp"},
                              {"port": 81, "protocol": "grpc-web"},
                              {"port": 8080, "protocol": "http2"},
                              {"port": 9090, "protocol": "http"}, 9100,
                              {"port": 50051, "protocol": "grpc"}]
    assert [e["port"] for e in entry["endpoints"]] == [8081]  # the first port's target


def test_endpoints_carry_the_zone_and_region_of_their_pods_node():
    from meshtool.controlplane.kubeview import NODES, node_info

    placed = pod("b1", {"app": "benigno"}, ip="10.1.0.1")
    placed["spec"]["nodeName"] = "node-a"
    unplaced = pod("b2", {"app": "benigno"}, ip="10.1.0.2")
    v = view([service("benigno", {"app": "benigno"})], [placed, unplaced])
    assert v.ready  # nodes are optional: without them endpoints just carry no locality
    zone = {"topology.kubernetes.io/region": "eu-west", "topology.kubernetes.io/zone": "eu-west-1a"}
    node = {"metadata": {"name": "node-a", "labels": {**zone, "kubernetes.io/os": "linux"}}}
    assert v.replace(NODES, [node_info(node)])
    labels = [e["labels"] for e in v.services()[0]["endpoints"]]
    assert labels == [{"app": "benigno", **zone}, {"app": "benigno"}]
    # a node relabelled into another zone moves its pods' endpoints with it
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = "eu-west-1b"
    assert v.upsert(NODES, node_info(node))
    assert v.services()[0]["endpoints"][0]["labels"]["topology.kubernetes.io/zone"] == "eu-west-1b"
    assert v.delete(NODES, ("", "node-a"))
    assert v.services()[0]["endpoints"][0]["labels"] == {"app": "benigno"}


def test_meshed_pods_carry_their_service_accounts_spiffe_id_when_a_ca_runs():
    meshed = pod("b1", {"app": "benigno"}, ip="10.1.0.1")
    meshed["spec"]["serviceAccountName"] = "benigno-sa"
    meshed["spec"]["containers"].append({"name": "meshtool-proxy"})
    default_sa = pod("b2", {"app": "benigno"}, ip="10.1.0.2")
    default_sa["spec"]["containers"].append({"name": "meshtool-proxy"})
    plain = pod("b3", {"app": "benigno"}, ip="10.1.0.3")  # no sidecar: called in plaintext
    v = view([service("benigno", {"app": "benigno"})], [meshed, default_sa, plain])
    assert all("identity" not in e for e in v.services()[0]["endpoints"])  # no CA: none
    v = view([service("benigno", {"app": "benigno"})], [meshed, default_sa, plain])
    v.trust_domain = "example.org"
    assert [e.get("identity") for e in v.services()[0]["endpoints"]] == [
        "spiffe://example.org/ns/shop/sa/benigno-sa", "spiffe://example.org/ns/shop/sa/default",
        None]
