"""The scenario samples: all valid, each foreign form converts to its native twin, and
random or mutated input never gets anything but a meshtool error."""

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from meshtool.errors import DataError, MeshtoolError
from meshtool.rules.loader import load_rules, load_rules_strict
from meshtool.rules.sources import Source, read_sources

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# foreign files (converted together) -> the native file with the same rules
TWINS = [
    (["canary/kuma/trafficroute-90-10.yaml"], "canary/rules/route-90-10.yaml"),
    (["egress/istio-v1alpha2/egress-msgd.yaml"], "egress/rules/egress-msgd.yaml"),
    (["egress/istio-v1alpha2/route-svcb-50-50.yaml"], "egress/rules/route-svcb-50-50.yaml"),
    (["egress/istio-v1alpha2/route-svcb-100-v0.2.yaml"], "egress/rules/route-svcb-100-v0.2.yaml"),
    (["helloworld/istio/virtualservice.yaml", "helloworld/istio/destinationrule.yaml"],
     "helloworld/rules/route-all-v2.yaml"),
    (["mtls/istio/peer-authentication-strict.yaml"], "mtls/rules/strict.yaml"),
    (["mtls/istio/deny-magnanimo.yaml"], "mtls/rules/deny-magnanimo.yaml"),
    (["mtls/istio/allow-magnanimo.yaml"], "mtls/rules/allow-magnanimo.yaml"),
    (["mtls/kuma/mesh.yaml"], "mtls/rules/mesh-strict.yaml"),
    (["mtls/kuma/traffic-permission.yaml"], "mtls/rules/magnanimo-to-benigno.yaml"),
    (["mtls/kuma/mesh-traffic-permission.yaml"], "mtls/rules/benigno-callers.yaml"),
]


def rules(paths):
    found = load_rules_strict(read_sources([str(SAMPLES / p) for p in paths]))
    return sorted((r.kind, r.namespace, r.name, repr(r.spec)) for r in found)


@pytest.mark.parametrize("foreign,native", TWINS, ids=[t[1] for t in TWINS])
def test_foreign_form_converts_to_the_native_rules(foreign, native):
    assert rules(foreign) == rules([native])


def test_every_foreign_sample_has_a_native_twin():
    foreign = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.yaml")
               if p.parent.name in ("kuma", "istio", "istio-v1alpha2")}
    assert foreign == {f for fs, _ in TWINS for f in fs}


def test_all_samples_validate():
    result = load_rules(read_sources([str(SAMPLES)]))
    assert result.findings == []
    scenarios = [str(SAMPLES / s) for s in ("canary", "egress", "helloworld")]
    result = load_rules(read_sources(scenarios))
    assert {r.kind for r in result.resources} == {"RouteRule", "EgressRule", "DestinationPolicy"}
    assert {why.split("/")[0] for _, why in result.skipped} == {"Service", "Deployment", "LocalMesh"}


@pytest.mark.parametrize("scenario", ["canary", "egress", "helloworld"])
def test_kubernetes_manifests_carry_app_version_and_named_ports(scenario):
    docs = list(yaml.safe_load_all((SAMPLES / scenario / "kubernetes.yaml").read_text()))
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    services = [d for d in docs if d["kind"] == "Service"]
    assert deployments and services
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert {"app", "version"} <= set(labels)
    for s in services:
        for port in s["spec"]["ports"]:
            assert port["name"].split("-")[0] in ("http", "http2", "grpc", "tcp", "https")


# --- robustness: random and mutated input ------------------------------------------------

def _sample_sets():
    sets = []
    for foreign, native in TWINS:
        docs = []
        for p in foreign + [native]:
            docs.extend(d for d in yaml.safe_load_all((SAMPLES / p).read_text()) if d)
        sets.append(docs)
    return sets


SAMPLE_SETS = _sample_sets()
SCALARS = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["*", "10.0.0.0/8", "1s", "v1", "RouteRule", "", "-1",
                              "config.meshtool.io/v1alpha1", "kuma.io/service", "http"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=6)


def _containers(node, path=()):
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    for key, child in items:
        if isinstance(child, (dict, list)):
            yield from _containers(child, path + (key,))


def _mutate(doc, data):
    spots = list(_containers(doc))
    _, node = data.draw(st.sampled_from(spots))
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"] if keys else ["add"]))
    if action == "add":
        if isinstance(node, dict):
            node[data.draw(st.text(max_size=10))] = data.draw(VALUES)
        else:
            node.append(data.draw(VALUES))
    elif action == "delete":
        del node[data.draw(st.sampled_from(keys))]
    else:
        node[data.draw(st.sampled_from(keys))] = data.draw(VALUES)


def _only_meshtool_errors(text):
    """load_rules never raises for bad input, so strict loading raises DataError or nothing."""
    try:
        load_rules_strict([Source("in.yaml", text)])
    except DataError as exc:
        assert isinstance(exc, MeshtoolError)
        assert exc.findings and all(f.file == "in.yaml" for f in exc.findings)


@settings(max_examples=int(os.environ.get("MESHTOOL_FUZZ", 100)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_give_findings_not_crashes(data):
    docs = copy.deepcopy(data.draw(st.sampled_from(SAMPLE_SETS)))
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(data.draw(st.sampled_from(docs)), data)
    _only_meshtool_errors(yaml.safe_dump_all(docs, sort_keys=False))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abkind:apiVersion- []{}\n#&*!'\"0123456789.,/?|>"
                                             "\t ")), max_size=80)
       | st.text(max_size=40))
def test_random_text_gives_findings_not_crashes(text):
    _only_meshtool_errors(text)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_sample_text_gives_findings_not_crashes(data):
    """Damage the text itself (cut, duplicate, swap characters) of a sample set."""
    text = yaml.safe_dump_all(data.draw(st.sampled_from(SAMPLE_SETS)), sort_keys=False)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 20)))
        text = text[:i] + data.draw(st.sampled_from(["", text[i:j] * 2, ":", "- ", "\n  ", "'"])) \
            + text[j:]
    _only_meshtool_errors(text)
