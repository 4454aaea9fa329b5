"""Resource: one rule object as every layer sees it (store, control plane, sidecar)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.model.kinds import (NATIVE_API_VERSION, NATIVE_KINDS, bare_kind,
                                  kind_key, slug)

RESOURCE_VERSION_FIELD = "metadata.resourceVersion"  # the key of Resource.lines for it

# Metadata the API server fills in, as `kubectl get -o yaml` shows it: none of it is the user's to
# set, so a rule read back from a cluster is accepted with it and read without it.
SERVER_METADATA = frozenset({"uid", "creationTimestamp", "generation", "managedFields", "selfLink",
                             "deletionTimestamp", "deletionGracePeriodSeconds"})


def without_server_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest minus server-filled metadata and status (resourceVersion stays: replace
    uses it to refuse a stale write)."""
    meta = manifest.get("metadata")
    if not (isinstance(meta, dict) and SERVER_METADATA & meta.keys()) and "status" not in manifest:
        return manifest
    out = {k: v for k, v in manifest.items() if k != "status"}
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
    return out


@dataclass
class Resource:
    """A rule as its author wrote it, with its identity and provenance.

    `kind` is the store's kind: a native kind ('RouteRule'), or kind.group for another API
    ('VirtualService.networking.istio.io', see model.kinds.FOREIGN_KINDS) with the exact
    `api_version` it was written in. `spec` holds plain JSON types only. `file`/`line` say where it was read from, when it
    was read from a file; `resource_version`/`revision` are set by a store.
    """

    kind: str
    name: str
    namespace: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: str | None = None
    revision: int | None = None
    file: str | None = None
    line: int | None = None
    api_version: str = NATIVE_API_VERSION
    # Lines of fields that errors may point at, e.g. {"metadata.resourceVersion": 4}.
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_native(self) -> bool:
        return self.kind in NATIVE_KINDS

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def display(self) -> str:
        """'route-rule/default/reviews-canary', as in the store's messages."""
        return f"{slug(self.kind)}/{self.namespace}/{self.name}"

    @property
    def where(self) -> str | None:
        if not self.file:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_manifest(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            meta["labels"] = dict(self.labels)
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        if self.resource_version is not None:
            meta["resourceVersion"] = self.resource_version
        return {"apiVersion": self.api_version, "kind": bare_kind(self.kind), "metadata": meta,
                "spec": self.spec}

    @classmethod
    def from_manifest(cls, doc: dict[str, Any], *, namespace: str | None = None,
                      file: str | None = None, line: int | None = None) -> "Resource":
        """From an already validated manifest. `namespace` fills in a missing one."""
        meta = doc.get("metadata") or {}
        rv = meta.get("resourceVersion")
        api = doc.get("apiVersion") or NATIVE_API_VERSION
        return cls(kind=kind_key(api, doc["kind"]) or doc["kind"], name=meta["name"],
                   api_version=api,
                   namespace=meta.get("namespace") or namespace or DEFAULT_NAMESPACE,
                   spec=doc.get("spec") or {}, labels=dict(meta.get("labels") or {}),
                   annotations=dict(meta.get("annotations") or {}),
                   resource_version=str(rv) if rv is not None else None, file=file, line=line)
