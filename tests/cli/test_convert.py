"""`meshtool convert`: foreign rules printed in native form, or an error and nothing."""

import json

import yaml


def test_kuma_to_native_yaml(run_cli):
    r = run_cli("convert", "-f", "samples/canary/kuma/trafficroute-90-10.yaml")
    assert r.code == 0, r.err
    assert yaml.safe_load(r.out) == {
        "apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
        "metadata": {"name": "benigno-canary", "namespace": "default"},
        "spec": {"destination": {"name": "benigno", "namespace": "default"},
                 "route": [{"labels": {"version": "v1"}, "weight": 90},
                           {"labels": {"version": "v2"}, "weight": 10}]}}
    assert "converted TrafficRoute/benigno-canary -> RouteRule/benigno-canary" in r.err


def test_several_rules_as_a_yaml_stream_or_a_json_list(run_cli):
    r = run_cli("convert", "-f", "samples/egress/istio-v1alpha2/egress-msgd.yaml",
                "-f", "samples/egress/istio-v1alpha2/route-svcb-50-50.yaml")
    assert r.code == 0, r.err
    docs = list(yaml.safe_load_all(r.out))
    assert [d["kind"] for d in docs] == ["EgressRule", "RouteRule"]
    r = run_cli("convert", "-f", "samples/helloworld/istio/", "-o", "json")
    assert r.code == 0
    items = {d["kind"]: d for d in json.loads(r.out)["items"]}
    assert items["RouteRule"]["spec"]["route"] == [{"labels": {"version": "v2"}}]
    assert items["DestinationPolicy"]["spec"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    r = run_cli("convert", "-f", "samples/egress/istio-v1alpha2/egress-msgd.yaml",
                "-f", "samples/canary/kuma", "-o", "json")
    assert json.loads(r.out)["kind"] == "List"


def test_virtual_service_without_its_destination_rule_is_refused(run_cli):
    r = run_cli("convert", "-f", "samples/helloworld/istio/virtualservice.yaml")
    assert r.code == 65 and r.out == ""
    assert ("samples/helloworld/istio/virtualservice.yaml:14: VirtualService/helloworld: "
            "spec.http[0].route[0].destination.subset: subset 'v2' needs the DestinationRule"
            in r.err)


def test_only_non_rules_is_an_error(run_cli):
    r = run_cli("convert", "-f", "samples/canary/kubernetes.yaml")
    assert r.code == 65 and r.out == ""
    assert "no rules found" in r.err
