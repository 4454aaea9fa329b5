"""The loader: documents -> kinds -> conversion -> schema -> semantics -> Resources with lines."""

import sys

import pytest

from meshtool.errors import DataError
from meshtool.rules.loader import load_rules, load_rules_strict
from meshtool.rules.sources import Source

NATIVE = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: {name}
spec:
  destination:
    name: reviews
  route:
  - labels: {{version: v1}}
    weight: {w1}
  - labels: {{version: v2}}
    weight: {w2}
"""


def src(text, name="rules.yaml"):
    return Source(name, text)


def rule(name="reviews", w1=90, w2=10):
    return NATIVE.format(name=name, w1=w1, w2=w2)


def test_valid_rule_becomes_a_resource_with_file_and_line():
    text = "# a comment\n---\n" + rule()
    result = load_rules([src(text)])
    assert result.findings == []
    [res] = result.resources
    assert (res.kind, res.name, res.namespace) == ("RouteRule", "reviews", "default")
    assert res.spec["route"][1] == {"labels": {"version": "v2"}, "weight": 10}
    assert (res.file, res.line) == ("rules.yaml", 3)


def test_finding_names_file_line_resource_and_field():
    text = rule("a") + "---\n" + rule("b", 90, 20)
    result = load_rules([src(text)])
    assert [r.name for r in result.resources] == ["a"]
    [f] = result.findings
    assert str(f) == "rules.yaml:25: RouteRule/b: spec.route[1].weight: weights sum to 110, must be 100"


def test_schema_findings_come_before_semantics_and_are_all_reported():
    text = rule().replace("    weight: 10", "    wieght: 10").replace("name: reviews\n  route",
                                                                     "nme: reviews\n  route")
    result = load_rules([src(text)])
    assert [(f.field, f.line) for f in result.findings] == [
        ("spec.destination.name", 6), ("spec.destination.nme", 7), ("spec.route[1].wieght", 12)]


def test_clean_documents_take_the_fast_path(monkeypatch):
    """No ruamel parse (line lookup) for documents without findings."""
    from meshtool.rules import yamlio

    calls = []
    monkeypatch.setattr(yamlio, "_rt_yaml", lambda: calls.append(1))
    result = load_rules([src(rule() + "---\n" + rule("x"))])
    assert len(result.resources) == 2 and calls == []


def test_non_rules_are_skipped_with_a_reason():
    text = ("apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n---\n"
            "just: data\n---\n- a list\n---\n"
            "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: gw}\n")
    result = load_rules([src(text)])
    assert result.findings == [] and result.resources == []
    assert result.skipped == [
        ("rules.yaml:1", "Service/reviews is not a rule"),
        ("rules.yaml:5", "not a Kubernetes object (no apiVersion, kind)"),
        ("rules.yaml:7", "not a Kubernetes object (not a mapping)"),
        ("rules.yaml:9", "EnvoyFilter/gw (networking.istio.io/v1alpha3) is not converted: meshtool "
                         "has no equivalent"),
    ]


@pytest.mark.parametrize("text,field,message", [
    ("kind: RouteRule\nmetadata: {name: a}\nspec: {}\n", "apiVersion", "required field is missing"),
    ("apiVersion: config.meshtool.io/v1alpha1\nmetadata: {name: a}\n", "kind",
     "required field is missing"),
    ("apiVersion: config.meshtool.io/v1\nkind: RouteRule\nmetadata: {name: a}\n", "apiVersion",
     "unknown version"),
    ("apiVersion: config.meshtool.io/v1alpha1\nkind: RoutRule\nmetadata: {name: a}\n", "kind",
     "unknown kind 'RoutRule'"),
    ("apiVersion: config.meshtool.io/v1alpha1\nkind: EgressRule\nmetadata: {name: A}\n"
     "spec: {destination: {service: a.example.com}, ports: [{port: 80, protocol: http}]}\n",
     "metadata.name", "not a valid name"),
])
def test_rule_like_documents_with_broken_identity_are_findings(text, field, message):
    [f] = load_rules([src(text)]).findings
    assert f.field == field and message in f.message


def test_broken_yaml_is_a_finding_of_its_file_and_other_files_still_load():
    result = load_rules([src("a: [1,\n", "bad.yaml"), src(rule(), "good.yaml")])
    [f] = result.findings
    assert f.file == "bad.yaml" and f.line and "invalid YAML" in f.message
    assert [r.file for r in result.resources] == ["good.yaml"]


def test_list_documents_stand_for_their_items():
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: config.meshtool.io/v1alpha1\n  kind: EgressRule\n"
            "  metadata: {name: msgd}\n"
            "  spec: {destination: {service: msgd.example.com}, ports: [{port: 9997, protocol: http}]}\n"
            "- apiVersion: config.meshtool.io/v1alpha1\n  kind: EgressRule\n"
            "  metadata: {name: bad}\n"
            "  spec: {destination: {service: msgd.example.com}, ports: [{port: 0, protocol: http}]}\n")
    result = load_rules([src(text)])
    assert [r.name for r in result.resources] == ["msgd"]
    assert result.resources[0].line == 4
    [f] = result.findings
    assert (f.line, f.field) == (11, "spec.ports[0].port")


def test_namespace_fills_in_and_mismatch_is_refused():
    with_ns = rule().replace("  name: reviews\nspec", "  name: reviews\n  namespace: prod\nspec")
    result = load_rules([src(rule()), src(with_ns, "b.yaml")], namespace="staging")
    assert [r.namespace for r in result.resources] == ["staging"]
    [f] = result.findings
    assert f.field == "metadata.namespace" and "does not match" in f.message
    assert load_rules([src(with_ns)], namespace="prod").resources[0].namespace == "prod"


def test_foreign_rules_are_converted_and_checked_in_native_form():
    text = ("apiVersion: kuma.io/v1alpha1\nkind: TrafficRoute\nmesh: default\n"
            "metadata: {name: canary}\nspec:\n"
            "  destinations: [{match: {kuma.io/service: benigno}}]\n"
            "  conf:\n    split:\n"
            "    - {weight: 2, destination: {kuma.io/service: benigno, version: v1}}\n"
            "    - {weight: 1, destination: {kuma.io/service: benigno, version: v2}}\n")
    result = load_rules([src(text)])
    [res] = result.resources
    assert res.spec["route"] == [{"labels": {"version": "v1"}, "weight": 67},
                                 {"labels": {"version": "v2"}, "weight": 33}]
    assert result.converted == [("rules.yaml:1", "TrafficRoute/canary -> RouteRule/canary")]


def test_conversion_problems_point_at_the_foreign_field():
    text = ("apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
            "metadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n"
            "  - route:\n    - destination: {host: reviews, subset: v2}\n")
    [f] = load_rules([src(text)]).findings
    assert (f.line, f.field, f.resource) == (8, "spec.http[0].route[0].destination.subset",
                                             "VirtualService/reviews")


def test_native_findings_of_converted_rules_use_the_foreign_line():
    text = ("apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\nmetadata: {name: r}\n"
            "spec:\n  destination: {name: reviews}\n  route:\n  - labels: {version: v1}\n"
            "    weight: 60\n  - labels: {version: v2}\n    weight: 60\n  l4Fault: {}\n"
            "  bogus: 1\n")
    findings = {f.field: f for f in load_rules([src(text)]).findings}
    assert findings["spec.l4Fault"].line == 11
    assert findings["spec.bogus"].line == 12
    assert "cannot be converted" in findings["spec.bogus"].message
    assert "(converted from RouteRule/r)" in findings["spec.bogus"].message


def test_semantic_findings_of_converted_rules():
    text = ("apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
            "metadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n"
            "    - destination: {host: reviews}\n      weight: 60\n"
            "    - destination: {host: reviews}\n      weight: 60\n")
    [f] = load_rules([src(text)]).findings
    assert f.field == "spec.route[1].weight" and f.line == 11
    assert f.message.startswith("weights sum to 120, must be 100")
    assert f.resource == "RouteRule/reviews"


def test_virtual_service_finds_its_destination_rule_in_another_source():
    vs = ("apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
          "metadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n"
          "  - route:\n    - destination: {host: reviews, subset: v2}\n")
    dr = ("apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
          "metadata: {name: reviews}\nspec:\n  host: reviews\n"
          "  subsets: [{name: v2, labels: {version: v2}}]\n")
    result = load_rules([src(vs, "vs.yaml"), src(dr, "dr.yaml")])
    assert result.findings == []
    assert result.resources[0].spec["route"] == [{"labels": {"version": "v2"}}]


def test_unique_refuses_the_same_rule_twice():
    result = load_rules([src(rule()), src(rule(), "again.yaml")], unique=True)
    [f] = result.findings
    assert f.file == "again.yaml" and "defined twice (first at rules.yaml:1)" in f.message
    assert len(load_rules([src(rule()), src(rule(), "again.yaml")]).resources) == 2


def test_strict_is_all_or_nothing():
    good = src(rule("a"))
    bad = src(rule("b", 50, 60), "bad.yaml")
    assert [r.name for r in load_rules_strict([good])] == ["a"]
    with pytest.raises(DataError) as exc:
        load_rules_strict([good, bad])
    assert exc.value.exit_code == 65
    assert [f.file for f in exc.value.findings] == ["bad.yaml"]


def test_json_sources():
    text = ('{"apiVersion": "config.meshtool.io/v1alpha1", "kind": "DestinationPolicy",'
            ' "metadata": {"name": "r"}, "spec": {"destination": {"name": "reviews"},'
            ' "loadBalancing": {"name": "RANDOM"}}}')
    [res] = load_rules([Source("p.json", text)]).resources
    assert res.spec["loadBalancing"] == {"name": "RANDOM"}


def test_loader_import_does_not_import_jsonschema_until_a_check():
    import subprocess

    code = ("import sys; import meshtool.rules.loader; "
            "print('jsonschema' in sys.modules, 'ruamel' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_rule_read_back_from_a_cluster_loads_without_server_fields():
    """`kubectl get routerule x -o yaml | meshtool replace -f -`: what the API server added is
    not the user's and is dropped; resourceVersion stays, so replace still refuses a stale write."""
    text = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  creationTimestamp: "2026-11-21T19:00:00Z"
  generation: 2
  managedFields:
  - apiVersion: config.meshtool.io/v1alpha1
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {}}
    manager: meshtool
    operation: Apply
  name: reviews
  namespace: default
  resourceVersion: "4242"
  uid: 0d6f7e5c-6a5e-4a55-9c4e-3b1f2a8e9d10
spec:
  destination: {name: reviews}
status: {}
"""
    result = load_rules([Source("from-cluster.yaml", text)])
    assert result.findings == []
    [rule] = result.resources
    assert rule.resource_version == "4242"
    assert rule.to_manifest()["metadata"] == {"name": "reviews", "namespace": "default",
                                              "resourceVersion": "4242"}


def test_fields_a_user_may_set_but_we_do_not_support_are_still_refused():
    text = ("apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata:\n  name: r\n"
            "  finalizers: [x]\nspec:\n  destination: {name: reviews}\n")
    result = load_rules([Source("f.yaml", text)])
    assert [f.field for f in result.findings] == ["metadata.finalizers"]


def test_a_label_value_kubernetes_refuses_is_a_finding_at_its_line():
    text = NATIVE.format(name="a", w1=50, w2=50) + "---\n" + NATIVE.format(
        name="b", w1=50, w2=50).replace("  name: b\n", "  name: b\n  labels:\n"
                                        "    team: platform engineering\n")
    result = load_rules([src(text)])
    assert [r.name for r in result.resources] == ["a"]
    (finding,) = result.findings
    assert (finding.line, finding.field, finding.resource) == (19, "metadata.labels.team",
                                                               "RouteRule/b")
    assert "label value 'platform engineering'" in finding.message


def test_duplicate_mapping_key_names_the_second_key_and_its_line():
    text = "# leading\n" + rule().replace("    weight: 90\n", "    weight: 90\n    weight: 100\n")
    result = load_rules([src(text)])
    [finding] = result.findings
    assert (finding.file, finding.line) == ("rules.yaml", 12)
    assert "duplicate key 'weight' (first at line 11)" in finding.message
    assert result.resources == []


def test_duplicate_key_in_json_is_refused():
    text = '{"apiVersion": "config.meshtool.io/v1alpha1",\n "kind": "RouteRule",\n "kind": "X"}\n'
    [finding] = load_rules([src(text, "r.json")]).findings
    assert (finding.line, "duplicate key 'kind'" in finding.message) == (3, True)


def test_non_integral_weight_is_refused():
    [finding] = load_rules([src(rule(w1="90.0"))]).findings
    assert finding.field == "spec.route[0].weight" and "must be an integer" in finding.message


@pytest.mark.parametrize("api", ["config.meshtool.io/v1alpha1", "config.istio.io/v1alpha2"])
def test_seed_ip_egress_rule_with_an_http_port_validates(api):
    text = (f"apiVersion: {api}\nkind: EgressRule\nmetadata:\n  name: msgd\nspec:\n"
            "  destination: {service: 10.100.35.27}\n  ports: [{port: 9997, protocol: http}]\n")
    result = load_rules([src(text)])
    assert result.findings == []
    assert result.resources[0].spec["destination"]["service"] == "10.100.35.27"
