"""install, check and uninstall against the real API server (tests/kube/conftest.py)."""

from __future__ import annotations

import secrets
import time

import pytest
import yaml

from meshtool.cli.main import main
from meshtool.kube import install as lib
from meshtool.kube import objects
from meshtool.kube.crds import committed_crds, crd_names, wait_established


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def identity(obj: dict) -> tuple[str, str, str | None]:
    meta = obj["metadata"]
    return obj["kind"], meta["name"], meta.get("namespace")


@pytest.fixture
def control_namespace(kube_cluster):
    """A fresh name for the control plane's namespace; afterwards, whatever a test left is
    removed and the rule CRDs (which uninstall deletes) are back, Established, for later tests."""
    name = f"mesh-{secrets.token_hex(3)}"
    yield name
    api = kube_cluster.api_client
    lib.uninstall(api, lib.Settings(namespace=name), keep_crds=True)
    deadline = time.monotonic() + 60
    for crd in committed_crds():  # a deleted CRD must be gone before it can be created again
        while (current := objects.get(api, "CustomResourceDefinition", crd["metadata"]["name"])) \
                and current["metadata"].get("deletionTimestamp") and time.monotonic() < deadline:
            time.sleep(0.2)
        objects.apply(api, crd)
    wait_established(api, crd_names(), timeout=60)


def test_install_check_uninstall_round_trip(kube_cluster, control_namespace, capsys):
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    settings = lib.Settings(namespace=control_namespace)
    expected = [identity(o) for o in lib.manifests(settings, lib.new_certs(settings))]
    bystander = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": f"bystander-{control_namespace}",
                              "labels": {"app.kubernetes.io/part-of": "meshtool"}}, "rules": []}
    objects.apply(api, bystander)

    code, out, err = run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 0, err
    assert out == ""
    for kind, name, ns in expected:
        found = objects.get(api, kind, name, ns)
        assert found is not None, (kind, name)
        assert lib.owned(found, settings)
        assert f"{kind.lower()}/{ns + '/' if ns else ''}{name} applied" in err
        managers = {m["manager"] for m in found["metadata"]["managedFields"] if m["operation"] == "Apply"}
        assert "meshtool" in managers
    # What carries meshtool's labels for this namespace is exactly what install lists.
    selector = f"{lib.MANAGED_BY}=meshtool,{lib.NAMESPACE_LABEL}={control_namespace}"
    labelled = {identity({**o, "kind": kind}) for kind in objects.KINDS
                for o in objects.list_labelled(api, kind, selector)}
    assert labelled == set(expected)

    versions = {i: objects.get(api, *i)["metadata"]["resourceVersion"] for i in expected}
    code, _, err = run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 0, err
    again = {i: objects.get(api, *i)["metadata"]["resourceVersion"] for i in expected}
    assert again == versions, "a second install must change nothing (same certificates too)"

    for argv in (["check"], ["install", "--check"]):
        code, out, err = run(capsys, *argv, "-n", control_namespace, "--kubeconfig", kubeconfig)
        # No controllers run here, so the control plane's Pod never starts: with the webhooks
        # in it, that is a failure, the only one.
        assert code == 1, out + err
        assert "× control plane Pods are ready" in out and "0/1 ready" in out
        assert out.count("×") == 2 and "(1 failed)" in out, out
        assert out.count("√") >= 14
        assert "√ the webhook's caBundle is the CA of its certificate Secret" in out

    code, _, err = run(capsys, "uninstall", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 0, err
    for kind, name, ns in expected:
        found = objects.get(api, kind, name, ns)
        # Deleting CRDs takes the API server a moment (it removes their objects first); no
        # controller runs here, so the namespace even stays Terminating.
        assert found is None or (kind in ("Namespace", "CustomResourceDefinition")
                                 and found["metadata"].get("deletionTimestamp")), kind
    assert objects.get(api, "ClusterRole", bystander["metadata"]["name"]) is not None
    objects.delete(api, "ClusterRole", bystander["metadata"]["name"])

    code, _, err = run(capsys, "uninstall", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 0 and "0 deleted" in err

    code, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 1
    assert "× CRD routerules.config.meshtool.io is installed and Established" in out
    assert f"× namespace {control_namespace} exists" in out


def test_uninstall_leaves_another_installs_objects_alone(kube_cluster, control_namespace, capsys):
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    code, _, err = run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")
    assert code == 0 and err == ""
    other = f"other-{control_namespace}"
    code, _, err = run(capsys, "uninstall", "-n", other, "--kubeconfig", kubeconfig)
    assert code == 0, err
    assert "0 deleted" in err
    assert objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG) is not None
    code, _, err = run(capsys, "uninstall", "-n", control_namespace, "--keep-crds",
                       "--kubeconfig", kubeconfig)
    assert code == 0 and "kept (--keep-crds)" in err
    assert objects.get(api, "CustomResourceDefinition", crd_names()[0]) is not None
    assert objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG) is None


def test_check_fails_when_the_ca_bundle_does_not_match(kube_cluster, control_namespace, capsys):
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    settings = lib.Settings(namespace=control_namespace)
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    stranger = lib.webhook_configuration(settings, lib.new_certs(settings).ca_pem)
    objects.apply(api, stranger)
    code, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 1
    assert "× the webhook's caBundle is the CA of its certificate Secret" in out
    # install repairs it
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    _, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert "√ the webhook's caBundle is the CA of its certificate Secret" in out


def test_dry_run_prints_yaml_the_api_server_accepts(kube_cluster, control_namespace, capsys):
    api = kube_cluster.api_client
    code, out, err = run(capsys, "install", "--dry-run", "-n", control_namespace)
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert [identity(d) for d in docs] == [
        identity(o) for o in lib.manifests(lib.Settings(namespace=control_namespace),
                                           lib.new_certs(lib.Settings()))]
    webhook = docs[-2]["webhooks"][0]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["namespaceSelector"] == {"matchLabels": {"meshtool-injection": "enabled"}}
    # The validating webhook: every rule kind, created or updated, through the same Service.
    validating = docs[-1]["webhooks"][0]
    assert docs[-1]["kind"] == "ValidatingWebhookConfiguration"
    assert validating["clientConfig"]["service"]["path"] == "/validate"
    assert validating["clientConfig"]["caBundle"] == webhook["clientConfig"]["caBundle"]
    assert validating["rules"][0]["resources"] == ["accesspolicies", "destinationpolicies",
                                                   "egressrules", "mtlspolicies", "routerules"]
    assert validating["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    objects.apply(api, namespace)  # namespaced objects can only be dry-run inside an existing one
    for doc in docs:
        for method, url, query in (
            ("PATCH", objects.path_of(doc), {"fieldManager": "meshtool", "force": "true"}),
            ("POST", objects.path(doc["kind"], doc["metadata"].get("namespace")), {}),
        ):
            if method == "POST" and objects.get(api, *identity(doc)):
                continue  # exists already (the CRDs of the session, the namespace): create would 409
            objects.call(api, method, url, body=doc,
                         query={**query, "dryRun": "All", "fieldValidation": "Strict"},
                         content_type="application/apply-patch+yaml" if method == "PATCH"
                         else "application/json")
    # Dry runs wrote nothing.
    assert objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG) is None
    assert objects.get(api, "Deployment", lib.NAME, control_namespace) is None


def test_the_ca_secret_mount_is_a_deployment_the_api_server_accepts(kube_cluster,
                                                                    control_namespace, capsys):
    api = kube_cluster.api_client
    code, out, err = run(capsys, "install", "--dry-run", "-n", control_namespace,
                         "--ca-secret", "cacerts")
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    objects.apply(api, next(d for d in docs if d["kind"] == "Namespace"))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    accepted = objects.call(api, "PATCH", objects.path_of(deployment), body=deployment,
                            query={"fieldManager": "meshtool", "force": "true", "dryRun": "All",
                                   "fieldValidation": "Strict"},
                            content_type="application/apply-patch+yaml")
    spec = accepted["spec"]["template"]["spec"]
    assert {"name": "cacerts", "secret": {"secretName": "cacerts", "defaultMode": 420}} \
        in spec["volumes"]
    args = spec["containers"][0]["args"]
    assert args[args.index("--ca-dir") + 1] == lib.CA_DIR


def test_install_refuses_an_invalid_object_before_writing_anything(kube_cluster, capsys):
    code, _, err = run(capsys, "install", "-n", "Not_A_Namespace", "--kubeconfig", str(kube_cluster.kubeconfig))
    assert code == 1
    assert err.startswith("error: the API server refused the change:") and err.count("\n") == 1
    assert "Not_A_Namespace" in err
    assert objects.get(kube_cluster.api_client, "ClusterRole", lib.NAME) is None
    assert objects.get(kube_cluster.api_client, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG) is None


def _labelled_namespace(kube_cluster) -> str:
    from kubernetes import client

    core = client.CoreV1Api(kube_cluster.api_client)
    name = f"injected-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name, "labels": {lib.INJECTION_LABEL: "enabled"}}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    return name


def test_check_fails_when_no_pod_would_get_a_sidecar(kube_cluster, control_namespace, capsys):
    """Right after install, with no control-plane Pod running: the API server fails open
    (failurePolicy Ignore), so a Pod in a labelled namespace gets no sidecar. check must say so,
    proving it with a dry-run Pod create, and never print the CA bundle or the key."""
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    labelled = _labelled_namespace(kube_cluster)
    try:
        code, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
        assert code == 1
        assert "× control plane Pods are ready" in out
        assert ("× a Pod in a namespace labelled meshtool-injection=enabled gets the sidecar"
                in out)
        assert "came back without meshtool-proxy" in out and "(2 failed)" in out
        secret = objects.get(api, "Secret", lib.SECRET, control_namespace)
        for value in secret["data"].values():
            assert value[:40] not in out
        assert "BEGIN" not in out
        # Nothing was created by the probe.
        pods = objects.call(api, "GET", f"/api/v1/namespaces/{labelled}/pods")["items"]
        assert pods == []
    finally:
        objects.delete(api, "Namespace", labelled)


def test_install_repairs_a_webhook_switched_to_a_url_with_failure_policy_fail(
        kube_cluster, control_namespace, capsys):
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    edited = objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG)
    hook = edited["webhooks"][0]
    bundle = hook["clientConfig"]["caBundle"]
    hook["clientConfig"] = {"url": "https://127.0.0.1:1/inject", "caBundle": bundle}
    hook["failurePolicy"] = "Fail"
    objects.call(api, "PUT", objects.path_of(edited), body=edited)

    code, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 1
    assert "points at url https://127.0.0.1:1/inject" in out and "run `meshtool install`" in out
    assert bundle[:40] not in out

    code, _, err = run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert code == 0, err
    assert f"mutatingwebhookconfiguration/{lib.WEBHOOK_CONFIG} replaced" in err
    repaired = objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG)
    hook = repaired["webhooks"][0]
    assert "url" not in hook["clientConfig"]
    assert hook["clientConfig"]["service"]["name"] == lib.NAME
    assert hook["failurePolicy"] == lib.DEFAULT_FAILURE_POLICY
    code, out, _ = run(capsys, "check", "-n", control_namespace, "--kubeconfig", kubeconfig)
    assert f"√ MutatingWebhookConfiguration {lib.WEBHOOK_CONFIG} sends Pods to the webhook" in out
    # A second install changes nothing.
    version = repaired["metadata"]["resourceVersion"]
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    assert objects.get(api, "MutatingWebhookConfiguration",
                       lib.WEBHOOK_CONFIG)["metadata"]["resourceVersion"] == version


def test_analyze_use_kube_is_clean_on_meshtools_own_install(kube_cluster, control_namespace,
                                                             capsys):
    """A clean install must not fail a CI gate that uses --failure-threshold Warning."""
    import json

    kubeconfig = str(kube_cluster.kubeconfig)
    assert run(capsys, "install", "-n", control_namespace, "--kubeconfig", kubeconfig, "-q")[0] == 0
    code, out, err = run(capsys, "analyze", "--use-kube", "-n", control_namespace,
                         "--kubeconfig", kubeconfig, "--failure-threshold", "Warning",
                         "-o", "json")
    assert json.loads(out) == [], out
    assert code == 0, err
