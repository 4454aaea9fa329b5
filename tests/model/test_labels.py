"""Label keys and values as the Kubernetes API server checks them (apimachinery's rules)."""

from __future__ import annotations

import pytest

from meshtool.model.labels import key_problem, manifest_label_problems, value_problem


@pytest.mark.parametrize("value", ["", "v1", "a.b-c_d", "A" * 63, "9"])
def test_valid_values(value):
    assert value_problem(value) is None


@pytest.mark.parametrize("value", ["platform engineering", "-v1", "v1-", "a" * 64, "ä", "a/b"])
def test_invalid_values(value):
    assert value_problem(value) is not None


@pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "example.com/a_b", "x" * 63])
def test_valid_keys(key):
    assert key_problem(key) is None


@pytest.mark.parametrize("key", ["", "/a", "Example.com/a", "a/", "a b", "x" * 64,
                                 "a/b/c", ("x" * 254) + "/a"])
def test_invalid_keys(key):
    assert key_problem(key) is not None


def test_metadata_and_spec_selectors_are_checked():
    manifest = {"metadata": {"labels": {"team": "platform engineering"},
                             "annotations": {"bad key": "any value at all"}},
                "spec": {"route": [{"labels": {"version": "v 1"}}]}}
    assert [path for path, _ in manifest_label_problems(manifest)] == [
        ("metadata", "labels", "team"), ("metadata", "annotations", "bad key"),
        ("spec", "route", 0, "labels", "version")]
