"""The dashboard's split view, from the rules and graph documents the control plane serves."""

from meshtool.controlplane.dashboard.views import splits


def rule(name, route):
    return {"kind": "RouteRule", "namespace": "default", "name": name,
            "manifest": {"spec": {"destination": {"name": "benigno"}, "route": route}}}


def test_weights_are_the_models_and_the_observed_share_is_by_version():
    graph = {"edges": [{"destination": "benigno:v1", "requests": 8},
                       {"destination": "benigno:v2", "requests": 2}]}
    rows = splits({"rules": [
        rule("canary", [{"labels": {"version": "v1"}, "weight": 90},
                        {"labels": {"version": "v2"}, "weight": 10}]),
        rule("all-v2", [{"labels": {"version": "v2"}}]),  # one route: 100, as the sidecar reads it
        rule("broken", [{"labels": {"version": "v1"}, "weight": 50}]),  # refused: not shown
    ]}, graph)
    assert [(r["rule"], [(t["version"], t["weight"], t["share"], t["observed"])
                         for t in r["targets"]]) for r in rows] == [
        ("default/canary", [("v1", 90, 90, 80.0), ("v2", 10, 10, 20.0)]),
        ("default/all-v2", [("v2", 100, 100, 20.0)])]
