"""Item: one input object (a rule or a Kubernetes object) as the analyzers see it.

Rules come from the loader as Resources (native form, foreign formats converted);
Kubernetes objects are the manifests as read. Both carry where they came from, so that a
message can name file:line, and the line of a field is looked up only when a message
needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

FILE, STORE, KUBE = "file", "store", "kube"

CLUSTER_SCOPED = frozenset({"Namespace"})


def as_dict(value: Any) -> dict:
    """Manifests are not schema-checked: a field that should be a mapping may be anything."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def str_map(value: Any) -> dict[str, str]:
    """Labels and annotations: keep the string keys; values as strings (YAML may type them)."""
    out = {}
    for k, v in as_dict(value).items():
        if isinstance(k, str) and v is not None and not isinstance(v, (dict, list)):
            out[k] = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
    return out


@dataclass(eq=False)
class Item:
    kind: str
    name: str
    namespace: str | None  # None for cluster-scoped objects
    manifest: dict  # the whole document (for rules: the native manifest)
    file: str | None = None
    line: int | None = None
    origin: str = FILE
    document: Any = None  # yamlio.Document, to locate fields; None when not read from a file
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def spec(self) -> dict:
        return as_dict(self.manifest.get("spec"))

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.kind, self.namespace, self.name)

    def locate(self, path: Iterable[str | int]) -> int | None:
        """The line of a field, or of the object when the field cannot be found."""
        path = tuple(path)
        if self.document is None or not path:
            return self.line
        return self.document.locate(path)

    @classmethod
    def from_manifest(cls, doc: dict, *, default_namespace: str, file: str | None = None,
                      line: int | None = None, origin: str = FILE,
                      document: Any = None) -> "Item | None":
        """A Kubernetes object; None when the document is not one (no kind or name)."""
        kind = doc.get("kind")
        meta = as_dict(doc.get("metadata"))
        name = meta.get("name")
        if not isinstance(kind, str) or not kind or not isinstance(name, (str, int)) or name == "":
            return None
        if kind in CLUSTER_SCOPED:
            namespace = None
        else:
            ns = meta.get("namespace")
            namespace = str(ns) if isinstance(ns, (str, int)) and ns != "" else default_namespace
        return cls(kind, str(name), namespace, doc, file, line, origin, document,
                   str_map(meta.get("labels")), str_map(meta.get("annotations")))

    @classmethod
    def from_resource(cls, res: Any, *, origin: str = FILE, document: Any = None) -> "Item":
        """A rule (model.resource.Resource) from the loader or a store."""
        return cls(res.kind, res.name, res.namespace, res.to_manifest(), res.file, res.line,
                   origin, document, dict(res.labels or {}), dict(res.annotations or {}))


def format_labels(labels: dict[str, str]) -> str:
    """{'version': 'v3'} -> 'version=v3' (sorted, comma-separated)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
