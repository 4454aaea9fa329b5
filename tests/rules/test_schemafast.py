"""The compiled yes/no schema check agrees with jsonschema, and refuses what it cannot do."""

import copy

import pytest
from hypothesis import given, settings, strategies as st
from jsonschema import Draft202012Validator

from meshtool.rules import schema
from meshtool.model.kinds import RULE_KINDS
from meshtool.rules.schemafast import NotCompilable, compile_schema

MANIFESTS = {
    "RouteRule": {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "RouteRule",
                  "metadata": {"name": "r", "labels": {"a": "b"}},
                  "spec": {"destination": {"name": "reviews"}, "precedence": 1,
                           "match": {"request": {"headers": {"uri": {"prefix": "/"}}}},
                           "route": [{"labels": {"version": "v1"}, "weight": 100}],
                           "httpFault": {"abort": {"percent": 10.5, "httpStatus": 503}},
                           "corsPolicy": {"allowOrigin": ["*"], "allowCredentials": True}}},
    "EgressRule": {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "EgressRule",
                   "metadata": {"name": "e"},
                   "spec": {"destination": {"service": "*.example.com"},
                            "ports": [{"port": 443, "protocol": "https"}]}},
    "DestinationPolicy": {"apiVersion": "config.meshtool.io/v1alpha1",
                          "kind": "DestinationPolicy", "metadata": {"name": "d"},
                          "spec": {"destination": {"name": "reviews"},
                                   "circuitBreaker": {"simpleCb": {"maxConnections": 1,
                                                                   "sleepWindow": "1s"}}}},
}
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=True)
    | st.sampled_from([1.0, 100.0, 0.5, "", "a", "A_b", "http", "RANDOM", "config.meshtool.io/v1alpha1",
                       "RouteRule", "x" * 300]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.sampled_from(["name", "labels", "weight", "exact", "regex", "port", "spec", "x", "uri"]),
        inner, max_size=2), max_leaves=5)


def _spots(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        if isinstance(child, (dict, list)):
            yield from _spots(child)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(RULE_KINDS), st.data())
def test_agrees_with_jsonschema_on_mutated_manifests(kind, data):
    doc = copy.deepcopy(MANIFESTS[kind])
    for _ in range(data.draw(st.integers(0, 3))):
        node = data.draw(st.sampled_from(list(_spots(doc))))
        if isinstance(node, dict):
            key = data.draw(st.sampled_from(sorted(node) + ["new", "weight", "labels"]))
            if node and data.draw(st.booleans()) and key in node:
                del node[key]
            else:
                node[key] = data.draw(VALUES)
        elif node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(VALUES)
        else:
            node.append(data.draw(VALUES))
    full = Draft202012Validator(schema.load_schema(kind)).is_valid(doc)
    assert compile_schema(schema.load_schema(kind))(doc) is full
    assert (schema.validate(kind, doc) == []) is full


def test_every_rule_schema_compiles():
    for kind in RULE_KINDS:
        assert compile_schema(schema.load_schema(kind))(MANIFESTS[kind]) is True


@pytest.mark.parametrize("bad", [
    {"type": "object", "oneOf": []}, {"type": ["string", "null"]}, {"enum": [1, 2]},
    {"const": 1}, {"properties": {"a": {"anyOf": []}}}, 5,
])
def test_unsupported_keywords_are_refused(bad):
    with pytest.raises(NotCompilable):
        compile_schema(bad)


def test_integer_and_number_follow_json_schema():
    integer = compile_schema({"type": "integer", "minimum": 0})
    assert integer(1) and integer(1.0) and not integer(1.5) and not integer(True)
    assert not integer(-1)
    number = compile_schema({"type": "number", "maximum": 100})
    assert number(99.5) and not number(100.5) and not number(False)
