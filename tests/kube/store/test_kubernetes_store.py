"""The kubernetes store against a real API server: the Store contract, errors worded as the
local store words them, checks before any write, watch through the watch API."""

from __future__ import annotations

import re
import threading

import pytest

from meshtool.errors import AlreadyExistsError, ConflictError, DataError, NotFoundError
from meshtool.kube.client import connect
from meshtool.model.resource import Resource
from meshtool.store import RelistRequired, open_store
from meshtool.store.kubernetes import KubernetesStore
from meshtool.store.local import LocalStore

SPEC = {"destination": {"name": "reviews"}, "route": [{"labels": {"version": "v1"}}]}


def rule(name: str, namespace: str, version: str = "v1", rv: str | None = None, **kw) -> Resource:
    spec = {"destination": {"name": "reviews"}, "route": [{"labels": {"version": version}}]}
    return Resource("RouteRule", name, namespace, spec, resource_version=rv, **kw)


@pytest.fixture
def store(kube_cluster, meshtool_crds, kube_namespace):
    with KubernetesStore(connect(str(kube_cluster.kubeconfig)), kube_namespace) as st:
        yield st


@pytest.fixture
def local(tmp_path):
    with LocalStore(tmp_path / "s.db") as st:
        yield st


def _lines(error) -> list[str]:
    """Error lines with the version numbers taken out: the rest must match the local store's."""
    return [re.sub(r"\d+", "N", line) for line in error.lines()]


def test_create_get_list_snapshot(store, kube_namespace):
    egress = Resource("EgressRule", "google", kube_namespace,
                      {"destination": {"service": "*.google.com"},
                       "ports": [{"port": 443, "protocol": "https"}]}, labels={"team": "a"})
    created = store.create([rule("b", kube_namespace), rule("a", kube_namespace), egress])
    assert [r.name for r in created] == ["b", "a", "google"]
    assert all(r.revision == int(r.resource_version) for r in created)
    got = store.get("RouteRule", kube_namespace, "a")
    assert got.spec == SPEC and got.created is not None
    assert store.get("EgressRule", kube_namespace, "google").labels == {"team": "a"}
    assert [r.key for r in store.list(namespace=kube_namespace)] == [
        ("EgressRule", kube_namespace, "google"), ("RouteRule", kube_namespace, "a"),
        ("RouteRule", kube_namespace, "b")]
    assert [r.name for r in store.list("RouteRule", kube_namespace)] == ["a", "b"]
    revision, items = store.snapshot(namespace=kube_namespace)
    assert len(items) == 3 and revision >= max(r.revision for r in created)
    assert store.revision() >= revision
    with pytest.raises(NotFoundError, match=f"config route-rule/{kube_namespace}/nope not found"):
        store.get("RouteRule", kube_namespace, "nope")


def test_create_refuses_existing_before_writing_any(store, local, kube_namespace):
    store.create([rule("a", kube_namespace)])
    local.create([rule("a", kube_namespace)])
    batch = [rule("new", kube_namespace, file="r.yaml", line=1),
             rule("a", kube_namespace, file="r.yaml", line=9),
             rule("new2", kube_namespace, file="r.yaml", line=17)]  # 3 of a kind: read with one list
    with pytest.raises(AlreadyExistsError) as kube_error:
        store.create(batch)
    with pytest.raises(AlreadyExistsError) as local_error:
        local.create(batch)
    assert kube_error.value.lines() == local_error.value.lines()
    assert kube_error.value.lines()[0] == f"r.yaml:9: config route-rule/{kube_namespace}/a already exists"
    assert [r.name for r in store.list("RouteRule", kube_namespace)] == ["a"]


def test_replace_with_a_stale_resource_version_is_a_conflict(store, local, kube_namespace):
    first = store.create([rule("a", kube_namespace), rule("b", kube_namespace)])
    lfirst = local.create([rule("a", kube_namespace), rule("b", kube_namespace)])
    # Someone else changes a; then a replace based on the old version must fail, writing nothing.
    store.replace([rule("a", kube_namespace, "v2")])
    local.replace([rule("a", kube_namespace, "v2")])
    stale = [rule("b", kube_namespace, "v3", rv=first[1].resource_version, file="f.yaml", line=1),
             rule("a", kube_namespace, "v3", rv=first[0].resource_version, file="f.yaml", line=7)]
    lstale = [rule("b", kube_namespace, "v3", rv=lfirst[1].resource_version, file="f.yaml", line=1),
              rule("a", kube_namespace, "v3", rv=lfirst[0].resource_version, file="f.yaml", line=7)]
    with pytest.raises(ConflictError) as kube_error:
        store.replace(stale)
    with pytest.raises(ConflictError) as local_error:
        local.replace(lstale)
    assert _lines(kube_error.value) == _lines(local_error.value)
    latest = store.get("RouteRule", kube_namespace, "a").resource_version
    assert kube_error.value.lines() == [
        f"f.yaml:7: config route-rule/{kube_namespace}/a has been modified: resourceVersion "
        f"{first[0].resource_version} is not the latest ({latest}); get it again and retry"]
    assert store.get("RouteRule", kube_namespace, "b").spec == SPEC  # b was not written
    # With the current version it goes through, and the version moves on.
    current = store.get("RouteRule", kube_namespace, "a")
    [replaced] = store.replace([rule("a", kube_namespace, "v3", rv=current.resource_version)])
    assert replaced.revision > current.revision
    assert store.get("RouteRule", kube_namespace, "a").spec["route"] == [{"labels": {"version": "v3"}}]


def test_replace_and_delete_of_missing_objects_write_nothing(store, local, kube_namespace):
    store.create([rule("a", kube_namespace)])
    local.create([rule("a", kube_namespace)])
    batch = [rule("a", kube_namespace, "v2"), rule("ghost", kube_namespace)]
    with pytest.raises(NotFoundError) as kube_error:
        store.replace(batch)
    with pytest.raises(NotFoundError) as local_error:
        local.replace(batch)
    assert kube_error.value.lines() == local_error.value.lines()
    assert store.get("RouteRule", kube_namespace, "a").spec == SPEC
    keys = [("RouteRule", kube_namespace, "a"), ("RouteRule", kube_namespace, "ghost")]
    with pytest.raises(NotFoundError) as kube_error:
        store.delete(keys)
    with pytest.raises(NotFoundError) as local_error:
        local.delete(keys)
    assert kube_error.value.lines() == local_error.value.lines()
    store.get("RouteRule", kube_namespace, "a")  # still there


def test_create_in_a_namespace_that_does_not_exist(store):
    with pytest.raises(NotFoundError) as error:
        store.create([rule("a", "no-such-namespace")])
    assert error.value.lines() == ['config route-rule/no-such-namespace/a cannot be written: '
                                   'namespaces "no-such-namespace" not found']


def test_delete_returns_last_states(store, kube_namespace):
    [a] = store.create([rule("a", kube_namespace)])
    [change] = store.delete([("RouteRule", kube_namespace, "a"), ("RouteRule", kube_namespace, "a")])
    assert change.type == "DELETED" and change.resource.spec == SPEC
    assert change.revision >= a.revision
    assert store.list("RouteRule", kube_namespace) == []


def test_a_refused_document_leaves_the_cluster_untouched(store, kube_namespace):
    # The loader would refuse the second rule; written straight to the store, the API server
    # refuses it in the dry run that precedes every write: the first is not written either.
    bad = Resource("RouteRule", "bad", kube_namespace, {"destination": {"name": "r"}, "colour": 1},
                   file="x.yaml", line=5)
    with pytest.raises(DataError) as error:
        store.create([rule("good", kube_namespace), bad])
    lines = error.value.lines()
    assert lines[0].startswith(f"x.yaml:5: config route-rule/{kube_namespace}/bad refused by the API server")
    assert "colour" in lines[0]
    assert lines[1:] == ["nothing was written: the API server refused the above in a dry run"]
    with pytest.raises(NotFoundError):
        store.get("RouteRule", kube_namespace, "good")


def test_a_write_failing_half_way_says_what_was_written(store, kube_namespace, monkeypatch):
    # What the dry run cannot foresee (a concurrent writer, a dropped connection) is played
    # here by skipping it: the real API server then refuses the second write.
    monkeypatch.setattr(store, "_dry_run_each", lambda items, write: None)
    bad = Resource("RouteRule", "bad", kube_namespace, {"destination": {"name": "r"}, "colour": 1},
                   file="x.yaml", line=5)
    with pytest.raises(DataError) as error:
        store.create([rule("good", kube_namespace), bad])
    lines = error.value.lines()
    assert lines[0].startswith(f"x.yaml:5: config route-rule/{kube_namespace}/bad refused by the API server")
    assert lines[1] == (f"created before the failure (Kubernetes writes one object at a time): "
                        f"route-rule/{kube_namespace}/good")
    assert lines[2] == f"not created: route-rule/{kube_namespace}/bad"
    store.get("RouteRule", kube_namespace, "good")


def test_every_write_is_recorded_under_the_field_manager_meshtool(store, kube_namespace,
                                                                  kube_cluster):
    from kubernetes import client

    store.create([rule("managed", kube_namespace)])
    store.replace([rule("managed", kube_namespace, "v2")])
    obj = client.CustomObjectsApi(kube_cluster.api_client).get_namespaced_custom_object(
        "config.meshtool.io", "v1alpha1", kube_namespace, "routerules", "managed")
    assert {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]} == {
        ("meshtool", "Update")}


def test_watch_sees_changes_in_order(store, kube_namespace):
    since, _ = store.snapshot()
    assert store.watch(since, 0.2) == []
    writer = threading.Timer(0.3, store.create, [[rule("a", kube_namespace)]])
    writer.start()
    changes = store.watch(since, 10)
    writer.join()
    assert [(c.type, c.resource.name) for c in changes] == [("ADDED", "a")]
    position = changes[-1].revision
    store.replace([rule("a", kube_namespace, "v2")])
    store.delete([("RouteRule", kube_namespace, "a")])
    store.create([Resource("DestinationPolicy", "p", kube_namespace, {"destination": {"name": "x"}})])
    seen = []
    while len(seen) < 3:
        batch = store.watch(position, 10)
        assert batch, "watch timed out"
        seen += batch
        position = max(position, batch[-1].revision)
    assert [(c.type, c.resource.kind) for c in seen] == [
        ("MODIFIED", "RouteRule"), ("DELETED", "RouteRule"), ("ADDED", "DestinationPolicy")]
    assert seen[0].resource.spec["route"] == [{"labels": {"version": "v2"}}]
    assert [c.revision for c in seen] == sorted(c.revision for c in seen)


def test_watch_from_a_revision_the_server_no_longer_has(store):
    with pytest.raises(RelistRequired) as gone:
        store.watch(1, 10)
    assert gone.value.current >= store.revision() - 100


def test_watch_from_a_revision_the_server_never_reached(store):
    with pytest.raises(RelistRequired, match="behind the watched revision"):
        store.watch(store.revision() + 10_000, 15)


def test_missing_crds_are_said_as_such(store, kube_namespace, monkeypatch):
    from meshtool.errors import MeshtoolError
    from meshtool.model import kinds

    monkeypatch.setitem(kinds.PLURALS, "RouteRule", "nosuchrules")
    for call in (lambda: store.get("RouteRule", kube_namespace, "x"),
                 lambda: store.list("RouteRule"),
                 lambda: store.create([rule("x", kube_namespace)])):
        with pytest.raises(MeshtoolError, match=r"the meshtool CRDs are not installed in the cluster at "
                                                r"\S+ \(no nosuchrules.config.meshtool.io\); run `meshtool install`"):
            call()


def test_refusals_by_rbac_are_one_line_errors(kube_cluster, meshtool_crds, kube_namespace):
    """A user who may list the rules but not watch them, nor read another namespace."""
    import secrets

    from kubernetes import client

    from meshtool.errors import MeshtoolError

    user = f"lister-{secrets.token_hex(3)}"
    rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client)
    rbac.create_cluster_role({"metadata": {"name": user}, "rules": [{
        "apiGroups": ["config.meshtool.io"], "resources": ["routerules", "egressrules", "destinationpolicies"],
        "verbs": ["list"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": user},
                                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
                                      "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    cluster = connect(str(kube_cluster.kubeconfig))
    cluster.api_client.set_default_header("Impersonate-User", user)
    with KubernetesStore(cluster, kube_namespace) as st:
        since = st.revision()  # list is allowed
        # One watch stream per kind, started together: whichever is refused first is reported.
        with pytest.raises(MeshtoolError, match=r"refused to watch (routerules|egressrules|"
                           r"destinationpolicies|mtlspolicies|accesspolicies): .*forbidden") \
                as refused:
            st.watch(since, 10)
        assert "\n" not in str(refused.value)
        with pytest.raises(MeshtoolError, match="^forbidden by the Kubernetes API server at "):
            st.get("RouteRule", kube_namespace, "x")
    rbac.delete_cluster_role_binding(user)
    rbac.delete_cluster_role(user)


def test_open_store_uses_the_contexts_namespace(kube_cluster, meshtool_crds):
    with open_store("kubernetes", kubeconfig=str(kube_cluster.kubeconfig)) as st:
        assert st.default_namespace == "default"
        assert st.location == f"kubernetes {kube_cluster.server} (context meshtool-test)"
