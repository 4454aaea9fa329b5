"""Snapshot computation: rules from the store + services from the registry -> one document.

The rules are compiled from the stored resources of every API (model.compile: a route whose
references do not resolve yet is left out and reported in `Built.compiled`); the document is
encoded by its owner, meshtool.discovery.snapshot. Every proxy currently gets the same view of
the mesh (a sidecar applies the rules' `source` matches itself, knowing who it is), so a
snapshot is computed and encoded once per change and sent to every proxy as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.discovery import snapshot as document
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
    version, text = document.encode(revision, services, [r.to_manifest() for r in ordered],
                                    complete=complete)
    return Built(version, text, compiled)
