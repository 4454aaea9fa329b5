"""security.istio.io PeerAuthentication -> MTLSPolicy, AuthorizationPolicy -> AccessPolicy.

A workload selector's `app` label names the service (the Kubernetes convention the local mesh
follows too); its other labels select instances. Without a selector a policy covers its
namespace, and in the root namespace (istio-system, meshtool-system) the whole mesh.
"""

from __future__ import annotations

import re
from typing import Any

from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest)
from meshtool.model.kinds import ACCESS_POLICY, MTLS_POLICY

API_VERSIONS = ("security.istio.io/v1beta1", "security.istio.io/v1")
_PEER_MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
_HEADER_KEY = re.compile(r"^request\.headers\[(?P<name>[^\]]+)\]$")
_ORIGIN = {("metadata",): ("metadata",), ("spec",): ("spec",)}


def _spec(doc: dict, out: Conversion, allowed: tuple[str, ...]) -> dict | None:
    spec = doc.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return None
    for key in spec:
        if key not in allowed:
            out.unsupported(("spec", key))
    return spec


def _destination(spec: dict, out: Conversion) -> dict | None:
    selector = spec.get("selector")
    if selector is None:
        return None
    if not isinstance(selector, dict):
        out.problem(("spec", "selector"), "must be a mapping")
        return None
    for key in selector:
        if key != "matchLabels":
            out.unsupported(("spec", "selector", key))
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        out.problem(("spec", "selector", "matchLabels"), "must map label names to strings")
        return None
    dest: dict[str, Any] = {}
    rest = dict(labels)
    if "app" in rest:
        dest["name"] = rest.pop("app")
    if rest:
        dest["labels"] = rest
    return dest


def convert_peer_authentication(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = _spec(doc, out, ("selector", "mtls", "portLevelMtls"))
    if spec is None:
        return out
    native: dict[str, Any] = {}
    dest = _destination(spec, out)
    if dest is not None:
        native["destination"] = dest
    mode = _mode(spec.get("mtls"), ("spec", "mtls"), out)
    if mode is not None:
        native["mode"] = mode
    levels = spec.get("portLevelMtls")
    if levels is not None:
        if not isinstance(levels, dict):
            out.problem(("spec", "portLevelMtls"), "must map ports to {mode: ...}")
        else:
            if dest is None:
                out.problem(("spec", "portLevelMtls"), "needs a selector (as in Istio)")
            ports = []
            for port, value in levels.items():
                pmode = _mode(value, ("spec", "portLevelMtls", port), out)
                if not str(port).isdigit():
                    out.problem(("spec", "portLevelMtls", port), "must be a port number")
                elif pmode is not None:
                    ports.append({"port": int(port), "mode": pmode})
            if ports:
                native["ports"] = ports
    metadata = convert_metadata(doc, out)
    if not out.problems:
        out.converted.append(Converted(native_manifest(MTLS_POLICY, metadata, native), _ORIGIN))
    return out


def _mode(value: Any, path: FieldPath, out: Conversion) -> str | None:
    """{mode: STRICT} -> 'STRICT'; UNSET (or no mode) -> None: inherited."""
    if value is None:
        return None
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping with a mode")
        return None
    for key in value:
        if key != "mode":
            out.unsupported(path + (key,))
    mode = value.get("mode", "UNSET")
    if mode not in _PEER_MODES:
        out.problem(path + ("mode",), f"must be one of {', '.join(_PEER_MODES)}")
        return None
    return None if mode == "UNSET" else mode


_SOURCE_FIELDS = {"principals": "principals", "notPrincipals": "notPrincipals",
                  "namespaces": "namespaces", "notNamespaces": "notNamespaces"}
_OPERATION_FIELDS = {"methods": "methods", "notMethods": "notMethods", "paths": "paths",
                     "notPaths": "notPaths", "ports": "ports", "notPorts": "notPorts"}


def convert_authorization_policy(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = _spec(doc, out, ("selector", "action", "rules"))
    if spec is None:
        return out
    native: dict[str, Any] = {}
    dest = _destination(spec, out)
    if dest is not None:
        native["destination"] = dest
    action = spec.get("action", "ALLOW")
    if action == "CUSTOM":
        out.unsupported(("spec", "action"), "CUSTOM actions call an external authorizer")
    elif action not in ("ALLOW", "DENY", "AUDIT"):
        out.problem(("spec", "action"), "must be one of ALLOW, DENY, AUDIT")
    native["action"] = action
    rules = spec.get("rules")
    if rules is not None and not isinstance(rules, list):
        out.problem(("spec", "rules"), "must be a list")
        rules = []
    native_rules = []
    for i, rule in enumerate(rules or []):
        path = ("spec", "rules", i)
        if not isinstance(rule, dict):
            out.problem(path, "must be a mapping")
            continue
        converted: dict[str, Any] = {}
        for key in rule:
            if key not in ("from", "to", "when"):
                out.unsupported(path + (key,))
        froms = _entries(rule.get("from"), path + ("from",), "source", _SOURCE_FIELDS, out)
        if froms:
            converted["from"] = froms
        tos = _entries(rule.get("to"), path + ("to",), "operation", _OPERATION_FIELDS, out)
        if tos:
            converted["to"] = [_ports_as_numbers(t, path + ("to",), out) for t in tos]
        when = []
        for j, cond in enumerate(out.items(rule.get("when"), path + ("when",))):
            where = path + ("when", j)
            if not isinstance(cond, dict):
                out.problem(where, "must be a mapping")
                continue
            m = _HEADER_KEY.match(str(cond.get("key", "")))
            if m is None:
                out.unsupported(where + ("key",), "only request.headers[NAME] conditions")
                continue
            entry = {"header": m.group("name")}
            for key in ("values", "notValues"):
                if key in cond:
                    entry[key] = cond[key]
            when.append(entry)
        if when:
            converted["when"] = when
        native_rules.append(converted)
    if rules is not None:
        native["rules"] = native_rules
    metadata = convert_metadata(doc, out)
    if not out.problems:
        out.converted.append(Converted(native_manifest(ACCESS_POLICY, metadata, native), _ORIGIN))
    return out


def _entries(value: Any, path: FieldPath, inner: str, fields: dict[str, str],
             out: Conversion) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        out.problem(path, "must be a list")
        return []
    entries = []
    for j, item in enumerate(value):
        where = path + (j,)
        body = item.get(inner) if isinstance(item, dict) else None
        if not isinstance(body, dict) or set(item) != {inner}:
            out.problem(where, f"must be {{{inner}: {{...}}}}")
            continue
        entry = {}
        for key, val in body.items():
            if key not in fields:
                out.unsupported(where + (inner, key))
            else:
                entry[fields[key]] = val
        entries.append(entry)
    return entries


def _ports_as_numbers(op: dict, path: FieldPath, out: Conversion) -> dict:
    """Istio writes ports as strings ("8080"); the native form has numbers."""
    for key in ("ports", "notPorts"):
        if key in op and isinstance(op[key], list):
            try:
                op = {**op, key: [int(p) for p in op[key]]}
            except (TypeError, ValueError):
                out.problem(path + (key,), "must be a list of port numbers")
    return op
