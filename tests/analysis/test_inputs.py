"""Reading inputs: rules and manifests sorted apart without parsing twice, Lists, JSON,
stdin, line numbers, and merging layers (files win)."""

from __future__ import annotations

import json

from meshtool.analysis.inputs import _guess, merge, read_files
from meshtool.analysis.items import KUBE, Item
from meshtool.rules.sources import Source

RULE = ("apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata:\n  name: r\n"
        "spec:\n  destination:\n    name: reviews\n  route:\n  - labels:\n      version: v9\n")
SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\nspec:\n"
           "  selector: {app: reviews}\n  ports:\n  - name: http\n    port: 80\n")


def test_guess():
    assert _guess(RULE) == "rule"
    assert _guess(SERVICE) == "kube"
    assert _guess("apiVersion: 'networking.istio.io/v1beta1'\nkind: VirtualService\n") == "rule"
    assert _guess("apiVersion: v1\nkind: List\nitems: []\n") is None
    assert _guess("type: TrafficRoute\nname: x\n") is None
    assert _guess("  apiVersion: v1\n") is None


def test_mixed_stream_keeps_line_numbers():
    text = "# header\n" + SERVICE + "---\n" + RULE + "---\n" + SERVICE.replace("reviews", "other")
    inputs = read_files([Source("mixed.yaml", text)])
    by_name = {(i.kind, i.name): i for i in inputs.items}
    assert by_name[("Service", "reviews")].line == 2
    assert by_name[("RouteRule", "r")].line == 12
    assert by_name[("Service", "other")].line == 23
    # a rule field is located in its own document
    assert by_name[("RouteRule", "r")].locate(("spec", "route", 0, "labels")) == 20


def test_list_documents_hold_rules_and_manifests():
    items = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews"},
              "spec": {"selector": {"app": "reviews"}}},
             {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
              "metadata": {"name": "r"}, "spec": {"destination": {"name": "reviews"}}}]
    doc = {"apiVersion": "v1", "kind": "List", "items": items}
    for source in (Source("l.json", json.dumps(doc, indent=1)),
                   Source("l.yaml", "apiVersion: v1\nkind: List\nitems:\n" + "".join(
                       f"- {json.dumps(i)}\n" for i in items))):
        inputs = read_files([source])
        assert sorted((i.kind, i.name) for i in inputs.items) == \
            [("RouteRule", "r"), ("Service", "reviews")]
        assert not inputs.load_findings


def test_stdin_yaml_whose_second_document_is_flow_style():
    text = RULE + "---\n{apiVersion: v1, kind: Service, metadata: {name: reviews}}\n"
    inputs = read_files([Source("<stdin>", text)])
    assert sorted(i.kind for i in inputs.items) == ["RouteRule", "Service"]


def test_merge_keeps_the_first_layer():
    a = Item.from_manifest({"kind": "Service", "metadata": {"name": "s"}}, default_namespace="d")
    b = Item.from_manifest({"kind": "Service", "metadata": {"name": "s"}}, default_namespace="d",
                           origin=KUBE)
    c = Item.from_manifest({"kind": "Service", "metadata": {"name": "t"}}, default_namespace="d",
                           origin=KUBE)
    assert merge([a], [b, c]) == [a, c]
