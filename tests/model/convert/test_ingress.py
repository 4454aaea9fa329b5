"""Kubernetes Ingress (v1, and the legacy forms) -> GatewayRoutes."""

from pathlib import Path

import pytest
import yaml

from meshtool.model import native
from meshtool.model import types as t
from meshtool.model.compile import compile_resources
from meshtool.model.convert import Context, converter_for
from meshtool.model.resource import Resource
from meshtool.rules.yamlio import format_path

WALKTHROUGH = Path(__file__).resolve().parents[3] / "samples" / "ingress" / "ingress.yaml"


def ingress(rules=None, api="networking.k8s.io/v1", annotations=None, **spec):
    meta = {"name": "web", "namespace": "shop"}
    if annotations:
        meta["annotations"] = annotations
    body = dict(spec)
    if rules is not None:
        body["rules"] = rules
    return {"apiVersion": api, "kind": "Ingress", "metadata": meta, "spec": body}


def path(p, ptype="Prefix", name="web", port=80):
    return {"path": p, "pathType": ptype,
            "backend": {"service": {"name": name, "port": {"number": port}}}}


def convert(doc):
    out = converter_for(doc["apiVersion"], doc["kind"])(doc, Context([doc]))
    return out, {format_path(p): m for p, m in out.problems}


def parsed(out):
    values = []
    for c in out.converted:
        m = c.manifest
        p = native.parse(m["kind"], m["metadata"].get("namespace", "default"),
                         m["metadata"]["name"], m["spec"])
        assert p.problems == []
        values.append(p.value)
    return values


def test_the_walkthrough_ingress_converts_with_strip_path_and_a_legacy_warning():
    doc = yaml.safe_load(WALKTHROUGH.read_text())
    out, problems = convert(doc)
    assert problems == {}
    assert [(format_path(p), m) for p, m in out.warnings] == [
        ("apiVersion", "extensions/v1beta1 Ingress is deprecated (removed in Kubernetes 1.22): "
                       "read as networking.k8s.io/v1")]
    [route] = parsed(out)
    assert route.hosts == ()
    assert route.path == t.HeaderMatch("uri", "prefix", "/route1")
    assert route.rewrite_prefix == "/"
    assert route.backends == (t.GatewayBackend(t.ServiceRef("default", "magnanimo"), 4000, 100),)


@pytest.mark.parametrize("api", ["networking.k8s.io/v1beta1", "extensions/v1beta1"])
def test_legacy_forms_read_service_name_and_port(api):
    doc = ingress([{"http": {"paths": [{"path": "/a", "backend": {
        "serviceName": "web", "servicePort": "http"}}]}}], api=api,
        backend={"serviceName": "fallback", "servicePort": 8080})
    out, problems = convert(doc)
    assert problems == {} and len(out.warnings) == 1
    a, fallback = parsed(out)
    assert a.path.kind == "prefix" and a.backends[0].port is None  # a named port
    assert fallback.path is None and fallback.precedence == -1
    assert fallback.backends[0].service == t.ServiceRef("shop", "fallback")


def test_path_types_hosts_and_default_backend():
    doc = ingress([{"host": "shop.example.com", "http": {"paths": [
        path("/cart", "Exact"), path("/api/", "Prefix"), path("/img", "ImplementationSpecific"),
        path("/", "Prefix")]}}],
        defaultBackend={"service": {"name": "fallback", "port": {"number": 80}}})
    out, problems = convert(doc)
    assert problems == {} and out.warnings == []
    routes = parsed(out)
    assert [r.name for r in routes] == ["web-0", "web-1", "web-2", "web-3", "web-4"]
    assert [(r.path.kind, r.path.value) if r.path else None for r in routes] == [
        ("exact", "/cart"), ("prefix", "/api"), ("prefix", "/img"), None, None]
    assert [r.hosts for r in routes[:4]] == [("shop.example.com",)] * 4
    assert routes[4].hosts == () and routes[4].precedence == -1


def test_an_ingress_of_another_class_is_left_to_its_controller():
    for doc in (ingress([{"http": {"paths": [path("/")]}}], ingressClassName="nginx"),
                ingress([{"http": {"paths": [path("/")]}}],
                        annotations={"kubernetes.io/ingress.class": "kong"})):
        out, problems = convert(doc)
        assert problems == {} and out.converted == []
    out, _ = convert(ingress([{"http": {"paths": [path("/")]}}], ingressClassName="meshtool"))
    assert len(out.converted) == 1


def test_tls_hosts_are_redirected_to_https_unless_the_annotation_says_no():
    rules = [{"host": "a.example.com", "http": {"paths": [path("/")]}},
             {"host": "b.example.com", "http": {"paths": [path("/")]}}]
    tls = [{"hosts": ["a.example.com"], "secretName": "a"}]
    out, _ = convert(ingress(rules, tls=tls))
    assert [r.https_redirect for r in parsed(out)] == [True, False]
    out, _ = convert(ingress(rules, tls=tls,
                             annotations={"ingress.meshtool.io/ssl-redirect": "false"}))
    assert [r.https_redirect for r in parsed(out)] == [False, False]


def test_native_strip_path_annotation():
    out, _ = convert(ingress([{"http": {"paths": [path("/shop")]}}],
                             annotations={"ingress.meshtool.io/strip-path": "true"}))
    assert parsed(out)[0].rewrite_prefix == "/"


@pytest.mark.parametrize("entry, where, message", [
    (path("/a", "Regex"), "spec.rules[0].http.paths[0].pathType",
     "path type 'Regex' is not supported: Exact, Prefix or ImplementationSpecific"),
    ({"path": "/a", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
     "spec.rules[0].http.paths[0].pathType", "required: Exact, Prefix or ImplementationSpecific"),
    (path("a"), "spec.rules[0].http.paths[0].path", "'a' must be a path starting with /"),
    ({"path": "/", "pathType": "Prefix", "backend": {"service": {"port": {"number": 1}}}},
     "spec.rules[0].http.paths[0].backend.service.name", "required: the Service's name"),
    ({"path": "/", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket"}}},
     "spec.rules[0].http.paths[0].backend.resource",
     "resource cannot be converted: meshtool has no equivalent (backends are Services)"),
])
def test_bad_paths_are_problems_naming_the_field(entry, where, message):
    out, problems = convert(ingress([{"http": {"paths": [entry]}}]))
    assert problems == {where: message}
    assert out.converted == []


def test_an_empty_ingress_is_a_problem():
    _, problems = convert(ingress())
    assert problems == {"spec": "needs rules or a defaultBackend"}


def test_a_missing_backend_service_leaves_the_ingress_unresolved():
    doc = ingress([{"http": {"paths": [path("/", name="web")]}}])
    res = Resource.from_manifest(doc)
    compiled = compile_resources([res], services={("shop", "other")})
    assert compiled.rules == []
    assert compiled.unresolved[res.key] == ["backend Service 'web' (namespace 'shop') not found"]
    compiled = compile_resources([res], services={("shop", "web")})
    assert [r.kind for r in compiled.rules] == ["GatewayRoute"]
    assert compiled.condition(res.key)["reason"] == "Compiled"
