"""covers() and disjoint(): proven answers only."""

from __future__ import annotations

import pytest

from meshtool.analysis.matching import covers, disjoint, match_of


def m(headers=None, source=None, labels=None):
    match = {}
    if headers:
        match["request"] = {"headers": {k: {op: v} for k, (op, v) in headers.items()}}
    if source:
        match["source"] = {"name": source, **({"labels": labels} if labels else {})}
    return match_of({"match": match} if match else {})


@pytest.mark.parametrize("broad,narrow,expected", [
    (m(), m({"uri": ("prefix", "/a")}), True),
    (m({"uri": ("prefix", "/a")}), m({"uri": ("prefix", "/api")}), True),
    (m({"uri": ("prefix", "/api")}), m({"uri": ("prefix", "/a")}), False),
    (m({"uri": ("prefix", "/a")}), m({"uri": ("exact", "/a/b")}), True),
    (m({"user": ("regex", "ja.*")}), m({"user": ("exact", "jason")}), True),
    (m({"user": ("regex", "ja(")}), m({"user": ("exact", "jason")}), False),
    (m({"user": ("exact", "jason")}), m(), False),
    (m({"User": ("exact", "jason")}), m({"user": ("exact", "jason"), "x": ("exact", "1")}), True),
    (m(source="web"), m(source="web", labels={"version": "v1"}), True),
    (m(source="web", labels={"version": "v1"}), m(source="web"), False),
    (m(source="web"), m(), False),
])
def test_covers(broad, narrow, expected):
    assert covers(broad, narrow) is expected


@pytest.mark.parametrize("a,b,expected", [
    (m({"user": ("exact", "jason")}), m({"user": ("exact", "alice")}), True),
    (m({"user": ("exact", "jason")}), m({"user": ("exact", "jason")}), False),
    (m({"uri": ("prefix", "/a")}), m({"uri": ("prefix", "/b")}), True),
    (m({"uri": ("prefix", "/a")}), m({"uri": ("prefix", "/ab")}), False),
    (m({"uri": ("exact", "/b")}), m({"uri": ("prefix", "/a")}), True),
    (m({"user": ("exact", "bob")}), m({"user": ("regex", "ja.*")}), True),
    (m({"user": ("regex", "a.*")}), m({"user": ("regex", "b.*")}), False),  # unprovable
    (m(source="web"), m(source="api"), True),
    (m(source="web", labels={"v": "1"}), m(source="web", labels={"v": "2"}), True),
    (m(), m({"user": ("exact", "x")}), False),
])
def test_disjoint(a, b, expected):
    assert disjoint(a, b) is expected
    assert disjoint(b, a) is expected


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

conditions = st.tuples(st.sampled_from(["exact", "prefix", "regex"]),
                       st.sampled_from(["/", "/a", "/a/b", "ja.*", "jason", "x"]))
matches = st.builds(
    lambda headers, source: m(dict(headers), source),
    st.lists(st.tuples(st.sampled_from(["uri", "user", "cookie"]), conditions), max_size=3),
    st.sampled_from([None, "web", "api"]))


@given(matches, matches)
def test_covering_matches_are_never_disjoint(a, b):
    assert covers(a, a) and not disjoint(a, a)
    if covers(a, b):
        assert not disjoint(a, b)
