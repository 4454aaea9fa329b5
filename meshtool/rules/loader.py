"""From input files to valid native rules: the one path every command reads rules through.

documents -> kind detection -> conversion of foreign formats -> schema check of the native
form -> semantic checks -> Resource with file and line. Documents that are not rules
(Deployments, Services, ...) are skipped and listed, so that `validate` can say so.
Line numbers of fields are looked up (with ruamel, slowly) only for documents that have
a finding; a clean document costs one fast parse and one schema pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from meshtool.rules import check, schema
from meshtool.errors import DataError, Finding
from meshtool.model import convert
from meshtool.model.convert import kuma
from meshtool.model.kinds import (API_GROUP, NATIVE_API_VERSION, NATIVE_KINDS,
                                  list_items)
from meshtool.model.resource import (DEFAULT_NAMESPACE, RESOURCE_VERSION_FIELD, Resource,
                                     without_server_fields)
from meshtool.rules.sources import Source
from meshtool.rules.yamlio import Document, format_path, load_documents

FieldPath = tuple[str | int, ...]

# kinds that, without an apiVersion, are surely meant as rules (a finding, not a skip)
_RULE_LIKE_KINDS = set(NATIVE_KINDS) | {kind for _, kind in convert.CONVERTERS}


@dataclass
class LoadResult:
    resources: list[Resource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # ("file:line", why)
    documents: int = 0  # documents read (List items counted one by one)
    converted: list[tuple[str, str]] = field(default_factory=list)  # ("file:line", what)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # ("file:line", what)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Entry:
    """One object of the input: a document, or an item of a List document."""

    doc: Document
    data: Any
    prefix: FieldPath = ()

    def line_of(self, path: FieldPath = ()) -> int:
        if not path and not self.prefix:
            return self.doc.content_line  # the fast path: no ruamel parse
        return self.doc.locate(self.prefix + tuple(path))

    @property
    def where(self) -> str:
        return f"{self.doc.source.name}:{self.line_of()}"

    @property
    def label(self) -> str:
        kind = self.data.get("kind") if isinstance(self.data, dict) else None
        if kind is None and kuma.is_universal(self.data):
            kind = "TrafficRoute"
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if name is None and kuma.is_universal(self.data):
            name = self.data.get("name")
        if name is not None and not isinstance(name, str):
            name = self.written(("metadata", "name"), name)
        return f"{kind or '?'}/{name if name is not None else '?'}"

    def written(self, path: FieldPath, value: Any) -> str:
        """A scalar as the file spells it (`yes`, not Python's `True`), for labels."""
        line = self.line_of(path)
        text = self.doc.raw.text.split("\n")[line - self.doc.raw.start_line] \
            if line >= self.doc.raw.start_line else ""
        key = f"{path[-1]}:" if path else ""
        if key and key in text:
            spelt = re.split(r"[#,}\]]", text.split(key, 1)[1], maxsplit=1)[0].strip()
            if spelt:
                return spelt
        return str(value)

    def finding(self, path: FieldPath, message: str, *, label: str | None = None,
                line_path: FieldPath | None = None) -> Finding:
        return Finding(message, self.doc.source.name,
                       self.line_of(path if line_path is None else line_path),
                       format_path(path) or None, label or self.label)


def load_rules(sources: list[Source], *, namespace: str | None = None,
               default_namespace: str | None = None, unique: bool = False,
               authored: bool = False) -> LoadResult:
    """Read every rule in `sources`: valid ones as Resources, problems as findings.

    By default the Resources are native (other APIs converted, with the references between
    documents of the input resolved: what validate, convert and analyze reason about).
    `authored`: every rule as written, for the store (a VirtualService stays one, checked but
    not converted; references to resources outside the input are left to the control plane).

    `namespace` (-n) fills in a rule without one; a rule naming another namespace is a finding.
    Without `namespace`, `default_namespace` (such as the kubeconfig context's) fills it in.
    `unique`: the same (kind, namespace, name) twice is a finding (for writes; validate
    reads alternatives, such as the stages of a canary release, that share a name).
    Never raises for bad input: unreadable YAML is a finding of its file.
    """
    result = LoadResult()
    entries: list[_Entry] = []
    for source in sources:
        try:
            docs = load_documents(source)
        except DataError as exc:
            result.findings.extend(exc.findings)
            continue
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # PyYAML's constructors raise these for scalars its scanner accepted, such as
            # the date 2020-02-30; the text is still not usable YAML.
            result.findings.append(Finding(f"invalid YAML: {exc}", source.name))
            continue
        for doc in docs:
            entries.extend(_expand(doc))
    result.documents = len(entries)
    context = convert.Context([e.data for e in entries])
    fill = namespace or default_namespace
    seen: dict[tuple[str, str, str], Resource] = {}
    for entry in entries:
        try:
            loaded = _load_entry(entry, context, namespace, fill, result, authored)
        except RecursionError:  # a YAML alias that contains itself, or absurd nesting
            result.findings.append(Finding("nested too deeply (or a YAML alias that contains "
                                           "itself)", entry.doc.source.name, entry.doc.line))
            continue
        for resource in loaded:
            first = seen.get(resource.key)
            if unique and first is not None:
                result.findings.append(Finding(
                    f"{resource.kind} {resource.namespace}/{resource.name} is defined twice "
                    f"(first at {first.where})", resource.file, resource.line,
                    "metadata.name", f"{resource.kind}/{resource.name}"))
                continue
            seen[resource.key] = resource
            result.resources.append(resource)
    return result


def load_rules_strict(sources: list[Source], *, namespace: str | None = None,
                      unique: bool = False) -> list[Resource]:
    """All the rules of `sources`, or DataError with every finding: all or nothing."""
    result = load_rules(sources, namespace=namespace, unique=unique)
    if result.findings:
        raise DataError(findings=result.findings)
    return result.resources


def _expand(doc: Document) -> Iterator[_Entry]:
    """A `kind: List` document stands for its items."""
    for path, item in list_items(doc.data):
        yield _Entry(doc, item, path)


def _load_entry(entry: _Entry, context: convert.Context, namespace: str | None,
                fill: str | None, result: LoadResult, authored: bool) -> list[Resource]:
    data = entry.data
    if kuma.is_universal(data):
        return _load_foreign(entry, kuma.convert, context, namespace, fill, result, authored)
    if not isinstance(data, dict):
        result.skipped.append((entry.where, "not a Kubernetes object (not a mapping)"))
        return []
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        _incomplete(entry, api, kind, result)
        return []
    if api == NATIVE_API_VERSION and kind in NATIVE_KINDS:
        return _load_native(entry, data, namespace, fill, result)
    if _group(api) == API_GROUP:
        if api != NATIVE_API_VERSION:
            result.findings.append(entry.finding(
                ("apiVersion",), f"unknown version {api!r}: meshtool rules are {NATIVE_API_VERSION}"))
        else:
            result.findings.append(entry.finding(
                ("kind",), f"unknown kind {kind!r}: {NATIVE_API_VERSION} has "
                           f"{', '.join(NATIVE_KINDS)}"))
        return []
    converter = convert.converter_for(api, kind)
    if converter is not None:
        return _load_foreign(entry, converter, context, namespace, fill, result, authored)
    if _group(api) in convert.FOREIGN_GROUPS:
        result.skipped.append((entry.where, f"{entry.label} ({api}) is not converted: meshtool "
                                            f"has no equivalent"))
    else:
        result.skipped.append((entry.where, f"{entry.label} is not a rule"))
    return []


def _incomplete(entry: _Entry, api: Any, kind: Any, result: LoadResult) -> None:
    """apiVersion or kind missing (or not a string): a finding when the rest says "rule"."""
    ours = (API_GROUP,) + convert.FOREIGN_GROUPS
    if api is None and kind is None:
        result.skipped.append((entry.where, "not a Kubernetes object (no apiVersion, kind)"))
    elif not isinstance(api, str) and isinstance(kind, str) and kind in _RULE_LIKE_KINDS:
        msg = "must be a string" if api is not None else "required field is missing"
        result.findings.append(entry.finding(("apiVersion",), f"{msg} (for meshtool rules: "
                                                              f"{NATIVE_API_VERSION})"))
    elif isinstance(api, str) and _group(api) in ours:
        msg = "must be a string" if kind is not None else "required field is missing"
        result.findings.append(entry.finding(("kind",), msg))
    else:
        result.skipped.append((entry.where, f"{entry.label} is not a rule"))


def _group(api: Any) -> str:
    return api.rpartition("/")[0] if isinstance(api, str) else ""


def _load_native(entry: _Entry, data: dict, namespace: str | None, fill: str | None,
                 result: LoadResult) -> list[Resource]:
    data = without_server_fields(data)  # `kubectl get rr x -o yaml | meshtool replace -f -` works
    problems = check.problems(data)
    problems += _namespace_problems(data, namespace)
    if problems:
        found = [entry.finding(path, msg) for path, msg in problems]
        result.findings.extend(sorted(found, key=lambda f: f.line or 0))
        return []
    resource = Resource.from_manifest(data, namespace=fill, file=entry.doc.source.name,
                                      line=entry.line_of())
    meta = data.get("metadata")
    if isinstance(meta, dict) and meta.get("resourceVersion") is not None:
        # A stale resourceVersion is refused by replace: point at its line, not the document's.
        resource.lines[RESOURCE_VERSION_FIELD] = entry.line_of(("metadata", "resourceVersion"))
    return [resource]


def _load_foreign(entry: _Entry, converter: convert.Converter, context: convert.Context,
                  namespace: str | None, fill: str | None, result: LoadResult,
                  authored: bool = False) -> list[Resource]:
    conversion = converter(entry.data, context)
    for path, message in conversion.warnings:
        result.warnings.append((f"{entry.doc.source.name}:{entry.line_of(path)}",
                                f"{entry.label}: {message}"))
    if not authored:
        conversion.problems.extend(conversion.unresolved)
    findings = [entry.finding(path, msg) for path, msg in conversion.problems]
    resources = []
    for item in conversion.converted if not (authored and conversion.unresolved) else ():
        manifest = item.manifest
        kind = manifest["kind"]
        name = (manifest.get("metadata") or {}).get("name", "?")
        if not isinstance(name, str):
            name = entry.written(("metadata", "name"), name)
        label = f"{kind}/{name}"
        problems = schema.validate(kind, manifest)
        if conversion.problems:
            # The output lacks what could not be converted; of its own problems only fields
            # copied from the input as they were (misspelt ones) are news to the user.
            reported = {path for path, _ in conversion.problems}
            problems = [(p, m) for p, m in problems if m.startswith("unknown field")
                        and item.foreign_path(p) not in reported]
        elif not problems:
            problems = check.problems(manifest)
        problems += _namespace_problems(manifest, namespace)
        suffix = f" (converted from {entry.label})"
        for path, msg in problems:
            if msg.startswith("unknown field"):
                msg = msg.replace("unknown field", "field", 1) + " cannot be converted: " \
                      "meshtool has no such field"
            findings.append(entry.finding(path, msg + suffix, label=label,
                                          line_path=item.foreign_path(path)))
        if not problems and not conversion.problems:
            resources.append(Resource.from_manifest(manifest, namespace=fill,
                                                    file=entry.doc.source.name,
                                                    line=entry.line_of()))
    if findings:
        result.findings.extend(sorted(findings, key=lambda f: f.line or 0))
        return []
    if authored:
        return [_as_authored(entry, fill)]
    for resource in resources:
        result.converted.append((entry.where, f"{entry.label} -> {resource.kind}/{resource.name}"))
    return resources


def _as_authored(entry: _Entry, fill: str | None) -> Resource:
    """A foreign document that converts cleanly, as its author wrote it (Kuma's universal form
    in its Kubernetes shape: the store keeps one shape per kind)."""
    data = entry.data
    if kuma.is_universal(data):
        data = {"apiVersion": kuma.API_VERSION, "kind": "TrafficRoute",
                "metadata": {"name": data.get("name")},
                "spec": {k: v for k, v in data.items() if k not in ("type", "name", "mesh")}}
    return Resource.from_manifest(without_server_fields(data), namespace=fill,
                                  file=entry.doc.source.name, line=entry.line_of())


def _namespace_problems(manifest: dict, namespace: str | None) -> list[tuple[FieldPath, str]]:
    meta = manifest.get("metadata")
    own = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace and isinstance(own, str) and own != namespace:
        return [(("metadata", "namespace"), f"namespace {own!r} does not match the namespace "
                                            f"given with -n ({namespace!r})")]
    return []


__all__ = ["LoadResult", "load_rules", "load_rules_strict", "DEFAULT_NAMESPACE"]
