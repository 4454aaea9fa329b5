"""The one validity check of a native rule object, shared by every path that judges one.

`validate`/`create` (through the loader), `analyze --use-store`, the control plane (which leaves
an invalid stored object out of its snapshots) and the validating admission webhook all ask
`problems(manifest)`: the JSON Schema first, then, when the shape is right, the semantic checks
and Kubernetes' label syntax. A resource is valid exactly when the list is empty.
"""

from __future__ import annotations

from typing import Any

from meshtool.errors import Finding
from meshtool.model import semantic
from meshtool.model.labels import manifest_label_problems
from meshtool.model.resource import Resource
from meshtool.rules import schema
from meshtool.rules.yamlio import format_path

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


def problems(manifest: dict[str, Any]) -> list[Problem]:
    """Every problem of one native manifest (kind known), schema problems alone when its shape
    is wrong: the semantic checks assume a schema-valid spec."""
    kind = manifest.get("kind")
    found = schema.validate(kind, manifest)
    if not found:
        found = semantic.check(kind, manifest.get("spec"))
    return list(found) + manifest_label_problems(manifest)


def resource_problems(resource: Resource) -> list[Problem]:
    """`problems` of a native Resource read from a store (its manifest as the store holds it).
    A resource of another API, stored as authored, is judged when it is compiled
    (meshtool.model.compile reports it as invalid or unresolved): none here."""
    if not resource.is_native:
        return []
    return problems(resource.to_manifest())


def describe(path: FieldPath, message: str) -> str:
    """'spec.route[1].weight: weights sum to 70, must be 100'."""
    where = format_path(path)
    return f"{where}: {message}" if where else message


def resource_findings(resource: Resource) -> list[Finding]:
    """The problems of a stored object as findings named after it ('RouteRule/x' in `ns`)."""
    label = f"{resource.kind}/{resource.name}"
    return [Finding(message, resource.where and resource.file, resource.line,
                    format_path(path) or None, label)
            for path, message in resource_problems(resource)]
