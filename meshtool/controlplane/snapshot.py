"""Snapshot computation: rules from the store + services from the registry -> one document.

The document has the sidecar's format (docs/snapshot.md): `{version, services, rules}` with
services `{name, namespace, ports, endpoints: [{address, port, labels}]}` and rules as native
manifests, compiled from the stored resources of every API (a route whose references do not
resolve yet is left out and reported: `Built.compiled`). Every proxy currently gets the same view of the mesh (a sidecar applies the rules'
`source` matches itself, knowing who it is), so a snapshot is computed and encoded once per change
and sent to every proxy as is.

The version is `<store revision>.<content hash>`: it grows with the store and names the content,
so a restarted control plane that computes the same snapshot sends the same version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.model.compile import Compiled, compile_resources
from meshtool.model.resource import Resource


@dataclass(frozen=True)
class Built:
    version: str
    json: str  # the whole document, encoded once
    compiled: Compiled = field(default_factory=Compiled, compare=False)

    @cached_property
    def utf8(self) -> bytes:
        return self.json.encode()


def build_snapshot(revision: int, rules: Iterable[Resource], services: list[dict],
                   complete: bool = True) -> Built:
    """`rules` as stored, of any API: compiled here into native rules (model.compile)."""
    compiled = compile_resources(rules, {(s.get("namespace") or DEFAULT_NAMESPACE, s["name"])
                                         for s in services})
    ordered = sorted(compiled.rules, key=lambda r: r.key)
    body = {"services": services, "rules": [r.to_manifest() for r in ordered]}
    if not complete:  # the control plane is warming: sidecars keep endpoints it lacks
        body["complete"] = False
    body_json = json.dumps(body, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(body_json.encode()).hexdigest()[:8]
    version = f"{revision}.{digest}"
    # Splice the version in front rather than encoding the document a second time.
    return Built(version, f'{{"version":{json.dumps(version)},{body_json[1:]}', compiled)
