"""The injection webhook called by the real API server: registered by URL on loopback, with its CA.

Pods are admitted (and stored) but never scheduled here, which is all these tests need: the Pod
the API server hands back is the one our webhook patched.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading

import pytest
from kubernetes import client

from meshtool.controlplane.webhook import serve_webhook
from meshtool.inject.config import InjectConfig
from meshtool.inject.pipeline import INJECT, transform_object
from meshtool.kube import objects
from meshtool.kube.certs import generate

CONTROL_PLANE = "cp.webhook-test.svc:15010"


@pytest.fixture(scope="module")
def webhook_url(tmp_path_factory):
    """Our webhook on a free loopback port, serving a certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("webhook-tls")
    certs = generate(["localhost"], ["127.0.0.1"])
    (directory / "tls.crt").write_bytes(certs.cert_pem)
    (directory / "tls.key").write_bytes(certs.key_pem)
    loop = asyncio.new_event_loop()
    state: dict = {}
    started = threading.Event()
    config = InjectConfig().with_overrides(control_plane=CONTROL_PLANE)

    async def main():
        state["stop"] = asyncio.Event()
        bound = loop.create_future()
        task = asyncio.ensure_future(serve_webhook(
            "127.0.0.1", 0, str(directory / "tls.crt"), str(directory / "tls.key"), state["stop"],
            config, started=bound))
        state["port"] = await bound
        started.set()
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(15), "webhook did not start"
    yield f"https://127.0.0.1:{state['port']}/inject", certs.ca_pem
    loop.call_soon_threadsafe(state["stop"].set)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def registered(kube_cluster, webhook_url):
    """A MutatingWebhookConfiguration by URL, selecting namespaces by a label of its own (so that
    no other test's namespace is touched), shaped like the one `meshtool install` writes."""
    url, ca_pem = webhook_url
    label = f"meshtool-injection-{secrets.token_hex(3)}"
    name = f"meshtool-test-injector-{secrets.token_hex(3)}"
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "sidecar-injector.meshtool.io", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 10,
            "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {label: "enabled"}},
            "objectSelector": {"matchExpressions": [
                {"key": "sidecar.meshtool.io/inject", "operator": "NotIn", "values": ["false"]}]},
        }],
    }
    objects.apply(kube_cluster.api_client, config)
    yield label
    objects.delete(kube_cluster.api_client, "MutatingWebhookConfiguration", name)


def namespace(kube_cluster, labels: dict[str, str]) -> str:
    core = client.CoreV1Api(kube_cluster.api_client)
    name = f"webhook-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    return name


def pod(name: str, labels=None, annotations=None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web", "version": "v1", **(labels or {})},
                     "annotations": annotations or {}},
        "spec": {"containers": [{
            "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}},
        }]},
    }


def create(kube_cluster, ns: str, manifest: dict) -> dict:
    return objects.call(kube_cluster.api_client, "POST", f"/api/v1/namespaces/{ns}/pods", body=manifest)


def names(items) -> list[str]:
    return [c["name"] for c in items or []]


def test_a_pod_in_a_labelled_namespace_comes_back_injected(kube_cluster, registered):
    ns = namespace(kube_cluster, {registered: "enabled"})
    created = create(kube_cluster, ns, pod("injected"))
    assert names(created["spec"]["containers"]) == ["web", "meshtool-proxy"]
    assert names(created["spec"].get("initContainers")) == ["meshtool-init"]
    assert "sidecar.meshtool.io/status" in created["metadata"]["annotations"]
    assert created["metadata"]["namespace"] == ns
    # The same sidecar kube-inject would add, offline, to the same Pod in that namespace.
    offline, _ = transform_object({**pod("injected"), "metadata": {**pod("injected")["metadata"],
                                                                   "namespace": ns}},
                                  INJECT, InjectConfig().with_overrides(control_plane=CONTROL_PLANE))
    expected = offline["spec"]["containers"][1]
    sidecar = created["spec"]["containers"][1]
    assert sidecar["args"] == expected["args"] and sidecar["image"] == expected["image"]
    assert {"name": "MESHTOOL_CONTROL_PLANE", "value": CONTROL_PLANE} in sidecar["env"]
    probe = created["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe["path"] == "/app-health/web/readyz" and probe["port"] == 15021


def test_a_pod_in_an_unlabelled_namespace_is_left_alone(kube_cluster, registered):
    ns = namespace(kube_cluster, {})
    created = create(kube_cluster, ns, pod("plain"))
    assert names(created["spec"]["containers"]) == ["web"]
    assert not created["spec"].get("initContainers")


@pytest.mark.parametrize("where", ["label", "annotation"])
def test_a_pod_that_opts_out_is_left_alone(kube_cluster, registered, where):
    ns = namespace(kube_cluster, {registered: "enabled"})
    opt_out = {"sidecar.meshtool.io/inject": "false"}
    manifest = pod(f"opted-out-{where}", **{f"{where}s": opt_out})
    created = create(kube_cluster, ns, manifest)
    assert names(created["spec"]["containers"]) == ["web"]
    assert not created["spec"].get("initContainers")
    assert "sidecar.meshtool.io/status" not in (created["metadata"].get("annotations") or {})


def test_an_invalid_annotation_is_refused_with_the_reason(kube_cluster, registered):
    from kubernetes.client.exceptions import ApiException

    ns = namespace(kube_cluster, {registered: "enabled"})
    with pytest.raises(ApiException) as refused:
        create(kube_cluster, ns, pod("bad", annotations={"sidecar.meshtool.io/inject": "maybe"}))
    assert refused.value.status == 400
    assert "sidecar.meshtool.io/inject" in refused.value.body


def test_checks_injection_probe_sees_the_sidecar_and_stores_nothing(kube_cluster, registered):
    """`meshtool check`'s end-to-end proof: a dry-run Pod create comes back with the sidecar
    when the webhook answers; in an unlabelled namespace it does not."""
    from meshtool.kube.check import injection_probe

    ns = namespace(kube_cluster, {registered: "enabled"})
    ok, detail = injection_probe(kube_cluster.api_client, ns)
    assert ok, detail
    assert detail == f"a Pod created (dry run) in namespace {ns} got meshtool-proxy"
    assert objects.call(kube_cluster.api_client, "GET", f"/api/v1/namespaces/{ns}/pods")["items"] == []
    plain = namespace(kube_cluster, {})
    ok, detail = injection_probe(kube_cluster.api_client, plain)
    assert not ok and "came back without meshtool-proxy" in detail
