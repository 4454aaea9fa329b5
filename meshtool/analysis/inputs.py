"""Collecting what to analyse: files (rules and Kubernetes manifests together), rules from
a store, objects from a cluster; merged so that files take precedence."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable

from meshtool.analysis.items import FILE, Item
from meshtool.errors import Finding
from meshtool.loader import load_rules
from meshtool.model.convert import FOREIGN_GROUPS
from meshtool.model.convert.kuma import is_universal
from meshtool.model.kinds import API_GROUP
from meshtool.model.resource import DEFAULT_NAMESPACE
from meshtool.sources import Source
from meshtool.yamlio import Document, load_documents

RULE_GROUPS = frozenset((API_GROUP, *FOREIGN_GROUPS))


@dataclass
class Inputs:
    items: list[Item] = field(default_factory=list)
    load_findings: list[Finding] = field(default_factory=list)  # rules that did not load


class _InList:
    """Locates fields of an item of a `kind: List` document."""

    def __init__(self, document: Document, prefix: tuple):
        self.document, self.prefix = document, prefix

    def locate(self, path: Iterable[str | int]) -> int:
        return self.document.locate(self.prefix + tuple(path))


def _is_rule(data: Any) -> bool:
    if is_universal(data):
        return True
    api = data.get("apiVersion")
    return isinstance(api, str) and api.rpartition("/")[0] in RULE_GROUPS


def _is_list(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and \
        data["kind"].endswith("List") and isinstance(data.get("items"), list)


def _entries(doc: Document) -> list[tuple[Any, Any, int]]:
    """(data, locator, line) for a document, or for each item of a List document."""
    data = doc.data
    if _is_list(data):
        out = []
        for i, entry in enumerate(data["items"]):
            locator = _InList(doc, ("items", i))
            out.append((entry, locator, locator.locate(())))
        return out
    return [(data, doc, doc.line)]


def read_files(sources: list[Source], *, namespace: str | None = None) -> Inputs:
    """Rules (through the loader, so exactly validate's checks) and Kubernetes objects.

    Raises DataError (exit 65) for a file that is not YAML or JSON at all.
    """
    default_ns = namespace or DEFAULT_NAMESPACE
    items: list[Item] = []
    documents: dict[str, list[Document]] = {}
    for source in sources:
        for doc in load_documents(source):
            documents.setdefault(source.name, []).append(doc)
            for data, locator, line in _entries(doc):
                if not isinstance(data, dict) or _is_rule(data):
                    continue
                item = Item.from_manifest(data, default_namespace=default_ns, file=source.name,
                                          line=line, origin=FILE, document=locator)
                if item is not None:
                    items.append(item)
    loaded = load_rules(sources, namespace=namespace)
    converted = {where for where, _ in loaded.converted}
    rules = []
    for res in loaded.resources:
        # Field paths of a converted rule are the native ones: they do not exist in the
        # foreign document, so such a rule is located by its document's line only.
        native = f"{res.file}:{res.line}" not in converted
        document = _document_at(documents.get(res.file or "", []), res.line) if native else None
        rules.append(Item.from_resource(res, origin=FILE, document=document))
    return Inputs(rules + items, list(loaded.findings))


def _document_at(docs: list[Document], line: int | None) -> Document | None:
    """The document of a file whose text holds `line` (not a List: its items are located
    by their own line only)."""
    if line is None or not docs:
        return None
    starts = [d.raw.start_line for d in docs]
    doc = docs[max(0, bisect.bisect_right(starts, line) - 1)]
    return None if _is_list(doc.data) else doc


def merge(*layers: Iterable[Item]) -> list[Item]:
    """Objects from several inputs; an object (kind, namespace, name) in an earlier layer
    hides the same object in later ones (files take precedence over store and cluster)."""
    seen: set[tuple] = set()
    out = []
    for layer in layers:
        for item in layer:
            if item.key in seen:
                continue
            seen.add(item.key)
            out.append(item)
    return out
