"""Kubernetes Ingress (networking.k8s.io/v1; v1beta1 and extensions/v1beta1 read with a
warning) -> GatewayRoutes, the gateway's routing table.

- The Ingress is meshtool's when `spec.ingressClassName` or the `kubernetes.io/ingress.class`
  annotation says `meshtool`, or when it names no class (meshtool's class is the default);
  another class's Ingress converts to nothing: another controller serves it.
- One GatewayRoute per path of each rule (`NAME-0`, `NAME-1`, ... in order); the default
  backend is a route for any host and path, tried last.
- Path types Exact, Prefix (whole segments) and ImplementationSpecific (read as Prefix); a
  legacy path without a type is ImplementationSpecific.
- `konghq.com/strip-path: "true"` or `ingress.meshtool.io/strip-path: "true"`: the matched
  prefix is removed before the request reaches the Service (/route1/hw2 -> /hw2).
- A host listed under `spec.tls` is redirected from http to https, unless
  `ingress.meshtool.io/ssl-redirect: "false"`; the certificates themselves are the gateway's
  (--tls-cert, or the Secrets named there when it runs on Kubernetes).
"""

from __future__ import annotations

from typing import Any

from meshtool.conventions import GATEWAY_CLASS
from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest, object_name,
                                         object_namespace, service_ref)
from meshtool.model.kinds import GATEWAY_ROUTE

API_VERSIONS = ("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1")
CURRENT = API_VERSIONS[0]
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
STRIP_PATH_ANNOTATIONS = ("ingress.meshtool.io/strip-path", "konghq.com/strip-path")
SSL_REDIRECT_ANNOTATION = "ingress.meshtool.io/ssl-redirect"
PATH_TYPES = {"Exact": "exact", "Prefix": "prefix", "ImplementationSpecific": "prefix"}
_SPEC_KEYS = ("ingressClassName", "rules", "tls")


def ingress_class(doc: dict) -> str | None:
    """The class an Ingress asks for: spec.ingressClassName, else the legacy annotation."""
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    name = spec.get("ingressClassName") or annotations.get(CLASS_ANNOTATION)
    return name if isinstance(name, str) else None


def is_ours(doc: dict) -> bool:
    return ingress_class(doc) in (None, GATEWAY_CLASS)


def convert(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    api = doc.get("apiVersion")
    legacy = api != CURRENT
    if legacy:
        out.warn(("apiVersion",), f"{api} Ingress is deprecated (removed in Kubernetes 1.22): "
                                  f"read as {CURRENT}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    if not is_ours(doc):
        return out  # another controller's Ingress
    default_key = "backend" if legacy else "defaultBackend"
    for key in spec:
        if key not in _SPEC_KEYS and key != default_key:
            out.unsupported(("spec", key))
    metadata = convert_metadata(doc, out)
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"),
                                                            dict) else {}
    strip = any(str(annotations.get(a, "")).lower() == "true" for a in STRIP_PATH_ANNOTATIONS)
    redirect = str(annotations.get(SSL_REDIRECT_ANNOTATION, "true")).lower() != "false"
    tls_hosts = _tls_hosts(spec.get("tls"), out)
    namespace = object_namespace(doc)
    routes: list[tuple[dict, dict]] = []  # (spec, origin)
    rules = spec.get("rules") or []
    if not isinstance(rules, list):
        out.problem(("spec", "rules"), "must be a list")
        rules = []
    for i, rule in enumerate(rules):
        at: FieldPath = ("spec", "rules", i)
        if not isinstance(rule, dict):
            out.problem(at, "must be a mapping")
            continue
        host = rule.get("host")
        if host is not None and not isinstance(host, str):
            out.problem(at + ("host",), "must be a host name")
            continue
        http = rule.get("http")
        paths = http.get("paths") if isinstance(http, dict) else None
        if not isinstance(paths, list) or not paths:
            out.problem(at + ("http", "paths"), "needs at least one path")
            continue
        for j, entry in enumerate(paths):
            pat = at + ("http", "paths", j)
            rspec = _path_route(entry, pat, legacy, namespace, strip, out)
            if rspec is None:
                continue
            if host:
                rspec["hosts"] = [host]
                if redirect and _covered(host, tls_hosts):
                    rspec["httpsRedirect"] = True
            routes.append((rspec, {("spec",): pat}))
    if spec.get(default_key) is not None:
        at = ("spec", default_key)
        backend = _backend(spec[default_key], at, legacy, namespace, out)
        if backend is not None:
            routes.append(({"backends": [backend], "precedence": -1}, {("spec",): at}))
    elif not routes and not out.problems:
        out.problem(("spec",), "needs rules or a defaultBackend")
    name = object_name(doc)
    for k, (rspec, origin) in enumerate(routes):
        meta = dict(metadata)
        if isinstance(name, str) and len(routes) > 1:
            meta["name"] = f"{name}-{k}"
        out.converted.append(Converted(native_manifest(GATEWAY_ROUTE, meta, rspec),
                                       {(): (), ("metadata",): ("metadata",), **origin}))
    return out


def _path_route(entry: Any, at: FieldPath, legacy: bool, namespace: str | None, strip: bool,
                out: Conversion) -> dict | None:
    if not isinstance(entry, dict):
        out.problem(at, "must be a mapping")
        return None
    path = entry.get("path", "/")
    ptype = entry.get("pathType", "ImplementationSpecific" if legacy else None)
    if ptype is None:
        out.problem(at + ("pathType",), "required: Exact, Prefix or ImplementationSpecific")
        return None
    if ptype not in PATH_TYPES:
        out.problem(at + ("pathType",), f"path type {ptype!r} is not supported: Exact, Prefix "
                                        f"or ImplementationSpecific")
        return None
    if not isinstance(path, str) or not path.startswith("/"):
        out.problem(at + ("path",), f"{path!r} must be a path starting with /")
        return None
    backend = _backend(entry.get("backend"), at + ("backend",), legacy, namespace, out)
    if backend is None:
        return None
    kind = PATH_TYPES[ptype]
    rspec: dict[str, Any] = {"backends": [backend]}
    if not (kind == "prefix" and path == "/"):
        rspec["path"] = {kind: path.rstrip("/") if kind == "prefix" else path}
        if strip:
            rspec["rewrite"] = {"prefix": "/"}
    return rspec


def _backend(value: Any, at: FieldPath, legacy: bool, namespace: str | None,
             out: Conversion) -> dict | None:
    if not isinstance(value, dict):
        out.problem(at, "must be a mapping with a service")
        return None
    if "resource" in value:
        out.unsupported(at + ("resource",), "backends are Services")
        return None
    if legacy:
        name, port = value.get("serviceName"), value.get("servicePort")
        name_at, port_at = at + ("serviceName",), at + ("servicePort",)
    else:
        svc = value.get("service")
        if not isinstance(svc, dict):
            out.problem(at + ("service",), "required: name and port of a Service")
            return None
        name, port_ref = svc.get("name"), svc.get("port")
        port = port_ref.get("number", port_ref.get("name")) if isinstance(port_ref, dict) else None
        name_at, port_at = at + ("service", "name"), at + ("service", "port")
    if not isinstance(name, str) or not name:
        out.problem(name_at, "required: the Service's name")
        return None
    backend: dict[str, Any] = {"service": service_ref(name, namespace)}
    if isinstance(port, int) and not isinstance(port, bool):
        backend["port"] = port
    elif not isinstance(port, str) or not port:  # a named port is resolved by the Service
        out.problem(port_at, "required: the Service port (number or name)")
        return None
    return backend


def _tls_hosts(value: Any, out: Conversion) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        out.problem(("spec", "tls"), "must be a list")
        return []
    hosts = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            out.problem(("spec", "tls", i), "must be a mapping with hosts and secretName")
            continue
        hosts += [h for h in entry.get("hosts") or [] if isinstance(h, str)]
    return hosts


def _covered(host: str, patterns: list[str]) -> bool:
    return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)
