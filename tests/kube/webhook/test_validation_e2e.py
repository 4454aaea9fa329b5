"""The validating webhook called by the real API server: a rule `meshtool validate` refuses,
created or updated through the API (as `kubectl apply` would, not through meshtool), is refused
by the API server with meshtool's one-line message. Registered by URL on loopback, scoped to
namespaces with a label of its own so that no other test's rules go through it."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from meshtool.controlplane.webhook import serve_webhook
from meshtool.kube import install as lib
from meshtool.kube import objects
from meshtool.kube.certs import generate

GROUP, VERSION = "config.meshtool.io", "v1alpha1"


@pytest.fixture(scope="module")
def validator(kube_cluster, meshtool_crds, tmp_path_factory):
    directory = tmp_path_factory.mktemp("validate-tls")
    certs = generate(["localhost"], ["127.0.0.1"])
    (directory / "tls.crt").write_bytes(certs.cert_pem)
    (directory / "tls.key").write_bytes(certs.key_pem)
    loop = asyncio.new_event_loop()
    state: dict = {}
    started = threading.Event()

    async def main():
        state["stop"] = asyncio.Event()
        bound = loop.create_future()
        task = asyncio.ensure_future(serve_webhook(
            "127.0.0.1", 0, str(directory / "tls.crt"), str(directory / "tls.key"), state["stop"],
            started=bound))
        state["port"] = await bound
        started.set()
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(15), "webhook did not start"
    # The configuration install writes, pointed at our loopback server instead of the Service.
    label = f"meshtool-validate-{secrets.token_hex(3)}"
    config = lib.validating_webhook_configuration(lib.Settings(failure_policy="Fail"), certs.ca_pem)
    config["metadata"] = {"name": f"meshtool-test-validator-{secrets.token_hex(3)}"}
    hook = config["webhooks"][0]
    hook["clientConfig"] = {"url": f"https://127.0.0.1:{state['port']}/validate",
                            "caBundle": base64.b64encode(certs.ca_pem).decode()}
    hook["namespaceSelector"] = {"matchLabels": {label: "enabled"}}
    objects.apply(kube_cluster.api_client, config)
    yield label
    objects.delete(kube_cluster.api_client, "ValidatingWebhookConfiguration",
                   config["metadata"]["name"])
    loop.call_soon_threadsafe(state["stop"].set)
    thread.join(10)
    loop.close()


def rule(second: int) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RouteRule",
            "metadata": {"name": "canary"},
            "spec": {"destination": {"name": "reviews"},
                     "route": [{"labels": {"version": "v1"}, "weight": 50},
                               {"labels": {"version": "v2"}, "weight": second}]}}


def refusal(call) -> str:
    """The API server's refusal: 422 Invalid (kubectl: "Error from server (Invalid)"), and its
    message."""
    with pytest.raises(ApiException) as refused:
        call()
    status = json.loads(refused.value.body)
    assert (refused.value.status, status.get("reason")) == (422, "Invalid")
    return status["message"]


def test_an_invalid_rule_is_refused_by_the_api_server_with_meshtools_message(
        kube_cluster, kube_namespace, validator):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    core.patch_namespace(ns, {"metadata": {"labels": {validator: "enabled"}}})

    message = refusal(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "routerules", rule(20)))
    assert message == ('admission webhook "validation.meshtool.io" denied the request: '
                       "RouteRule/canary: spec.route[1].weight: weights sum to 70, must be 100")

    created = custom.create_namespaced_custom_object(GROUP, VERSION, ns, "routerules", rule(50))
    broken = {**rule(30), "metadata": {**rule(30)["metadata"],
                                       "resourceVersion": created["metadata"]["resourceVersion"]}}
    message = refusal(lambda: custom.replace_namespaced_custom_object(
        GROUP, VERSION, ns, "routerules", "canary", broken))
    assert message.endswith("RouteRule/canary: spec.route[1].weight: weights sum to 80, must be 100")

    policy = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DestinationPolicy",
              "metadata": {"name": "reviews"},
              "spec": {"destination": {"name": "reviews",
                                       "labels": {"team": "platform engineering"}}}}
    message = refusal(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "destinationpolicies", policy))
    assert "DestinationPolicy/reviews: spec.destination.labels.team: label value " \
           "'platform engineering'" in message

    # The status subresource (the control plane's condition) is not sent to the webhook.
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, "routerules", "canary",
        {"status": {"conditions": [{"type": "Accepted", "status": "True"}]}},
        _content_type="application/merge-patch+json")


def test_the_native_security_kinds_go_through_the_webhook_too(kube_cluster, kube_namespace,
                                                              validator):
    """What the CRD schema accepts but `validate` refuses: a selector label Kubernetes would
    not take, in an MTLSPolicy and in an AccessPolicy."""
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    core.patch_namespace(ns, {"metadata": {"labels": {validator: "enabled"}}})

    mtls = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MTLSPolicy",
            "metadata": {"name": "strict"},
            "spec": {"destination": {"name": "reviews", "labels": {"team": "a b"}},
                     "mode": "STRICT"}}
    message = refusal(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "mtlspolicies", mtls))
    assert "MTLSPolicy/strict: spec.destination.labels.team: label value 'a b'" in message
    access = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessPolicy",
              "metadata": {"name": "deny"},
              "spec": {"destination": {"name": "reviews", "labels": {"tier": "-x"}},
                       "action": "DENY", "rules": [{"when": [{"header": "x-team"}]}]}}
    message = refusal(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "accesspolicies", access))
    assert "AccessPolicy/deny: spec.destination.labels.tier: label value '-x'" in message, message

    mtls["spec"]["destination"]["labels"] = {"team": "a-b"}
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mtlspolicies", mtls)
    access["spec"]["destination"]["labels"] = {"tier": "x"}
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "accesspolicies", access)
