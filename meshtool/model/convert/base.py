"""What every converter shares: its result types, the input set, metadata and hosts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshtool.model import resource
from meshtool.model.hosts import kube_service  # noqa: F401 - the converters' import
from meshtool.model.kinds import NATIVE_API_VERSION

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

# Metadata a server fills in, and the foreign store's resourceVersion: meaningless in ours, so
# leaving it out loses nothing.
SERVER_METADATA = resource.SERVER_METADATA | {"resourceVersion"}


@dataclass
class Converted:
    """One native manifest and, for line numbers, where its parts came from:
    native path prefix -> path in the foreign document."""

    manifest: dict[str, Any]
    origin: dict[FieldPath, FieldPath] = field(default_factory=dict)

    def foreign_path(self, path: FieldPath) -> FieldPath:
        """The foreign field a native path came from (longest known prefix)."""
        for n in range(len(path), -1, -1):
            base = self.origin.get(tuple(path[:n]))
            if base is not None:
                return base + tuple(path[n:])
        return ()


@dataclass
class Conversion:
    converted: list[Converted] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # References to other resources not found in the input set (a VirtualService's subset
    # whose DestinationRule is not there): the document itself is fine, its compiled form waits.
    unresolved: list[Problem] = field(default_factory=list)
    # Accepted, but worth telling the author (a legacy apiVersion read as the current one).
    warnings: list[Problem] = field(default_factory=list)

    def warn(self, path: FieldPath, message: str) -> None:
        self.warnings.append((tuple(path), message))

    def problem(self, path: FieldPath, message: str) -> None:
        self.problems.append((tuple(path), message))

    def unresolved_reference(self, path: FieldPath, message: str) -> None:
        self.unresolved.append((tuple(path), message))

    def items(self, value: Any, path: FieldPath) -> list:
        """A list field's entries; absent is empty, anything else a problem (and empty)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return []
        return value

    def unsupported(self, path: FieldPath, what: str = "") -> None:
        name = path[-1] if path else "document"
        self.problem(path, f"{name!s} cannot be converted: meshtool has no equivalent"
                           + (f" ({what})" if what else ""))


@dataclass
class Context:
    """The whole input set, for converters that need other documents."""

    documents: list[Any] = field(default_factory=list)

    def of_kind(self, api_versions: tuple[str, ...], kind: str) -> list[dict]:
        return [d for d in self.documents if isinstance(d, dict) and d.get("kind") == kind
                and d.get("apiVersion") in api_versions]


def listed(value: Any) -> list:
    """A list field of another document the input refers to: its own errors are reported
    where it is loaded, so here a malformed one simply lists nothing."""
    return value if isinstance(value, list) else []


def native_manifest(kind: str, metadata: dict, spec: dict) -> dict:
    return {"apiVersion": NATIVE_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def convert_metadata(doc: dict, out: Conversion, *, name: Any = None) -> dict:
    """Native metadata from a foreign object's: identity, labels and annotations kept; fields
    a server fills in left out; anything else is a problem."""
    meta = doc.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        out.problem(("metadata",), "must be a mapping")
        return {}
    result: dict[str, Any] = {}
    if name is not None or "name" in meta:
        result["name"] = name if name is not None else meta.get("name")
    for key in ("namespace", "labels", "annotations"):
        if key in meta:
            result[key] = meta[key]
    for key in meta:
        if key not in ("name", "namespace", "labels", "annotations") and key not in SERVER_METADATA:
            out.unsupported(("metadata", key))
    return result


def object_name(doc: dict) -> Any:
    meta = doc.get("metadata")
    return meta.get("name") if isinstance(meta, dict) else None


def object_namespace(doc: dict) -> str | None:
    meta = doc.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) else None


def service_ref(name: str, namespace: str | None) -> dict:
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


def find_object(context: Context, api_versions: tuple[str, ...], kind: str, name: Any,
                namespace: str | None) -> dict | None:
    """The object of that kind named `name` in `namespace` among the input set, if any."""
    for obj in context.of_kind(api_versions, kind):
        if object_name(obj) == name and (object_namespace(obj) or namespace) == namespace:
            return obj
    return None


def emit_gateway_routes(out: Conversion, doc: dict, metadata: dict,
                        produced: list[tuple[dict, FieldPath]], kind: str) -> None:
    """The gateway routes one route resource made, named NAME-gw (or NAME-gw-0, -1, ...)."""
    name = object_name(doc)
    for k, (rspec, base) in enumerate(produced):
        meta = dict(metadata)
        if isinstance(name, str):
            meta["name"] = f"{name}-gw-{k}" if len(produced) > 1 else f"{name}-gw"
        out.converted.append(Converted(native_manifest(kind, meta, rspec),
                                       {(): (), ("metadata",): ("metadata",), ("spec",): base}))
