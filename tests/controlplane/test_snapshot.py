"""Snapshot computation: the sidecar's format, versions that name the content."""

import json

from meshtool.controlplane.snapshot import build_snapshot
from meshtool.model.resource import Resource

RULE = Resource("RouteRule", "canary", "default",
                {"destination": {"name": "benigno"}, "route": [{"labels": {"version": "v1"}}]},
                resource_version="3", revision=3)
SERVICES = [{"name": "benigno", "namespace": "default", "ports": [5000],
             "endpoints": [{"address": "127.0.0.1", "port": 7001, "labels": {"version": "v1"}}]}]


def test_document_has_the_sidecar_format():
    built = build_snapshot(3, [RULE], SERVICES)
    doc = json.loads(built.json)
    assert set(doc) == {"version", "services", "rules"}
    assert doc["version"] == built.version and built.version.startswith("3.")
    assert doc["services"] == SERVICES
    assert doc["rules"] == [RULE.to_manifest()]


def test_version_names_the_content():
    a = build_snapshot(3, [RULE], SERVICES)
    assert build_snapshot(3, [RULE], SERVICES) == a
    assert build_snapshot(3, [RULE], []).version != a.version
    assert build_snapshot(4, [RULE], SERVICES).version.startswith("4.")


def test_rule_order_does_not_matter():
    other = Resource("EgressRule", "msgd", "default", {"destination": {"service": "msgd"}})
    assert build_snapshot(1, [RULE, other], []) == build_snapshot(1, [other, RULE], [])


def test_the_sidecar_accepts_it():
    import pytest

    compile_snapshot = pytest.importorskip("meshtool.sidecar.snapshot").compile_snapshot
    built = build_snapshot(3, [RULE], SERVICES)
    snap = compile_snapshot(json.loads(built.json))
    assert snap.version == built.version
