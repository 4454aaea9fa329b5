"""The rule CRDs: generated from schemas/, committed fresh, accepted and enforced by a real API server."""

from __future__ import annotations

import json
import time

import pytest

from meshtool.kube import crds
from meshtool.model.kinds import API_GROUP, API_VERSION, NATIVE_KINDS, PLURALS


def _nodes(schema, path="#"):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}/properties/{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _nodes(schema[key], f"{path}/{key}")


def test_committed_crds_are_fresh():
    stale = crds.stale_files()
    assert not stale, f"stale CRDs {stale}: run `python -m meshtool.kube.crds --write`"


def test_check_command_reports_staleness(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(crds, "CRD_DIR", tmp_path)
    assert crds.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert crds.main(["--write"]) == 0
    assert crds.main(["--check"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{p}.yaml" for p in PLURALS.values())


@pytest.mark.parametrize("kind", NATIVE_KINDS)
def test_schema_is_structural(kind):
    schema = crds.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _nodes(schema):
        assert "type" in node, path
        assert not ({"$schema", "$id", "$defs", "$ref", "const"} & node.keys()), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if path.startswith("#/properties/spec"):
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_translation_inlines_refs_and_refuses_what_it_cannot_express():
    schema = {"type": "object", "$defs": {"port": {"type": "integer", "description": "A port."}},
              "properties": {"p": {"$ref": "#/$defs/port"}, "k": {"const": "x", "type": "string"}},
              "additionalProperties": False}
    assert crds.structural(schema) == {
        "type": "object",
        "properties": {"p": {"type": "integer", "description": "A port."},
                       "k": {"enum": ["x"], "type": "string"}},
    }
    with pytest.raises(crds.SchemaNotStructural, match="oneOf"):
        crds.structural({"type": "object", "oneOf": [{"required": ["a"]}]})
    with pytest.raises(crds.SchemaNotStructural, match="needs a type"):
        crds.structural({"description": "untyped"})


# -- against the API server ------------------------------------------------------------------


def test_crds_are_established_and_structural(kube_cluster, meshtool_crds):
    from kubernetes import client

    api = client.ApiextensionsV1Api(kube_cluster.api_client)
    for name in meshtool_crds:
        conditions = {c.type: c.status for c in api.read_custom_resource_definition(name).status.conditions}
        assert conditions.get("Established") == "True", (name, conditions)
        assert conditions.get("NonStructuralSchema") in (None, "False"), (name, conditions)
    resources = client.CustomObjectsApi(kube_cluster.api_client).get_api_resources(API_GROUP, API_VERSION)
    names = {r.name: r for r in resources.resources}
    assert names["routerules"].short_names == ["rr"]
    assert names["destinationpolicies"].short_names == ["dp"]
    assert "meshtool" in names["egressrules"].categories
    assert all(names[p].namespaced for p in PLURALS.values())


def test_openapi_carries_field_descriptions(kube_cluster, meshtool_crds):
    """What `kubectl explain routerule.spec.destination` reads: the server's OpenAPI v3."""
    path = f"/openapi/v3/apis/{API_GROUP}/{API_VERSION}"
    deadline = time.monotonic() + 30
    while True:  # the OpenAPI aggregator picks new CRDs up asynchronously
        api = kube_cluster.api_client
        response = api.call_api(*api.param_serialize("GET", path, auth_settings=["BearerToken"]))
        body = response.read()
        document = json.loads(body) if response.status == 200 and body else {}
        schemas = document.get("components", {}).get("schemas", {})
        rule = schemas.get(f"io.meshtool.config.{API_VERSION}.RouteRule")
        if rule or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert rule, (response.status, body[:300], sorted(schemas))
    spec = rule["properties"]["spec"]
    assert spec["description"] == "The routing rule."
    destination = spec["properties"]["destination"]
    assert destination["description"] == "The service whose requests this rule routes."
    assert "reviews" in destination["properties"]["name"]["description"]


def _raw(kube_cluster, namespace, spec, kind="EgressRule", **extra):
    from kubernetes import client

    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": "raw"}, "spec": spec}
    return client.CustomObjectsApi(kube_cluster.api_client).create_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURALS[kind], body, field_validation="Strict", **extra)


GOOD_EGRESS = {"destination": {"service": "*.example.com"}, "ports": [{"port": 443, "protocol": "https"}]}


@pytest.mark.parametrize("spec, message", [
    ({**GOOD_EGRESS, "colour": "blue"}, 'unknown field "spec.colour"'),
    ({**GOOD_EGRESS, "ports": [{"port": "443", "protocol": "https"}]}, "spec.ports[0].port: Invalid value"),
    ({**GOOD_EGRESS, "ports": [{"port": 443, "protocol": "ftp"}]}, 'Unsupported value: "ftp"'),
    ({"destination": {"service": "x.example.com"}}, "spec.ports: Required value"),
])
def test_api_server_refuses_invalid_rules_written_raw(kube_cluster, meshtool_crds, kube_namespace, spec, message):
    from kubernetes.client.rest import ApiException

    with pytest.raises(ApiException) as refused:
        _raw(kube_cluster, kube_namespace, spec)
    assert refused.value.status == (400 if "unknown field" in message else 422)
    assert message in json.loads(refused.value.body)["message"]


def test_api_server_accepts_a_valid_rule_written_raw(kube_cluster, meshtool_crds, kube_namespace):
    created = _raw(kube_cluster, kube_namespace, GOOD_EGRESS)
    assert created["spec"] == GOOD_EGRESS
    assert created["metadata"]["resourceVersion"]
