"""create / replace / delete / get with --store kubernetes, through the real entry point and a
real API server."""

from __future__ import annotations

import os
import re
import socket

import pytest
import yaml

CANARY = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: reviews-canary
spec:
  destination:
    name: reviews
  route:
  - labels: {version: v1}
    weight: 90
  - labels: {version: v2}
    weight: 10
"""

EGRESS = """\
apiVersion: config.meshtool.io/v1alpha1
kind: EgressRule
metadata:
  name: msgd
spec:
  destination:
    service: msgd.example.com
  ports:
  - port: 9997
    protocol: http
"""

BAD_WEIGHTS = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: broken
spec:
  destination:
    name: reviews
  route:
  - labels: {version: v1}
    weight: 90
  - labels: {version: v2}
    weight: 20
"""


@pytest.fixture
def mt(tmp_path, monkeypatch, run_cli, kube_cluster, meshtool_crds):
    """Run meshtool in-process with --store kubernetes (from the environment) against the test cluster."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MESHTOOL_STORE", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    monkeypatch.chdir(tmp_path)

    def run(*args: str, stdin: str | None = None):
        r = run_cli(*args, stdin=stdin)
        assert "internal error" not in r.err and "Traceback" not in r.err
        return r

    return run


def write(path, *docs) -> str:
    path.write_text("---\n".join(docs))
    return os.path.relpath(path)


def test_create_get_replace_conflict_delete(mt, tmp_path, kube_namespace):
    ns = kube_namespace
    r = mt("create", "-f", write(tmp_path / "rules.yaml", CANARY, EGRESS), "-n", ns)
    assert r.code == 0, r.err
    assert re.fullmatch(rf"Created config route-rule/{ns}/reviews-canary at revision \d+\n"
                        rf"Created config egress-rule/{ns}/msgd at revision \d+\n", r.err)

    listed = mt("get", "all", "-n", ns, "-o", "name")
    assert listed.out == f"egress-rule/{ns}/msgd\nroute-rule/{ns}/reviews-canary\n"
    table = mt("get", "rr", "-n", ns).out.splitlines()
    assert table[0].split() == ["NAME", "KIND", "NAMESPACE", "REVISION", "AGE"]
    assert table[1].split()[:3] == ["reviews-canary", "RouteRule", ns]

    # Read it, change it, write it back: accepted. Writing the old copy again: a conflict.
    old = mt("get", "rr", "reviews-canary", "-n", ns, "-o", "yaml").out
    first_rv = yaml.safe_load(old)["metadata"]["resourceVersion"]
    edited = write(tmp_path / "edited.yaml", old.replace("weight: 90", "weight: 50")
                   .replace("weight: 10", "weight: 50"))
    r = mt("replace", "-f", edited)
    assert r.code == 0, r.err
    assert re.fullmatch(rf"Updated config route-rule/{ns}/reviews-canary to revision \d+\n", r.err)
    latest = yaml.safe_load(mt("get", "rr", "reviews-canary", "-n", ns, "-o", "yaml").out)
    assert [x["weight"] for x in latest["spec"]["route"]] == [50, 50]
    r = mt("replace", "-f", write(tmp_path / "old.yaml", old))
    assert r.code == 1
    rv_line = old.splitlines().index(f"  resourceVersion: '{first_rv}'") + 1
    assert rv_line > 1
    assert r.err.splitlines()[0] == (
        f"error: old.yaml:{rv_line}: metadata.resourceVersion: config route-rule/{ns}/reviews-canary "
        f"has been modified: resourceVersion "
        f"{first_rv} is not the latest ({latest['metadata']['resourceVersion']}); get it again and retry")

    r = mt("create", "-f", write(tmp_path / "again.yaml", EGRESS), "-n", ns)
    assert r.code == 1 and f"config egress-rule/{ns}/msgd already exists" in r.err

    r = mt("delete", "rr", "reviews-canary", "-n", ns)
    assert r.code == 0 and r.err == f"Deleted config route-rule/{ns}/reviews-canary\n"
    r = mt("delete", "rr", "reviews-canary", "-n", ns)
    assert r.code == 1 and f"config route-rule/{ns}/reviews-canary not found" in r.err
    r = mt("delete", "-f", "rules.yaml", "-n", ns)
    assert r.code == 1  # the route rule is gone: nothing is deleted
    assert mt("get", "er", "-n", ns, "-o", "name").out == f"egress-rule/{ns}/msgd\n"


def test_invalid_rule_is_refused_before_anything_is_written(mt, tmp_path, kube_namespace):
    r = mt("create", "-f", write(tmp_path / "mixed.yaml", CANARY, BAD_WEIGHTS), "-n", kube_namespace)
    assert r.code == 65
    assert "mixed.yaml:" in r.err and "broken" in r.err
    r = mt("get", "rr", "-n", kube_namespace)
    assert r.out == "" and "No rules found" in r.err


def test_namespace_from_the_kubeconfig_context(mt, tmp_path, kube_cluster, kube_namespace):
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    team = dict(config["contexts"][0], name="team")
    team["context"] = dict(team["context"], namespace=kube_namespace)
    config["contexts"].append(team)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    other = EGRESS.replace("name: msgd", "name: msgd\n  namespace: default")
    rules = write(tmp_path / "r.yaml", CANARY, other)
    r = mt("create", "-f", rules, "--kubeconfig", str(kubeconfig), "--context", "team")
    assert r.code == 0, r.err
    assert f"route-rule/{kube_namespace}/reviews-canary" in r.err
    assert "egress-rule/default/msgd" in r.err  # a document's own namespace wins, as in kubectl
    r = mt("get", "rr", "--kubeconfig", str(kubeconfig), "--context", "team", "-o", "name")
    assert r.out == f"route-rule/{kube_namespace}/reviews-canary\n"
    assert mt("delete", "er", "msgd", "-n", "default").code == 0


def test_unreachable_cluster_and_missing_context_are_one_line_errors(mt, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    r = mt("get", "rr", "--kubeconfig", str(kubeconfig))
    assert r.code == 1
    assert r.err.startswith(f"error: cannot reach the Kubernetes API server at https://127.0.0.1:{port}")
    assert r.err.count("\n") == 1
    r = mt("get", "rr", "--context", "nope")
    assert r.code == 1 and r.err.startswith('error: context "nope" not found')


def test_kubectl_get_output_pipes_back_into_replace(mt, kube_cluster, kube_namespace):
    """`kubectl get routerule x -o yaml | meshtool replace -f -`: the object as the API server
    returns it (uid, managedFields, creationTimestamp, generation...) is accepted, and its
    resourceVersion still guards against a stale write."""
    from kubernetes import client

    ns = kube_namespace
    assert mt("create", "-f", "-", "-n", ns, stdin=CANARY).code == 0
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    raw = custom.get_namespaced_custom_object("config.meshtool.io", "v1alpha1", ns, "routerules",
                                              "reviews-canary")
    assert {"uid", "managedFields", "creationTimestamp"} <= raw["metadata"].keys()
    raw["spec"]["route"] = [{"labels": {"version": "v2"}, "weight": 100}]
    as_kubectl_prints_it = yaml.safe_dump(raw)
    r = mt("replace", "-f", "-", stdin=as_kubectl_prints_it)
    assert r.code == 0, r.err
    got = yaml.safe_load(mt("get", "rr", "reviews-canary", "-n", ns, "-o", "yaml").out)
    assert got["spec"]["route"] == [{"labels": {"version": "v2"}, "weight": 100}]
    r = mt("replace", "-f", "-", stdin=as_kubectl_prints_it)  # the same copy again: now stale
    assert r.code == 1 and "has been modified" in r.err


def test_a_label_value_kubernetes_refuses_stops_the_whole_file_before_any_write(
        mt, tmp_path, kube_namespace, kube_cluster):
    """Two rules, the second labelled "platform engineering": validate refuses the file (as
    the API server would refuse that rule), and create writes neither."""
    ns = kube_namespace
    second = EGRESS.replace("metadata:\n", "metadata:\n  labels:\n    team: platform engineering\n", 1)
    path = write(tmp_path / "two.yaml", CANARY, second)
    r = mt("validate", "-f", path)
    assert r.code == 65 and "label value 'platform engineering'" in r.out
    r = mt("create", "-f", path, "-n", ns)
    assert r.code == 65 and "label value 'platform engineering'" in r.err
    assert "created before the failure" not in r.err
    assert mt("get", "rr", "-n", ns, "-o", "name").out == ""
