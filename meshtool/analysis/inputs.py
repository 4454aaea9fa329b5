"""Collecting what to analyse: files (rules and Kubernetes manifests together), rules from
a store, objects from a cluster; merged so that files take precedence."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from meshtool.analysis.items import FILE, Item
from meshtool.errors import DataError, Finding
from meshtool.rules.loader import load_rules
from meshtool.model.convert import FOREIGN_GROUPS, ingress
from meshtool.model.convert.kuma import is_universal
from meshtool.model.kinds import API_GROUP, list_items
from meshtool.model.resource import DEFAULT_NAMESPACE
from meshtool.rules.sources import Source
from meshtool.rules.yamlio import Document, RawDocument, load_documents, split_documents

RULE_GROUPS = frozenset((API_GROUP, *FOREIGN_GROUPS))
# Kubernetes kinds that are rules for meshtool's gateway, in groups that also hold workloads
_GATEWAY_INPUTS = frozenset((api, "Ingress") for api in ingress.API_VERSIONS)
_SHARED_GROUPS = frozenset(api.rpartition("/")[0] for api, _ in _GATEWAY_INPUTS)
UNREADABLE = ("invalid YAML", "invalid JSON")  # the loader's findings for text it cannot read

_API_VERSION = re.compile(r"^apiVersion:[ \t]*[\"']?([^\"'\s#]+)", re.MULTILINE)
_LIST_KIND = re.compile(r"^kind:[ \t]*[\"']?\w*List\b", re.MULTILINE)


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
    return isinstance(api, str) and (api.rpartition("/")[0] in RULE_GROUPS
                                     or (api, str(data.get("kind"))) in _GATEWAY_INPUTS)


def _entries(doc: Document) -> list[tuple[Any, Any, int]]:
    """(data, locator, line) for a document, or for each item of a List document."""
    out = []
    for path, entry in list_items(doc.data):
        if not path:
            out.append((entry, doc, doc.content_line))
        else:
            locator = _InList(doc, path)
            out.append((entry, locator, locator.locate(())))
    return out


def read_files(sources: list[Source], *, namespace: str | None = None) -> Inputs:
    """Rules (through the loader, so exactly validate's checks) and Kubernetes objects.

    Each document is parsed once: a cheap look at its top-level apiVersion sends it to the
    loader (rules) or to the manifest reader (everything else); a document that cannot be
    told apart that way (a List, JSON, Kuma's universal form) goes to both, which sort it
    out themselves. Raises DataError (exit 65) for a file that is not YAML or JSON at all.
    """
    default_ns = namespace or DEFAULT_NAMESPACE
    items: list[Item] = []
    rule_sources: list[Source] = []
    raws: dict[str, list[RawDocument]] = {}
    for source in sources:
        kube_part, rule_part, raws[source.name] = _split(source)
        rule_sources.append(rule_part)
        for doc in load_documents(kube_part):
            for data, locator, line in _entries(doc):
                if not isinstance(data, dict) or _is_rule(data):
                    continue
                item = Item.from_manifest(data, default_namespace=default_ns, file=source.name,
                                          line=line, origin=FILE, document=locator)
                if item is not None:
                    items.append(item)
    loaded = load_rules(rule_sources, namespace=namespace)
    unreadable = [f for f in loaded.findings if f.message.startswith(UNREADABLE)]
    if unreadable:
        raise DataError(findings=unreadable)
    converted = {where for where, _ in loaded.converted}
    by_name = {s.name: s for s in sources}
    rules = []
    for res in loaded.resources:
        # Field paths of a converted rule are the native ones: they do not exist in the
        # foreign document, so such a rule is located by its document's line only.
        native = f"{res.file}:{res.line}" not in converted
        document = None
        if native and res.file in by_name:
            document = _document_at(by_name[res.file], raws.get(res.file, []), res.line)
        rules.append(Item.from_resource(res, origin=FILE, document=document))
    return Inputs(rules + items, list(loaded.findings))


def _guess(text: str) -> str | None:
    """'rule', 'kube', or None (unsure) from a document's top-level apiVersion line."""
    if _LIST_KIND.search(text):
        return None
    match = _API_VERSION.search(text)
    if match is None:
        return None
    group = match.group(1).rpartition("/")[0]
    if group in _SHARED_GROUPS:
        return None  # an Ingress is a rule, a Deployment of that group a workload: both look
    return "rule" if group in RULE_GROUPS else "kube"


def _blank(text: str) -> str:
    """The same number of lines, no content (a leading '---' kept: documents stay apart)."""
    first, _, _ = text.partition("\n")
    keep = "---" if first.startswith("---") else ""
    return keep + "\n" * text.count("\n")


def _split(source: Source) -> tuple[Source, Source, list[RawDocument]]:
    """(the manifests' part, the rules' part) of a source: same name and line numbers."""
    raws = split_documents(source.text)
    if source.is_json:
        return source, source, raws
    kube, rules = [], []
    for raw in raws:
        guess = _guess(raw.text)
        kube.append(_blank(raw.text) if guess == "rule" else raw.text)
        rules.append(_blank(raw.text) if guess == "kube" else raw.text)
    parts = (Source(source.name, "".join(kube), source.path),
             Source(source.name, "".join(rules), source.path))
    if any(p.is_json for p in parts):  # stdin: blanking must not make YAML look like JSON
        return source, source, raws
    return parts[0], parts[1], raws


def _document_at(source: Source, raws: list[RawDocument], line: int | None) -> Document | None:
    """The document of a file whose text holds `line`, to locate a rule's fields (not a
    List: its items are located by their own line only)."""
    if line is None or not raws:
        return None
    starts = [r.start_line for r in raws]
    raw = raws[max(0, bisect.bisect_right(starts, line) - 1)]
    return None if _LIST_KIND.search(raw.text) else Document(None, source, raw)


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


def read_store(store, *, namespace: str | None = None, hidden: Iterable[tuple] = ()) -> Inputs:
    """The rules of a config store: valid ones as Items, the others as findings (MT0001).
    A store can hold what `validate` refuses (written straight to the API server, a damaged
    row): the same checker as validate and the control plane judges each one. Rules of other
    APIs (an Ingress, a VirtualService), stored as authored, are compiled as the control plane
    compiles them, so the analyzers see the native rules they become, as for files; one the
    control plane would leave out is a finding saying why. Objects whose key is in `hidden`
    (given in files, which win) are not judged."""
    from meshtool.analysis.items import STORE
    from meshtool.model.compile import compile_resources
    from meshtool.model.kinds import bare_kind
    from meshtool.rules.check import resource_findings

    valid, findings = [], []
    hidden = set(hidden)
    for res in store.list(namespace=namespace):
        if res.key in hidden:
            continue
        damaged = getattr(res, "damaged", None)
        found = ([Finding(damaged, resource=f"{res.kind}/{res.name}")] if damaged
                 else resource_findings(res))
        if found:
            findings.extend(found)
        else:
            valid.append(res)
    compiled = compile_resources(valid)
    for (kind, _, name), reasons in sorted({**compiled.invalid, **compiled.unresolved}.items()):
        findings += [Finding(f"not compiled by the control plane: {reason}",
                             resource=f"{bare_kind(kind)}/{name}") for reason in reasons]
    return Inputs([Item.from_resource(res, origin=STORE) for res in compiled.rules], findings)
