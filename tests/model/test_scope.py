"""A proxy's scope: Sidecar egress hosts, exportTo, the defaults."""

import pytest

from meshtool.model.scope import (HostPattern, exported_to, parse_host, parse_sidecar,
                                  scope_for)


def test_host_patterns_match_names_namespaces_and_wildcards():
    assert parse_host("./*").matches("a", "a", "svc")
    assert not parse_host("./*").matches("a", "b", "svc")
    assert parse_host("*/*").matches("a", "b", "svc")
    assert parse_host("b/svc").matches("a", "b", "svc")
    assert parse_host("b/svc.b.svc.cluster.local").matches("a", "b", "svc")
    assert not parse_host("b/other").matches("a", "b", "svc")
    assert parse_host("*/*.b.svc.cluster.local").matches("a", "b", "svc")
    assert not parse_host("~/*").matches("a", "a", "svc")
    for bad in ("svc", "a/b/c", "/x", "a/", "a/x*y", 3):
        with pytest.raises(ValueError):
            parse_host(bad)


def test_sidecar_problems_name_the_field():
    sidecar, problems = parse_sidecar("a", "s", {"egress": [{"hosts": ["nope"]}]})
    assert sidecar is None and problems[0][0] == ("spec", "egress", 0, "hosts", 0)
    _, problems = parse_sidecar("a", "s", {"workloadSelector": {"labels": {"x": 1}}})
    assert problems[0][0] == ("spec", "workloadSelector", "labels")
    sidecar, problems = parse_sidecar("a", "s", {"egress": [{"hosts": ["./*", "b/*"]}]})
    assert problems == [] and [str(h) for h in sidecar.hosts] == ["./*", "b/*"]


def test_the_most_specific_sidecar_applies_else_the_root_one_else_the_namespace():
    def sc(ns, name, hosts, selector=None):
        spec = {"egress": [{"hosts": hosts}]}
        if selector:
            spec["workloadSelector"] = {"labels": selector}
        return parse_sidecar(ns, name, spec)[0]

    sidecars = [sc("a", "all", ["./*", "b/*"]), sc("a", "v2", ["*/*"], {"version": "v2"}),
                sc("istio-system", "default", ["./*", "istio-system/*"])]
    assert scope_for("a", {"version": "v2"}, sidecars).sidecar == "a/v2"
    assert scope_for("a", {"version": "v1"}, sidecars).sidecar == "a/all"
    assert scope_for("c", {}, sidecars).sidecar == "istio-system/default"
    default = scope_for("c", {}, [])
    assert default.sidecar is None and default.hosts == (HostPattern(".", "*"),)
    assert default.sees("c", "x") and not default.sees("d", "x")


def test_export_to():
    assert exported_to(None, "a", "b") and exported_to(["*"], "a", "b")
    assert exported_to(["."], "a", "a") and not exported_to(["."], "a", "b")
    assert exported_to(["b"], "a", "b") and not exported_to(["~"], "a", "a")
