"""The CustomResourceDefinitions of the rule kinds, generated from the JSON Schemas in schemas/.

Kubernetes wants a *structural* OpenAPI v3 schema, a stricter dialect than our JSON Schema
draft 2020-12, so each rule's `spec` schema is translated: `additionalProperties: false` next to
`properties` is dropped (a structural schema prunes or, with fieldValidation=Strict, refuses unknown
fields by itself), maps keep only `additionalProperties`, `const` becomes a one-value `enum`, and
`$schema`/`$id`/`$defs` go (references are inlined). Descriptions stay, so `kubectl explain
routerule.spec` documents every field.

The generated CRDs are committed under meshtool/kube/crds/ and shipped in the wheel;
`python -m meshtool.kube.crds --write` regenerates them, `--check` fails when they are stale.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from meshtool.model.kinds import API_GROUP, API_VERSION, NATIVE_KINDS, PLURALS
from meshtool.rules.schema import SCHEMA_FILES, load_schema

CRD_DIR = Path(__file__).resolve().parent / "crds"
CATEGORIES = ["meshtool", "meshtool-rules"]
SHORT_NAMES = {"RouteRule": ["rr"], "EgressRule": ["er"], "DestinationPolicy": ["dp"],
               "MTLSPolicy": [], "AccessPolicy": ["ap"]}
HEADER = ("# Generated from schemas/{schema} by `python -m meshtool.kube.crds --write`: "
          "edit the schema, not this file.\n")

# What `kubectl get` shows besides NAME.
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
PRINTER_COLUMNS = {
    "RouteRule": [
        {"name": "Destination", "type": "string", "jsonPath": ".spec.destination.name",
         "description": "The service whose requests the rule routes."},
        {"name": "Precedence", "type": "integer", "jsonPath": ".spec.precedence",
         "description": "Order among the rules of the same destination."},
        _AGE,
    ],
    "EgressRule": [
        {"name": "Service", "type": "string", "jsonPath": ".spec.destination.service",
         "description": "The external host, wildcard or range allowed."},
        _AGE,
    ],
    "DestinationPolicy": [
        {"name": "Destination", "type": "string", "jsonPath": ".spec.destination.name",
         "description": "The service the policy applies to."},
        {"name": "Load-Balancing", "type": "string", "jsonPath": ".spec.loadBalancing.name",
         "description": "The load-balancing algorithm.", "priority": 1},
        _AGE,
    ],
    "MTLSPolicy": [
        {"name": "Destination", "type": "string", "jsonPath": ".spec.destination.name",
         "description": "The service whose inbound sidecars the policy sets (none: the namespace)."},
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode",
         "description": "STRICT, PERMISSIVE or DISABLE."},
        _AGE,
    ],
    "AccessPolicy": [
        {"name": "Destination", "type": "string", "jsonPath": ".spec.destination.name",
         "description": "The service whose callers the policy judges (none: the namespace)."},
        {"name": "Action", "type": "string", "jsonPath": ".spec.action",
         "description": "ALLOW, DENY or AUDIT."},
        _AGE,
    ],
}

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

# JSON Schema keywords a structural schema accepts as they are.
_KEPT = {"type", "description", "properties", "additionalProperties", "items", "required", "enum",
         "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
         "pattern", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
         "format", "default", "nullable", "title", "multipleOf"}
_DROPPED = {"$schema", "$id", "$defs", "definitions", "$comment", "examples"}


class SchemaNotStructural(ValueError):
    """The JSON Schema uses a construct this translation does not know how to express."""


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None,
               where: str = "#") -> dict[str, Any]:
    """One JSON Schema node translated to Kubernetes' structural OpenAPI v3 dialect."""
    defs = schema.get("$defs", defs or {})
    if "$ref" in schema:
        ref = schema["$ref"]
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in defs:
            raise SchemaNotStructural(f"{where}: cannot inline $ref {ref!r}")
        merged = {**defs[ref[len(prefix):]], **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs, where)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            if value:
                out["properties"] = {name: structural(sub, defs, f"{where}/properties/{name}")
                                     for name, sub in value.items()}
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out["additionalProperties"] = structural(value, defs, f"{where}/additionalProperties")
            # `false` is what a structural schema does anyway; `true` needs preserve-unknown-fields,
            # which we never want for rules.
            elif value is True:
                raise SchemaNotStructural(f"{where}: additionalProperties: true is not supported")
        elif key == "items":
            out["items"] = structural(value, defs, f"{where}/items")
        elif key in ("minimum", "maximum") and schema.get("format") == "int64" \
                and value in (INT64_MIN, INT64_MAX):
            # The int64 bound itself: the API server decodes integers as int64 and refuses any
            # other, while a bound written out overflows its float64 comparison.
            continue
        elif key in _KEPT:
            out[key] = copy.deepcopy(value)
        else:
            raise SchemaNotStructural(f"{where}: JSON Schema keyword {key!r} has no translation")
    if "additionalProperties" in out and "properties" in out:
        raise SchemaNotStructural(f"{where}: properties and an additionalProperties schema together")
    if "type" not in out:
        raise SchemaNotStructural(f"{where}: a structural schema needs a type")
    return out


# Written by the control plane only (through the status subresource): whether it accepted the
# object, and if not why (meshtool.controlplane.kubestatus).
STATUS_SCHEMA = {
    "type": "object",
    "description": "What the control plane made of this object.",
    "properties": {"conditions": {
        "type": "array",
        "description": "Accepted: True when the control plane serves the object; False, with "
                       "the reason, when it leaves it out of every snapshot.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status"],
            "properties": {
                "type": {"type": "string", "description": "Accepted."},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"],
                           "description": "True, False or Unknown."},
                "reason": {"type": "string", "description": "Valid or Invalid."},
                "message": {"type": "string", "description": "Why, in meshtool's words."},
                "observedGeneration": {"type": "integer", "format": "int64",
                                       "description": "The generation the condition is about."},
                "lastTransitionTime": {"type": "string", "format": "date-time",
                                       "description": "When the status last changed."},
            },
        },
    }},
}


def object_schema(kind: str) -> dict[str, Any]:
    """openAPIV3Schema of the whole object: apiVersion, kind, metadata as Kubernetes has them,
    `spec` from our schema."""
    schema = load_schema(kind)
    props = schema["properties"]
    return {
        "type": "object",
        "description": schema["description"],
        "properties": {
            "apiVersion": {"type": "string", "description": (
                "APIVersion defines the versioned schema of this representation of an object: "
                f"{API_GROUP}/{API_VERSION}.")},
            "kind": {"type": "string", "description": f"The kind of this object: {kind}."},
            # The API server owns metadata's schema; a CRD may not restrict it beyond the name.
            "metadata": {"type": "object"},
            "spec": structural(props["spec"], schema.get("$defs"), "#/properties/spec"),
            "status": STATUS_SCHEMA,
        },
        "required": ["spec"],
    }


def crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of one rule kind."""
    plural = PLURALS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "meshtool", "app.kubernetes.io/part-of": "meshtool"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                **({"shortNames": SHORT_NAMES[kind]} if SHORT_NAMES[kind] else {}),
                "categories": CATEGORIES,
            },
            "versions": [{
                "name": API_VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": object_schema(kind)},
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS[kind],
            }],
        },
    }


def crd_file(kind: str) -> Path:
    """Where the committed CRD of a kind lives: meshtool/kube/crds/<plural>.yaml."""
    return CRD_DIR / f"{PLURALS[kind]}.yaml"


def render(kind: str) -> str:
    """The YAML text of a kind's CRD, exactly as committed."""
    import yaml

    body = yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)
    return HEADER.format(schema=SCHEMA_FILES[kind]) + body


def committed_crds() -> list[dict[str, Any]]:
    """The CRDs shipped with the package (what `meshtool install` applies), in NATIVE_KINDS order."""
    import yaml

    return [yaml.safe_load(crd_file(kind).read_text(encoding="utf-8")) for kind in NATIVE_KINDS]


def crd_names() -> list[str]:
    """'routerules.config.meshtool.io', ... in NATIVE_KINDS order."""
    return [f"{PLURALS[kind]}.{API_GROUP}" for kind in NATIVE_KINDS]


def wait_established(api_client, names: list[str] | None = None, timeout: float = 30.0) -> None:
    """Block until the API server serves every named CRD (condition Established=True);
    TimeoutError naming the ones that are not."""
    import time

    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.ApiextensionsV1Api(api_client)
    waiting = list(names or crd_names())
    deadline = time.monotonic() + timeout
    while True:
        for name in list(waiting):
            try:
                conditions = api.read_custom_resource_definition(name).status.conditions or []
            except ApiException as e:
                if e.status != 404:
                    raise
                continue
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                waiting.remove(name)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not established after {timeout:.0f} s: {', '.join(waiting)}")
        time.sleep(0.1)


def stale_files() -> list[Path]:
    """Committed CRD files that differ from what the schemas generate now."""
    stale = []
    for kind in NATIVE_KINDS:
        path = crd_file(kind)
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != render(kind):
            stale.append(path)
    return stale


def write() -> list[Path]:
    """Regenerate the committed CRDs; returns the files that changed."""
    changed = stale_files()
    CRD_DIR.mkdir(exist_ok=True)
    for kind in NATIVE_KINDS:
        if crd_file(kind) in changed:
            crd_file(kind).write_text(render(kind), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """python -m meshtool.kube.crds [--write | --check]; with neither, print the CRDs."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        for path in write():
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if args == ["--check"]:
        stale = stale_files()
        for path in stale:
            print(f"{path}: stale; run `python -m meshtool.kube.crds --write`", file=sys.stderr)
        return 1 if stale else 0
    if args:
        print("usage: python -m meshtool.kube.crds [--write | --check]", file=sys.stderr)
        return 64
    sys.stdout.write("---\n".join(render(kind) for kind in NATIVE_KINDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
