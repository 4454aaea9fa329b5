"""Kuma TrafficRoute -> RouteRule: relative weights, services, what does not convert."""

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from meshtool.model.convert import Context, kuma
from meshtool.rules.yamlio import format_path

SVC = "benigno_default_svc_5000"


def route(split=None, sources=None, destinations=None, conf=None, **extra):
    return {"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficRoute", "mesh": "default",
            "metadata": {"name": "canary"},
            "spec": {"sources": sources or [{"match": {"kuma.io/service": "*"}}],
                     "destinations": destinations or [{"match": {"kuma.io/service": SVC}}],
                     "conf": conf or {"split": split}}, **extra}


def split(*weights, versions=("v1", "v2", "v3", "v4")):
    return [{"weight": w, "destination": {"kuma.io/service": SVC, "version": v}}
            for w, v in zip(weights, versions)]


def convert(doc):
    out = kuma.convert(doc, Context([doc]))
    return out, {format_path(p): m for p, m in out.problems}


def test_90_10_split():
    out, problems = convert(route(split(90, 10)))
    assert problems == {}
    [item] = out.converted
    assert item.manifest == {
        "apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
        "metadata": {"name": "canary"},
        "spec": {"destination": {"name": "benigno", "namespace": "default"},
                 "route": [{"labels": {"version": "v1"}, "weight": 90},
                           {"labels": {"version": "v2"}, "weight": 10}]}}


@pytest.mark.parametrize("weights,percent", [
    ((9, 1), [90, 10]), ((1, 1), [50, 50]), ((1, 1, 1), [34, 33, 33]), ((3, 0), [100, 0]),
    ((2, 1), [67, 33]), ((1, 2), [33, 67]), ((0.5, 0.5), [50, 50]), ((1, 1, 1, 1), [25] * 4),
])
def test_relative_weights_become_percentages(weights, percent):
    out, problems = convert(route(split(*weights)))
    assert problems == {}
    assert [r["weight"] for r in out.converted[0].manifest["spec"]["route"]] == percent


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8)
       .filter(lambda ws: sum(ws) > 0))
def test_normalised_weights_sum_to_100_and_stay_close(weights):
    pct = kuma.normalise_weights(weights)
    assert sum(pct) == 100
    total = sum(weights)
    for w, p in zip(weights, pct):
        assert abs(Fraction(w * 100, total) - p) < 1
    assert kuma.normalise_weights(weights) == pct  # deterministic


def test_source_service_and_tags_become_match_source():
    src = [{"match": {"kuma.io/service": "magnanimo_default_svc_4000", "version": "v1"}}]
    out, problems = convert(route(split(1), sources=src))
    assert problems == {}
    assert out.converted[0].manifest["spec"]["match"] == {
        "source": {"name": "magnanimo", "namespace": "default", "labels": {"version": "v1"}}}


def test_conf_destination_is_a_single_route():
    conf = {"destination": {"kuma.io/service": SVC, "version": "v2"}}
    out, problems = convert(route(conf=conf))
    assert problems == {}
    assert out.converted[0].manifest["spec"]["route"] == [{"labels": {"version": "v2"}}]


def test_universal_form():
    doc = {"type": "TrafficRoute", "name": "canary", "mesh": "default",
           "sources": [{"match": {"kuma.io/service": "*"}}],
           "destinations": [{"match": {"kuma.io/service": "benigno"}}],
           "conf": {"split": split(9, 1)[:1] + [{"weight": 1, "destination": {
               "kuma.io/service": "benigno", "version": "v2"}}]}}
    doc["conf"]["split"][0]["destination"]["kuma.io/service"] = "benigno"
    assert kuma.is_universal(doc)
    out, problems = convert(doc)
    assert problems == {}
    m = out.converted[0].manifest
    assert m["metadata"] == {"name": "canary"}
    assert m["spec"]["destination"] == {"name": "benigno"}
    assert [r["weight"] for r in m["spec"]["route"]] == [90, 10]


@pytest.mark.parametrize("doc,field,message", [
    (route(split(0, 0)), "spec.conf.split", "the weights are all 0"),
    (route(split(-1, 2)), "spec.conf.split[0].weight", "must be a number, 0 or more"),
    (route(split(1, "x")), "spec.conf.split[1].weight", "must be a number"),
    (route(destinations=[{"match": {"kuma.io/service": "*"}}], split=split(1)),
     "spec.destinations[0].match.kuma.io/service", "needs one named service"),
    (route(destinations=[{"match": {"kuma.io/service": "a"}}, {"match": {"kuma.io/service": "b"}}],
           split=split(1)), "spec.destinations", "needs exactly one destination"),
    (route(split=[{"weight": 1, "destination": {"kuma.io/service": "other_default_svc_80"}}]),
     "spec.conf.split[0].destination.kuma.io/service", "is not the destination service"),
    (route(conf={"split": split(1), "loadBalancer": {"roundRobin": {}}}),
     "spec.conf.loadBalancer", "loadBalancer cannot be converted"),
    (route(conf={"http": []}), "spec.conf.http", "http cannot be converted"),
    (route(split(1), extra=1), "extra", "extra cannot be converted"),
    (route(sources=[{"match": {"kuma.io/service": "a"}}, {"match": {"kuma.io/service": "b"}}],
           split=split(1)), "spec.sources", "one source service"),
    (route(split=[{"weight": 1, "destination": {"kuma.io/service": SVC}, "mirror": True}]),
     "spec.conf.split[0].mirror", "mirror cannot be converted"),
])
def test_what_cannot_be_converted_is_a_problem_naming_the_field(doc, field, message):
    _, problems = convert(doc)
    assert field in problems, problems
    assert message in problems[field]


@pytest.mark.parametrize("tag,expected", [
    ("benigno_default_svc_5000", ("benigno", "default")),
    ("benigno_kong-mesh-app_svc_5000", ("benigno", "kong-mesh-app")),
    ("benigno", ("benigno", None)),
    ("*", None), ("", None), (5, None),
])
def test_service_tags(tag, expected):
    assert kuma.parse_service(tag) == expected


def test_markdown_escaped_tag_is_refused_not_taken_as_a_name():
    escaped = "benigno\\_kong-mesh-app\\_svc\\_5000"
    _, problems = convert(route(split(90, 10), destinations=[
        {"match": {"kuma.io/service": escaped}}]))
    message = problems["spec.destinations[0].match.kuma.io/service"]
    assert "is not a service tag" in message and "Markdown escape" in message


def test_tag_in_another_namespace_keeps_it():
    tag = "benigno_kong-mesh-app_svc_5000"
    out, problems = convert(route(
        [{"weight": 1, "destination": {"kuma.io/service": tag, "version": "v1"}}],
        destinations=[{"match": {"kuma.io/service": tag}}]))
    assert problems == {}
    assert out.converted[0].manifest["spec"]["destination"] == {"name": "benigno",
                                                                "namespace": "kong-mesh-app"}
