"""`meshtool analyze --use-kube` against a real kube-apiserver: the cluster's Namespaces,
Services, Deployments and Pods are analysed with the rule files, and files win."""

from __future__ import annotations

import pytest
from kubernetes import client

from meshtool.cli.main import main

RULE = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: reviews-canary
  namespace: {ns}
spec:
  destination:
    name: reviews
  route:
  - labels: {{version: v1}}
    weight: 90
  - labels: {{version: v3}}
    weight: 10
"""


def meta(name, ns, labels=None):
    return client.V1ObjectMeta(name=name, namespace=ns, labels=labels)


@pytest.fixture
def shop(kube_cluster, kube_namespace):
    api = kube_cluster.api_client
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = kube_namespace
    core.patch_namespace(ns, {"metadata": {"labels": {"meshtool-injection": "enabled"}}})
    core.create_namespaced_service(ns, client.V1Service(
        metadata=meta("reviews", ns), spec=client.V1ServiceSpec(
            selector={"app": "reviews"}, ports=[client.V1ServicePort(name="web", port=9080)])))
    labels = {"app": "reviews", "version": "v1"}
    container = client.V1Container(name="reviews", image="reviews:1")
    apps.create_namespaced_deployment(ns, client.V1Deployment(
        metadata=meta("reviews-v1", ns, labels), spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                              spec=client.V1PodSpec(containers=[container])))))
    # a pod no webhook injected (nothing runs it: no scheduler; analysis only reads it)
    core.create_namespaced_pod(ns, client.V1Pod(metadata=meta("debug", ns, {"app": "debug", "version": "v1"}),
                                                spec=client.V1PodSpec(containers=[container])))
    return ns


def analyze(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", *args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_use_kube_analyses_cluster_objects_with_files(shop, kube_cluster, tmp_path, capsys):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE.format(ns=shop))
    code, out, err = analyze(capsys, "-f", str(rule), "--use-kube", "--kubeconfig",
                             str(kube_cluster.kubeconfig), "-n", shop, "-o", "json")
    import json

    found = {(m["code"], m["resource"]["kind"], m["resource"]["name"]) for m in json.loads(out)}
    assert found == {("MT0101", "RouteRule", "reviews-canary"), ("MT0300", "Service", "reviews"),
                     ("MT0302", "Pod", "debug")}, out + err
    assert code == 79
    by_code = {m["code"]: m for m in json.loads(out)}
    assert by_code["MT0300"]["origin"] == "kube" and "file" not in by_code["MT0300"]


def test_files_hide_cluster_objects(shop, kube_cluster, tmp_path, capsys):
    fixed = tmp_path / "svc.yaml"
    fixed.write_text(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\n  namespace: "
                     f"{shop}\nspec:\n  selector: {{app: reviews}}\n  ports:\n  - name: http-web\n"
                     f"    port: 9080\n")
    code, out, _ = analyze(capsys, "-f", str(fixed), "--use-kube", "--kubeconfig",
                           str(kube_cluster.kubeconfig), "-n", shop)
    assert "MT0300" not in out and "MT0302" in out
    assert code == 0  # MT0302 is a warning; the default failure threshold is Error


UNREACHABLE = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
               "    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n"
               "    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n"
               "  user: {token: x}\n")


@pytest.mark.parametrize("args", [
    ["analyze", "--use-kube"], ["analyze", "--use-store", "--store", "kubernetes"],
    ["get", "rr", "--store", "kubernetes"], ["install"], ["uninstall"],
    ["proxy-status", "--kubernetes"]])
def test_an_unreachable_api_server_is_the_same_one_line_in_every_command(tmp_path, capsys,
                                                                          args):
    config = tmp_path / "kubeconfig"
    config.write_text(UNREACHABLE)
    with pytest.raises(SystemExit) as exc:
        main([*args, "--kubeconfig", str(config)])
    out, err = capsys.readouterr()
    assert exc.value.code == 1 and out == ""
    assert err.startswith("error: cannot reach the Kubernetes API server at "
                          "https://127.0.0.1:1: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Max retries" not in err


def test_check_words_an_unreachable_api_server_the_same_way(tmp_path, capsys):
    config = tmp_path / "kubeconfig"
    config.write_text(UNREACHABLE)
    with pytest.raises(SystemExit) as exc:
        main(["check", "--kubeconfig", str(config)])
    out, _ = capsys.readouterr()
    assert exc.value.code == 1
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1: " in out


def test_use_store_kubernetes_reports_a_rule_posted_straight_to_the_api_server(
        kube_cluster, kube_namespace, meshtool_crds, capsys):
    """The API server accepts weights 50 + 20 (its schema cannot add them up): analyze of the
    store must still report it, with the same message as validate (MT0001, exit 79)."""
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    custom.create_namespaced_custom_object("config.meshtool.io", "v1alpha1", ns, "routerules", {
        "apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
        "metadata": {"name": "bad-sum"},
        "spec": {"destination": {"name": "reviews"},
                 "route": [{"labels": {"version": "v1"}, "weight": 50},
                           {"labels": {"version": "v2"}, "weight": 20}]}})
    code, out, err = analyze(capsys, "--use-store", "--store", "kubernetes", "-n", ns,
                             "--kubeconfig", str(kube_cluster.kubeconfig), "-o", "json")
    import json

    found = [(m["code"], m["resource"]["kind"], m["resource"]["name"], m.get("field"),
              m["message"]) for m in json.loads(out) if m["code"] == "MT0001"]
    assert found == [("MT0001", "RouteRule", "bad-sum", "spec.route[1].weight",
                      "spec.route[1].weight: weights sum to 70, must be 100")], out + err
    assert code == 79


def test_missing_namespace_is_one_clear_error(kube_cluster, capsys):
    code, out, err = analyze(capsys, "--use-kube", "--kubeconfig", str(kube_cluster.kubeconfig),
                             "-n", "no-such-namespace")
    assert code == 1 and out == ""
    assert err == "error: namespace no-such-namespace not found in the cluster\n"


def test_use_kube_checks_the_remote_clusters_of_its_remote_secrets(
        kube_cluster, kube_cluster_2, kube_namespace, capsys):
    """Two real API servers: helloworld has port 5000 and no pods in the primary, port 5001 and
    a pod in cluster2 (reached through the Secret `create-remote-secret` printed); a second
    remote secret points at nothing."""
    import json

    import yaml

    from meshtool.conventions import REMOTE_SECRET_LABEL
    from meshtool.kube.remote import remote_secret

    from .controlplane.kubeobjects import apply_remote_secret, create_pod, create_service

    ns = kube_namespace
    core1 = client.CoreV1Api(kube_cluster.api_client)
    core2 = client.CoreV1Api(kube_cluster_2.api_client)
    core2.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core2.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="default")))  # no controller would create it
    try:
        create_service(core1, ns, "helloworld", {"app": "helloworld"}, port=5000)
        create_service(core2, ns, "helloworld", {"app": "helloworld"}, port=5001)
        create_pod(core2, ns, "helloworld-v2", {"app": "helloworld", "version": "v2"})
        apply_remote_secret(kube_cluster_2, core1, ns)
        broken = remote_secret("cluster3", yaml.safe_load(UNREACHABLE), ns)
        assert broken["metadata"]["labels"] == {REMOTE_SECRET_LABEL: "true"}
        core1.create_namespaced_secret(ns, broken)

        code, out, err = analyze(capsys, "--use-kube", "--kubeconfig",
                                 str(kube_cluster.kubeconfig), "-n", ns,
                                 "--control-plane-namespace", ns, "-o", "json")
        found = {(m["code"], m["resource"]["name"]): m["message"] for m in json.loads(out)
                 if m["code"].startswith("MT032")}
        assert set(found) == {("MT0320", "cluster3"), ("MT0321", "helloworld"),
                              ("MT0322", "helloworld")}, out + err
        assert "https://127.0.0.1:1" in found[("MT0320", "cluster3")]
        assert "5000/TCP" in found[("MT0321", "helloworld")] and \
            "5001/TCP" in found[("MT0321", "helloworld")]
        assert "cluster2" in found[("MT0322", "helloworld")]
        assert code == 79  # MT0320 is an error
    finally:
        core2.delete_namespace(ns)
