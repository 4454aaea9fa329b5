"""config.istio.io/v1alpha2 (Istio 0.x) rules: the native shapes under another apiVersion."""

import pytest

from meshtool.model.convert import Context, converter_for, istio_v1alpha2
from meshtool.rules.yamlio import format_path

API = "config.istio.io/v1alpha2"


def doc(kind, spec, **meta):
    return {"apiVersion": API, "kind": kind,
            "metadata": {"name": "r", **meta}, "spec": spec}


def convert(d):
    out = istio_v1alpha2.convert(d, Context([d]))
    return out, {format_path(p): m for p, m in out.problems}


@pytest.mark.parametrize("kind,spec", [
    ("RouteRule", {"destination": {"name": "reviews"}, "precedence": 2,
                   "match": {"request": {"headers": {"cookie": {"regex": "user=jason"}}}},
                   "route": [{"labels": {"version": "v2"}}],
                   "httpFault": {"delay": {"percent": 10, "fixedDelay": "5s"}}}),
    ("EgressRule", {"destination": {"service": "*.example.com"},
                    "ports": [{"port": 443, "protocol": "https"}]}),
    ("DestinationPolicy", {"destination": {"name": "reviews", "labels": {"version": "v1"}},
                           "circuitBreaker": {"simpleCb": {"maxConnections": 100}}}),
])
def test_same_shapes_convert_unchanged(kind, spec):
    out, problems = convert(doc(kind, spec, namespace="prod", labels={"team": "a"}))
    assert problems == {}
    assert out.converted[0].manifest == {
        "apiVersion": "config.meshtool.io/v1alpha1", "kind": kind,
        "metadata": {"name": "r", "namespace": "prod", "labels": {"team": "a"}}, "spec": spec}


def test_registered_for_all_three_kinds():
    for kind in ("RouteRule", "EgressRule", "DestinationPolicy"):
        assert converter_for(API, kind) is istio_v1alpha2.convert


def test_istio_spellings_are_normalised():
    out, problems = convert(doc("EgressRule", {"destination": {"service": "a.example.com"},
                                               "ports": [{"port": 80, "protocol": "HTTP"}]}))
    assert problems == {}
    assert out.converted[0].manifest["spec"]["ports"] == [{"port": 80, "protocol": "http"}]
    out, _ = convert(doc("DestinationPolicy", {"destination": {"name": "a"},
                                               "loadBalancing": "RANDOM"}))
    assert out.converted[0].manifest["spec"]["loadBalancing"] == {"name": "RANDOM"}
    out, problems = convert(doc("RouteRule", {
        "destination": {"service": "reviews.prod.svc.cluster.local"},
        "match": {"source": {"labels": {"app": "productpage"}}},
        "route": [{"labels": {"version": "v1"}, "destination": {"name": "reviews"}}]}))
    assert problems == {}
    assert out.converted[0].manifest["spec"] == {
        "destination": {"name": "reviews", "namespace": "prod"},
        "match": {"source": {"name": "productpage", "labels": {"app": "productpage"}}},
        "route": [{"labels": {"version": "v1"}}]}


@pytest.mark.parametrize("kind,spec,field", [
    ("RouteRule", {"destination": {"name": "a"}, "l4Fault": {}}, "spec.l4Fault"),
    ("RouteRule", {"destination": {"name": "a"},
                   "route": [{"destination": {"name": "b"}, "weight": 100}]},
     "spec.route[0].destination"),
    ("RouteRule", {"destination": {"name": "a", "labels": {"v": "1"}}, "route": [{}]},
     "spec.destination.labels"),
    ("RouteRule", {"destination": {"service": "www.example.com"}}, "spec.destination.service"),
    ("EgressRule", {"destination": {"service": "a.example.com"}, "useEgressProxy": True,
                    "ports": [{"port": 80, "protocol": "http"}]}, "spec.useEgressProxy"),
    ("DestinationPolicy", {"destination": {"name": "a"}, "custom": {}}, "spec.custom"),
])
def test_istio_only_fields_are_problems(kind, spec, field):
    _, problems = convert(doc(kind, spec))
    assert field in problems
    assert "cannot be converted" in problems[field]


def test_metadata_server_fields_dropped_others_refused():
    out, problems = convert(doc("RouteRule", {"destination": {"name": "a"}}, uid="x",
                                creationTimestamp="2018-01-01T00:00:00Z", finalizers=["f"]))
    assert list(problems) == ["metadata.finalizers"]
    assert out.converted[0].manifest["metadata"] == {"name": "r"}
