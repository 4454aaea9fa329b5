"""Every kind users write in meshtool's own API group is a Kubernetes kind as well: it has a CRD,
the control plane's role may read it and patch its status, the validating webhook judges it, the
Kubernetes store knows where it lives, and `meshtool get` knows its names.

The kinds are found by asking the loader which kinds with a schema it takes as a
config.meshtool.io/v1alpha1 document (what `meshtool create -f` accepts), not from a list written
here: a new native kind that lacks any of these fails this test."""

from __future__ import annotations

import json

import pytest

from meshtool.controlplane.admission import validate_request
from meshtool.kube import install
from meshtool.kube.crds import committed_crds, crd_names
from meshtool.model.kinds import API_GROUP, NATIVE_API_VERSION, NATIVE_KINDS, resolve_kind, slug
from meshtool.rules.loader import load_rules
from meshtool.rules.schema import SCHEMA_FILES
from meshtool.rules.sources import Source
from meshtool.store import kubernetes as kube_store


def _writable(kind: str) -> bool:
    doc = {"apiVersion": NATIVE_API_VERSION, "kind": kind, "metadata": {"name": "probe"},
           "spec": {}}
    loaded = load_rules([Source("probe.json", json.dumps(doc), "probe.json")], authored=True)
    return not any(f.field == "kind" for f in loaded.findings)


USER_KINDS = [kind for kind in SCHEMA_FILES if _writable(kind)]


def test_the_loader_finds_the_security_kinds_among_the_native_ones():
    # The probe itself must be able to fail: a compiled-only kind is not writable.
    assert "GatewayRoute" in SCHEMA_FILES and "GatewayRoute" not in USER_KINDS
    assert {"MTLSPolicy", "AccessPolicy", "RouteRule"} <= set(USER_KINDS)
    assert sorted(USER_KINDS) == sorted(NATIVE_KINDS)


@pytest.mark.parametrize("kind", USER_KINDS)
def test_a_native_kind_is_a_kubernetes_kind(kind):
    crds = {c["spec"]["names"]["kind"]: c for c in committed_crds()}
    assert kind in crds, f"{kind} has no CRD: add it to meshtool.model.kinds and run " \
                         f"`python -m meshtool.kube.crds --write`"
    plural = crds[kind]["spec"]["names"]["plural"]
    assert f"{plural}.{API_GROUP}" in crd_names()
    assert kube_store.plural(kind) == plural
    assert resolve_kind(plural) == kind and resolve_kind(kind.lower()) == kind
    assert resolve_kind(slug(kind)) == kind

    settings = install.Settings()
    rules = [r for obj in install.rbac(settings) if obj["kind"] == "ClusterRole"
             for r in obj["rules"] if API_GROUP in r.get("apiGroups", [])]
    assert any(plural in r["resources"] and "watch" in r["verbs"] for r in rules), rules
    assert any(f"{plural}/status" in r["resources"] and "patch" in r["verbs"] for r in rules)
    webhook = install.validating_webhook_configuration(settings, b"ca")
    assert plural in webhook["webhooks"][0]["rules"][0]["resources"]

    request = {"uid": "1", "operation": "CREATE",
               "kind": {"group": API_GROUP, "version": "v1alpha1", "kind": kind},
               "object": {"apiVersion": NATIVE_API_VERSION, "kind": kind,
                          "metadata": {"name": "r", "namespace": "default"},
                          "spec": {"nonsense": True}}}
    allowed, message = validate_request(request)
    assert not allowed and message.startswith(f"{kind}/r: "), message
