"""Compiling against the snapshot in force reuses what did not change, with the same result."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtool.sidecar.snapshot import Identity, compile_snapshot
from sidecar_mesh import canary_doc
from meshtool.sidecar.state import SidecarState

ME = Identity(service="benigno", labels={"version": "v1"}, proxy_id="me")


def _shape(snap) -> dict:
    """What a compiled snapshot means, as plain data (object identity aside)."""
    def subset(s):
        return (s.service.namespace, s.service.name, sorted(s.labels.items()),
                [e.key for e in s.picker.endpoints], s.breaker, s.breaker_key)
    return {
        "version": snap.version, "nonce": snap.nonce,
        "services": {k: (v.name, v.namespace, [(e.key, e.labels) for e in v.endpoints], v.ports)
                     for k, v in snap.services.items()},
        "by_host": {h: (s.namespace, s.name) for h, s in snap.by_host.items()},
        "rules": {k: [(r.name, r.precedence, [(subset(s), w) for s, w in r.split.items])
                      for r in v] for k, v in snap.rules.items()},
        "egress": [(e.name, e.pattern, e.ports) for e in snap.egress],
        "default_subsets": {k: subset(v) for k, v in snap.default_subsets.items()},
    }


def test_rules_change_reuses_compiled_services(canary):
    old = compile_snapshot(canary(version="1"), ME)
    new = compile_snapshot(canary(70, 30, version="2"), ME, previous=old)
    assert new.services is old.services and new.by_host is old.by_host
    (rule,) = new.rules[("default", "benigno")]
    assert [w for _, w in rule.split.items] == [70, 30]
    assert _shape(new) == _shape(compile_snapshot(canary(70, 30, version="2"), ME))


def test_only_version_changed_reuses_everything_but_names_the_new_version(canary):
    old = compile_snapshot(canary(version="1"), ME)
    doc = dict(canary(version="2"), nonce="n2")
    new = compile_snapshot(doc, ME, previous=old)
    assert new.rules is old.rules and new.version == "2" and new.nonce == "n2" and new.doc is doc
    assert old.version == "1"  # the one in force is not touched


def test_services_change_is_compiled_again(canary):
    old = compile_snapshot(canary(version="1"), ME)
    new = compile_snapshot(canary(version="2", v2_port=6002), ME, previous=old)
    assert new.services is not old.services and "127.0.0.1:6002" in new.by_host
    assert "127.0.0.1:5002" not in new.by_host


def test_a_bad_rule_is_rejected_even_when_services_are_reused(canary, make_rule):
    state = SidecarState(ME)
    state.apply_snapshot(canary(version="1"))
    bad = canary(version="2", extra_rules=[make_rule("RouteRule", "bad", {"route": []})])
    with pytest.raises(ValueError, match="destination"):
        state.apply_snapshot(bad)
    assert state.version == "1" and state.rejected_total == 1
    bad_version = dict(canary(version="1"), version="")
    with pytest.raises(ValueError, match="version"):
        state.apply_snapshot(bad_version)  # same content otherwise: still validated
    state.apply_snapshot(canary(60, 40, version="3"))
    (rule,) = state.snapshot.rules[("default", "benigno")]
    assert [w for _, w in rule.split.items] == [60, 40]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.sampled_from([5002, 6002, 7002]),
                          st.booleans()), min_size=1, max_size=6))
def test_a_sequence_of_pushes_compiles_as_fresh_compiles_would(pushes):
    """Whatever changes from push to push, the result equals compiling the document alone."""
    previous = None
    for i, (w, port, addr) in enumerate(pushes):
        doc = canary_doc(w, 100 - w, version=str(i), v2_port=port)
        if addr:
            doc["services"][0]["addresses"] = ["10.0.0.9"]
        fresh = compile_snapshot(copy.deepcopy(doc), ME)
        previous = compile_snapshot(doc, ME, previous=previous)
        assert _shape(previous) == _shape(fresh)
