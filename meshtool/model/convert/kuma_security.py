"""kuma.io Mesh (its mtls block) -> MTLSPolicy; TrafficPermission and MeshTrafficPermission
-> AccessPolicy.

A Kuma service (`kuma.io/service: benigno_default_svc_5000`, or a MeshService name) becomes
the principal `*/ns/<namespace>/sa/<service>`: meshtool's workloads run under a service account
named after their service unless told otherwise. Kuma's mesh is meshtool's one mesh, so a
Mesh's mtls block applies everywhere (namespace meshtool-system).
"""

from __future__ import annotations

from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest, object_namespace)
from meshtool.model.convert.kuma import SERVICE_TAG, parse_service
from meshtool.model.kinds import ACCESS_POLICY, MESH_NAMESPACES, MTLS_POLICY

_ORIGIN = {("metadata",): ("metadata",), ("spec",): ("spec",)}
_ACTIONS = {"Allow": "ALLOW", "Deny": "DENY", "AllowWithShadowDeny": "ALLOW"}


def _top(doc: dict, out: Conversion) -> dict | None:
    for key in doc:
        if key not in ("apiVersion", "kind", "mesh", "metadata", "spec"):
            out.unsupported((key,))
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return None
    return spec


def convert_mesh(doc: dict, context: Context) -> Conversion:
    """mtls.enabledBackend set: the backend's mode (STRICT unless it says PERMISSIVE); no
    enabled backend: plaintext (DISABLE)."""
    out = Conversion()
    spec = _top(doc, out)
    if spec is None:
        return out
    for key in spec:
        if key != "mtls":
            out.unsupported(("spec", key))
    mtls = spec.get("mtls") or {}
    if not isinstance(mtls, dict):
        out.problem(("spec", "mtls"), "must be a mapping")
        return out
    for key in mtls:
        if key not in ("enabledBackend", "backends"):
            out.unsupported(("spec", "mtls", key))
    backends = mtls.get("backends") or []
    if not isinstance(backends, list):
        out.problem(("spec", "mtls", "backends"), "must be a list")
        return out
    mode = "DISABLE"
    enabled = mtls.get("enabledBackend")
    if enabled:
        chosen = [(i, b) for i, b in enumerate(backends)
                  if isinstance(b, dict) and b.get("name") == enabled]
        if not chosen:
            out.problem(("spec", "mtls", "enabledBackend"), f"no backend named {enabled!r}")
            return out
        i, backend = chosen[0]
        where = ("spec", "mtls", "backends", i)
        if backend.get("type") != "builtin":
            out.unsupported(where + ("type",), "only the builtin CA: meshtool's control plane "
                                               "is the CA (--ca-dir for your own root)")
        for key in backend:
            if key not in ("name", "type", "mode", "dpCert", "conf"):
                out.unsupported(where + (key,))
        mode = backend.get("mode", "STRICT")
        if mode not in ("STRICT", "PERMISSIVE"):
            out.problem(where + ("mode",), "must be STRICT or PERMISSIVE")
    metadata = convert_metadata(doc, out)
    metadata["namespace"] = MESH_NAMESPACES[0]
    if not out.problems:
        out.converted.append(Converted(native_manifest(MTLS_POLICY, metadata, {"mode": mode}),
                                       _ORIGIN))
    return out


def _principal(tag: Any, namespace: str | None, path: FieldPath, out: Conversion) -> str | None:
    if tag == "*":
        return "*"
    svc = parse_service(tag)
    if svc is None:
        out.problem(path, f"{tag!r} is not a Kuma service tag ('name_namespace_svc_port', "
                          f"'name' or '*')")
        return None
    return f"*/ns/{svc[1] or namespace or DEFAULT_NAMESPACE}/sa/{svc[0]}"


def _service(tag: Any, path: FieldPath, out: Conversion) -> tuple[dict | None, str | None]:
    """(the destination a service tag names, its namespace); None for '*' (every workload)."""
    if tag == "*":
        return None, None
    svc = parse_service(tag)
    if svc is None:
        out.problem(path, f"{tag!r} is not a Kuma service tag")
        return None, None
    return {"name": svc[0]}, svc[1]


def convert_traffic_permission(doc: dict, context: Context) -> Conversion:
    """sources may call destinations: one ALLOW AccessPolicy per destination."""
    out = Conversion()
    spec = _top(doc, out)
    if spec is None:
        return out
    for key in spec:
        if key not in ("sources", "destinations"):
            out.unsupported(("spec", key))
    ns = object_namespace(doc)
    principals = []
    for i, src in enumerate(out.items(spec.get("sources"), ("spec", "sources"))):
        match = src.get("match") if isinstance(src, dict) else None
        if not isinstance(match, dict):
            out.problem(("spec", "sources", i, "match"), "must be a mapping of tags")
            continue
        for key in match:
            if key != SERVICE_TAG:
                out.unsupported(("spec", "sources", i, "match", key), "tags other than the service")
        p = _principal(match.get(SERVICE_TAG), ns, ("spec", "sources", i, "match", SERVICE_TAG), out)
        if p:
            principals.append(p)
    metadata = convert_metadata(doc, out)
    dests = out.items(spec.get("destinations"), ("spec", "destinations"))
    for i, dst in enumerate(dests):
        match = dst.get("match") if isinstance(dst, dict) else None
        if not isinstance(match, dict):
            out.problem(("spec", "destinations", i, "match"), "must be a mapping of tags")
            continue
        path = ("spec", "destinations", i, "match", SERVICE_TAG)
        tag = match.get(SERVICE_TAG)
        dest, dest_ns = _service(tag, path, out)
        tags = {k: v for k, v in match.items() if k != SERVICE_TAG}
        if tags:
            dest = {**(dest or {}), "labels": tags}
        native: dict[str, Any] = {"action": "ALLOW",
                                  "rules": [{"from": [{"principals": principals}]}]}
        if dest is not None:
            native["destination"] = dest
        name = metadata.get("name")
        meta = {**metadata, "name": f"{name}-{i}"} if len(dests) > 1 and name else dict(metadata)
        if dest_ns:  # the policy lives with the workload it protects
            meta["namespace"] = dest_ns
        out.converted.append(Converted(native_manifest(ACCESS_POLICY, meta, native), _ORIGIN))
    if not dests and isinstance(spec.get("destinations") or [], list):
        out.problem(("spec", "destinations"), "at least one destination is required")
    return out


def _target(ref: Any, path: FieldPath, ns: str | None, out: Conversion) -> tuple[str, str] | None:
    """(kind, principal or service name) of a targetRef; ('Mesh', '*') for the whole mesh."""
    if not isinstance(ref, dict):
        out.problem(path, "must be a mapping with kind and name")
        return None
    kind = ref.get("kind")
    if kind == "Mesh":
        return "Mesh", "*"
    if kind in ("MeshService", "MeshSubset") and isinstance(ref.get("name"), str):
        if kind == "MeshSubset":
            out.unsupported(path + ("kind",), "MeshSubset")
            return None
        return kind, ref["name"]
    out.problem(path + ("kind",), "must be Mesh or MeshService (with a name)")
    return None


def convert_mesh_traffic_permission(doc: dict, context: Context) -> Conversion:
    """One AccessPolicy per action: Deny entries a DENY policy, Allow and AllowWithShadowDeny an
    ALLOW policy; AllowWithShadowDeny also an AUDIT policy (counted as it would be denied)."""
    out = Conversion()
    spec = _top(doc, out)
    if spec is None:
        return out
    for key in spec:
        if key not in ("targetRef", "from"):
            out.unsupported(("spec", key))
    ns = object_namespace(doc)
    target = _target(spec.get("targetRef", {"kind": "Mesh"}), ("spec", "targetRef"), ns, out)
    by_action: dict[str, list[str]] = {}
    for i, entry in enumerate(out.items(spec.get("from"), ("spec", "from"))):
        path = ("spec", "from", i)
        if not isinstance(entry, dict):
            out.problem(path, "must be a mapping")
            continue
        source = _target(entry.get("targetRef"), path + ("targetRef",), ns, out)
        action = (entry.get("default") or {}).get("action") if isinstance(
            entry.get("default"), dict) else None
        if not isinstance(action, str) or action not in _ACTIONS:
            out.problem(path + ("default", "action"),
                        "must be Allow, Deny or AllowWithShadowDeny")
            continue
        if source is None:
            continue
        principal = "*" if source[0] == "Mesh" else f"*/sa/{source[1]}"
        by_action.setdefault(_ACTIONS[action], []).append(principal)
        if action == "AllowWithShadowDeny":
            by_action.setdefault("AUDIT", []).append(principal)
    if target is None or out.problems:
        return out
    metadata = convert_metadata(doc, out)
    for action, principals in sorted(by_action.items()):
        native: dict[str, Any] = {"action": action, "rules": [{"from": [{"principals": principals}]}]}
        if target[0] == "MeshService":
            native["destination"] = {"name": target[1]}
        name = metadata.get("name")
        meta = {**metadata, "name": f"{name}-{action.lower()}"} if len(by_action) > 1 and name \
            else dict(metadata)
        if ns in ("kuma-system",) and target[0] == "Mesh":
            meta["namespace"] = MESH_NAMESPACES[0]
        out.converted.append(Converted(native_manifest(ACCESS_POLICY, meta, native), _ORIGIN))
    return out
