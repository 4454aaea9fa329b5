"""Suppression patterns: -S CODE[=KIND NAME] and the resource annotation."""

from __future__ import annotations

import pytest

from meshtool.analysis.suppress import Suppression, annotation_patterns, parse_suppression


def test_parse():
    assert parse_suppression("mt0103") == Suppression("MT0103")
    assert parse_suppression("MT0103=Deployment name*") == Suppression("MT0103", "deployment", "name*")
    assert parse_suppression(" MT01* = * reviews.default ") == Suppression("MT01*", "*", "reviews.default")


@pytest.mark.parametrize("bad", ["", "=x y", "MT0103=Deployment", "MT0103=a b c", "MT 0103", "MT0103!"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError, match="suppression"):
        parse_suppression(bad)


def test_matches():
    s = parse_suppression("MT0103=Deployment name*")
    assert s.matches("MT0103", "Deployment", "name-v1", "default")
    assert not s.matches("MT0104", "Deployment", "name-v1", "default")
    assert not s.matches("MT0103", "Service", "name-v1", "default")
    assert not s.matches("MT0103", None, None, None)
    ns = parse_suppression("MT0103=* name.prod")
    assert ns.matches("MT0103", "RouteRule", "name", "prod")
    assert not ns.matches("MT0103", "RouteRule", "name", "dev")
    assert parse_suppression("MT0*").matches("MT0002", None, None, None)


def test_annotation_patterns():
    assert annotation_patterns({"analysis.meshtool.io/suppress": "mt0300, MT01* MT0001"}) == \
        ["MT0300", "MT01*", "MT0001"]
    assert annotation_patterns({}) == []
