"""The local SQLite store: CRUD, revisions, resourceVersion conflicts, all-or-nothing writes."""

import sqlite3

import pytest

from meshtool.errors import AlreadyExistsError, ConflictError, DataError, NotFoundError
from meshtool.model.resource import Resource
from meshtool.store import ADDED, DELETED, MODIFIED
from meshtool.store.local import LocalStore


def rr(name, ns="default", weight=100, **kw):
    return Resource("RouteRule", name, ns, {"destination": {"name": "benigno"},
                                             "route": [{"labels": {"version": "v1"},
                                                        "weight": weight}]}, **kw)


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "store.db")
    yield s
    s.close()


def test_new_store_starts_at_revision_zero_and_is_empty(store):
    assert store.revision() == 0
    assert store.list() == []
    assert store.snapshot() == (0, [])


def test_create_then_get_round_trips_every_field(store):
    res = rr("canary", labels={"team": "a"}, annotations={"note": "x"})
    [created] = store.create([res])
    assert created.resource_version == "1" and created.revision == 1
    got = store.get("RouteRule", "default", "canary")
    assert got.spec == res.spec
    assert got.labels == {"team": "a"} and got.annotations == {"note": "x"}
    assert got.resource_version == "1" and got.revision == 1
    assert got.created is not None
    assert got.to_manifest()["metadata"]["resourceVersion"] == "1"


def test_each_write_transaction_is_one_revision(store):
    out = store.create([rr("a"), rr("b"), rr("c")])
    assert [r.revision for r in out] == [1, 1, 1]
    assert store.revision() == 1
    [b] = store.replace([rr("b", weight=100)])
    assert b.resource_version == "2"
    store.delete([("RouteRule", "default", "c")])
    assert store.revision() == 3
    assert {r.name: r.revision for r in store.list()} == {"a": 1, "b": 2}


def test_get_missing_is_not_found(store):
    with pytest.raises(NotFoundError, match="config route-rule/default/nope not found"):
        store.get("RouteRule", "default", "nope")


def test_list_filters_by_kind_and_namespace_in_order(store):
    er = Resource("EgressRule", "msgd", "default", {"destination": {"service": "msgd"},
                                                    "ports": [{"port": 9997, "protocol": "http"}]})
    store.create([rr("b"), rr("a"), rr("a", ns="prod"), er])
    assert [(r.kind, r.namespace, r.name) for r in store.list()] == [
        ("EgressRule", "default", "msgd"), ("RouteRule", "default", "a"),
        ("RouteRule", "default", "b"), ("RouteRule", "prod", "a")]
    assert [r.name for r in store.list("RouteRule", "default")] == ["a", "b"]
    assert [r.namespace for r in store.list(namespace="prod")] == ["prod"]
    assert store.list("DestinationPolicy") == []


def test_create_existing_fails_and_stores_nothing(store):
    store.create([rr("a")])
    new = rr("new")
    dup = rr("a", weight=100, file="rules.yaml", line=12)
    with pytest.raises(AlreadyExistsError) as exc:
        store.create([new, dup])
    assert exc.value.lines()[0] == "rules.yaml:12: config route-rule/default/a already exists"
    assert store.revision() == 1
    with pytest.raises(NotFoundError):
        store.get("RouteRule", "default", "new")


def test_same_object_twice_in_one_write_is_bad_input(store):
    with pytest.raises(DataError, match="appears more than once.*also at r.yaml:1"):
        store.create([rr("a", file="r.yaml", line=1), rr("a", file="r.yaml", line=9)])
    assert store.revision() == 0


def test_replace_missing_fails_and_stores_nothing(store):
    store.create([rr("a")])
    with pytest.raises(NotFoundError, match="config route-rule/default/ghost not found"):
        store.replace([rr("a", weight=100), rr("ghost")])
    assert store.get("RouteRule", "default", "a").revision == 1
    assert store.revision() == 1


def test_replace_with_stale_resource_version_conflicts(store):
    store.create([rr("a")])
    store.replace([rr("a")])  # now at 2
    stale = rr("a", resource_version="1")
    with pytest.raises(ConflictError) as exc:
        store.replace([stale])
    assert str(exc.value) == ("config route-rule/default/a has been modified: resourceVersion 1 "
                              "is not the latest (2); get it again and retry")
    assert store.revision() == 2


def test_replace_with_current_resource_version_succeeds(store):
    store.create([rr("a")])
    current = store.get("RouteRule", "default", "a")
    current.spec["precedence"] = 2
    [out] = store.replace([current])
    assert out.resource_version == "2"
    assert store.get("RouteRule", "default", "a").spec["precedence"] == 2


def test_replace_without_resource_version_is_unconditional(store):
    store.create([rr("a")])
    store.replace([rr("a")])
    [out] = store.replace([rr("a")])
    assert out.revision == 3


def test_one_conflict_in_a_batch_writes_nothing(store):
    store.create([rr("a"), rr("b")])
    store.replace([rr("b")])
    changed = rr("a", resource_version="1")
    changed.spec["precedence"] = 5
    with pytest.raises(ConflictError):
        store.replace([changed, rr("b", resource_version="1")])
    assert "precedence" not in store.get("RouteRule", "default", "a").spec


def test_replace_keeps_creation_time(store):
    [a] = store.create([rr("a")])
    [b] = store.replace([rr("a")])
    assert b.created == a.created


def test_delete_returns_last_state_and_missing_is_not_found(store):
    store.create([rr("a"), rr("b")])
    with pytest.raises(NotFoundError, match="route-rule/default/zz not found"):
        store.delete([("RouteRule", "default", "a"), ("RouteRule", "default", "zz")])
    assert len(store.list()) == 2
    [change] = store.delete([("RouteRule", "default", "a"), ("RouteRule", "default", "a")])
    assert change.type == DELETED and change.revision == 2
    assert change.resource.name == "a" and change.resource.resource_version == "1"
    assert [r.name for r in store.list()] == ["b"]


def test_empty_writes_do_not_make_a_revision(store):
    assert store.create([]) == [] and store.replace([]) == [] and store.delete([]) == []
    assert store.revision() == 0


def test_watch_returns_changes_in_order(store):
    store.create([rr("a"), rr("b")])
    store.replace([rr("a")])
    store.delete([("RouteRule", "default", "b")])
    changes = store.watch(0, timeout=0)
    assert [(c.revision, c.type, c.resource.name) for c in changes] == [
        (1, ADDED, "a"), (1, ADDED, "b"), (2, MODIFIED, "a"), (3, DELETED, "b")]
    assert changes[-1].resource.resource_version == "1"  # a deletion carries the last state
    assert [c.revision for c in store.watch(2, timeout=0)] == [3]
    assert store.watch(3, timeout=0.05) == []


def test_data_survives_reopening(tmp_path):
    with LocalStore(tmp_path / "s.db") as s:
        s.create([rr("a")])
    with LocalStore(tmp_path / "s.db") as s:
        assert s.get("RouteRule", "default", "a").revision == 1
        assert s.revision() == 1


def test_store_file_uses_wal(tmp_path):
    LocalStore(tmp_path / "s.db").close()
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
