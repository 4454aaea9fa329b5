"""The index: destination names, label selection, Services' workloads."""

from __future__ import annotations

import pytest

from meshtool.analysis.index import Destination, Index, resolve_destination
from meshtool.analysis.items import Item


@pytest.mark.parametrize("name,ns,expected", [
    ("benigno", None, Destination("benigno", "default")),
    ("benigno", "shop", Destination("benigno", "shop")),
    ("benigno.prod", None, Destination("benigno", "prod")),
    ("benigno.prod.svc", None, Destination("benigno", "prod")),
    ("Benigno.prod.svc.cluster.local:5000", None, Destination("benigno", "prod")),
    ("msgd.example.com", None, Destination("msgd.example.com", None)),
    ("", None, None),
    (5, None, None),
])
def test_resolve_destination(name, ns, expected):
    assert resolve_destination(name, ns, "default") == expected


def item(kind, name, ns="default", **manifest):
    return Item.from_manifest({"kind": kind, "metadata": {"name": name, "namespace": ns},
                               **manifest}, default_namespace="default")


def deployment(name, labels, ns="default"):
    return item("Deployment", name, ns, spec={"template": {"metadata": {"labels": labels}}})


def test_select_and_service_workloads():
    index = Index([
        item("Service", "reviews", spec={"selector": {"app": "reviews"}}),
        item("Service", "headless", spec={}),
        deployment("r1", {"app": "reviews", "version": "v1"}),
        deployment("r2", {"app": "reviews", "version": "v2"}),
        deployment("other", {"app": "reviews", "version": "v1"}, ns="prod"),
    ])
    behind = index.service_workloads("default", "reviews")
    assert {index.workload(n).item.name for n in behind} == {"r1", "r2"}
    assert {index.workload(n).item.name for n in
            index.select("default", {"version": "v1"}, among=behind)} == {"r1"}
    assert index.select("default", {"version": "v3"}, among=behind) == set()
    assert index.service_workloads("default", "headless") is None  # no selector: unknown
    assert index.service_workloads("default", "missing") is None
    assert index.knows_services


def test_cronjob_template_and_pod():
    index = Index([
        item("CronJob", "nightly", spec={"jobTemplate": {"spec": {"template": {
            "metadata": {"labels": {"app": "nightly"}}, "spec": {"containers": []}}}}}),
        item("Pod", "p", spec="not a mapping"),
    ])
    assert [w.labels for w in index.workloads] == [{"app": "nightly"}, {}]
