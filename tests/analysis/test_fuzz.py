"""Mutated manifests and rules never crash analysis: the only exception that may escape is
a MeshtoolError (which the CLI turns into an exit code)."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshtool.analysis import analyze
from meshtool.analysis.formatters import FORMATS, render
from meshtool.analysis.inputs import read_files
from meshtool.errors import MeshtoolError
from meshtool.rules.sources import Source

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted(ROOT.glob("tests/analysis/cases/*/*.yaml")) + \
    sorted(ROOT.glob("samples/*/kubernetes.yaml"))
SEED_DOCS = [[d for d in yaml.safe_load_all(p.read_text()) if d is not None] for p in SEEDS]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12),
                    st.sampled_from(["v1", "reviews", "1337", "*", "10.0.0.0/8", "true",
                                     "http", "*.example.com", "meshtool-proxy", "enabled"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def mutate(doc, path, value, delete):
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_inputs_raise_nothing_but_meshtool_errors(data):
    import copy

    docs = copy.deepcopy(data.draw(st.sampled_from(SEED_DOCS)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(docs) - 1))
        path = data.draw(st.sampled_from(list(paths(docs[i]))))
        docs[i] = mutate(docs[i], path, data.draw(values), data.draw(st.booleans()))
    text = yaml.safe_dump_all(docs, sort_keys=False)
    try:
        report = analyze(read_files([Source("fuzz.yaml", text)]))
    except MeshtoolError:
        return
    for fmt in FORMATS:
        render(fmt, report, report.messages)
