"""`meshtool convert`: foreign rules printed in native form, or an error and nothing."""

import collections
import json

import yaml
from click.testing import CliRunner

from meshtool.cli.main import main

Result = collections.namedtuple("Result", "exit_code stdout stderr")


def invoke(*args):
    """Run the real entry point (its error handler included) with captured streams."""
    runner = CliRunner()
    with runner.isolation() as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return Result(code, out, err)


def test_kuma_to_native_yaml():
    r = invoke("convert", "-f", "samples/canary/kuma/trafficroute-90-10.yaml")
    assert r.exit_code == 0, r.stderr
    assert yaml.safe_load(r.stdout) == {
        "apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
        "metadata": {"name": "benigno-canary", "namespace": "default"},
        "spec": {"destination": {"name": "benigno", "namespace": "default"},
                 "route": [{"labels": {"version": "v1"}, "weight": 90},
                           {"labels": {"version": "v2"}, "weight": 10}]}}
    assert "converted TrafficRoute/benigno-canary -> RouteRule/benigno-canary" in r.stderr


def test_several_rules_as_a_yaml_stream_or_a_json_list():
    r = invoke("convert", "-f", "samples/egress/istio-v1alpha2/egress-msgd.yaml",
               "-f", "samples/egress/istio-v1alpha2/route-svcb-50-50.yaml")
    assert r.exit_code == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert [d["kind"] for d in docs] == ["EgressRule", "RouteRule"]
    r = invoke("convert", "-f", "samples/helloworld/istio/", "-o", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["spec"]["route"] == [{"labels": {"version": "v2"}}]
    r = invoke("convert", "-f", "samples/egress/istio-v1alpha2/egress-msgd.yaml",
               "-f", "samples/canary/kuma", "-o", "json")
    assert json.loads(r.stdout)["kind"] == "List"


def test_virtual_service_without_its_destination_rule_is_refused():
    r = invoke("convert", "-f", "samples/helloworld/istio/virtualservice.yaml")
    assert r.exit_code == 65 and r.stdout == ""
    assert ("samples/helloworld/istio/virtualservice.yaml:14: VirtualService/helloworld: "
            "spec.http[0].route[0].destination.subset: subset 'v2' needs the DestinationRule"
            in r.stderr)


def test_only_non_rules_is_an_error():
    r = invoke("convert", "-f", "samples/canary/kubernetes.yaml")
    assert r.exit_code == 65 and r.stdout == ""
    assert "no rules found" in r.stderr
