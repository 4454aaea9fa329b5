"""One pipeline for inject and uninject: stream documents, expand Lists, transform, report.

Pure: text in, text and reports out; no files, no CLI. Documents that are not changed come
back byte for byte. A document is changed in two passes: first everything a status
annotation lists is stripped (so re-injection upgrades an old injection and is
idempotent), then, for inject, the workload is injected again.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, NamedTuple

import yaml

from meshtool.errors import DataError, Finding
from meshtool.inject import injector
from meshtool.inject.config import InjectConfig
from meshtool.inject.datadoc import DataDoc
from meshtool.inject.decide import InvalidValue
from meshtool.inject.injector import PodTemplateRef, Report
from meshtool.inject.textdoc import TextDoc, Unsupported, compose, construct, detect_style
from meshtool.rules.sources import Source
from meshtool.rules.yamlio import format_path, split_documents

INJECT, UNINJECT = "inject", "uninject"


class BadInput(Exception):
    """Input the injector refuses; `line` is 0-based within the document's text."""

    def __init__(self, message: str, line: int, path: tuple = ()):
        super().__init__(message)
        self.line = line
        self.path = path


class Located(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    """A report line with where its object starts."""

    report: Report
    file: str
    line: int


# --- one document --------------------------------------------------------------------

# A manifest has hundreds or a few thousand nodes; YAML aliases may multiply them (a "billion
# laughs" bomb reaches billions from a few hundred bytes). Beyond this, a document is refused.
MAX_EXPANDED_NODES = 200_000


def transform_text(text: str, mode: str, config: InjectConfig, *, is_json: bool = False
                   ) -> tuple[str, list[Report]]:
    """Inject into (or uninject from) one document's text."""
    root, data = _parse(text, is_json)
    if root is None and data is None:
        return text, []
    if not isinstance(data, dict):
        raise BadInput("document is not a mapping (expected a Kubernetes object)",
                       root.start_mark.line if root is not None else 0)
    if root is not None and not is_json and _has_aliases(root):
        return _transform_aliased(text, root, data, mode, config)
    if root is not None:
        try:
            return _run(TextDoc(text, root), data, mode, config, _text_reload, _text_finish)
        except Unsupported:
            pass  # an unusual shape: rewrite the document as data instead
    return _run_data(text, data, mode, config, is_json, root)


ALIAS_REFUSAL = ("YAML aliases (*name) repeat a part of this document that {mode} changes; "
                 "expand them first (e.g. `yq 'explode(.)'`)")


def _transform_aliased(text: str, root, data: dict, mode: str, config: InjectConfig
                       ) -> tuple[str, list[Report]]:
    """An alias repeats a node written elsewhere, so an edit made where one use is written can
    land at the anchor, or change every use at once. Keep the exact text edit only when it
    means what the rewrite of the data means and parses; else refuse: never write YAML that
    does not parse or does not mean what the report says."""
    refusal = BadInput(ALIAS_REFUSAL.format(mode=f"meshtool {'kube-inject' if mode == INJECT else mode}"),
                       root.start_mark.line)
    try:
        exact = _run(TextDoc(text, root), _unshared(data), mode, config, _text_reload,
                     _text_finish)
        # what the injector does to the document with every alias expanded: the meaning
        rewritten = _run(DataDoc(_unshared(data)), _unshared(data), mode, config,
                         _data_reload, lambda d: d.data)
    except BadInput:
        raise
    except Exception:  # noqa: BLE001 - an edit that cannot apply to shared nodes
        raise refusal from None
    try:
        same = _meaning(yaml.safe_load(exact[0])) == _meaning(rewritten[0])
    except yaml.YAMLError:
        same = False
    if not same:
        raise refusal
    return exact


def _meaning(obj: Any) -> Any:
    """The object without the status annotation, whose record of the original probe text
    differs, by design, between an exact edit (the text as written) and a rewrite (JSON)."""
    from meshtool.conventions import STATUS_KEY

    obj = _unshared(obj)
    for meta in (obj.get("metadata"), ((obj.get("spec") or {}).get("template") or {}).get("metadata")):
        if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
            meta["annotations"].pop(STATUS_KEY, None)
    return obj


def _unshared(value: Any) -> Any:
    """A copy in which no dict or list appears twice (copy.deepcopy keeps aliases shared)."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def _has_aliases(root) -> bool:
    """Does any node appear twice in the tree (YAML's `*alias` is the same node again)?"""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item if isinstance(item, tuple) else (item,))
    return False


def _expanded_size(root) -> int:
    """How many nodes the tree has once every alias is expanded, counted without expanding
    (each distinct node once, bottom-up; iterative: deep input must not exhaust the stack)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle (`&a [*a]`)
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = []
        if isinstance(node.value, list):
            for item in node.value:
                children.extend(item if isinstance(item, tuple) else (item,))
        if done:
            open_nodes.discard(id(node))
            size[id(node)] = min(1 + sum(size[id(c)] for c in children), MAX_EXPANDED_NODES + 1)
            continue
        if id(node) in open_nodes:
            return MAX_EXPANDED_NODES + 1  # a recursive alias expands without end
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]




def transform_object(obj: dict, mode: str, config: InjectConfig) -> tuple[dict, list[Report]]:
    """The same transformation on an object (for callers that hold data, e.g. the webhook)."""
    return _run(DataDoc(copy.deepcopy(obj)), copy.deepcopy(obj), mode, config, _data_reload,
                lambda d: d.data)


def _parse(text: str, is_json: bool) -> tuple[Any, Any]:
    if is_json:
        if not text.strip():
            return None, None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg}", exc.lineno - 1) from None
        except RecursionError:
            raise BadInput("nested too deeply", 0) from None
        try:
            root = compose(text)
        except yaml.YAMLError:
            root = None  # valid JSON that YAML 1.1 reads differently: edited as data
        return root, data
    try:
        root = compose(text)
        if root is not None and _expanded_size(root) > MAX_EXPANDED_NODES:
            raise BadInput(f"YAML aliases expand this document to more than "
                           f"{MAX_EXPANDED_NODES:,} nodes: refused (an alias bomb?)",
                           root.start_mark.line)
        data = construct(root) if root is not None else None
    except RecursionError:
        raise BadInput("nested too deeply (or a YAML alias that contains itself)", 0) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. !!timestamp 2020-02-30
        raise BadInput(f"invalid YAML value: {exc}", 0) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise BadInput(f"invalid YAML: {exc.problem or exc.context or 'cannot parse'}",
                       mark.line if mark else 0) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {exc}", 0) from None
    return root, data


def _run(doc, data: dict, mode: str, config: InjectConfig, reload: Callable, finish: Callable):
    workloads, others = _workloads(doc, data)
    for w in workloads:  # every refusal is raised before anything changes, with the input's lines
        _check(doc, w, config)
    stripped = [w for w in workloads if w.status_text is not None]
    for w in stripped:
        _at(doc, injector.strip, doc, w)
    reports = [Report(str(o.get("kind", "")) if isinstance(o, dict) else "", injector.object_name(o),
                      "skipped", "not-workload", path=base) for base, o in others]
    if mode == UNINJECT:
        done = {id(w) for w in stripped}
        reports += [Report(w.kind, w.name, "uninjected" if id(w) in done else "skipped",
                           None if id(w) in done else "not-injected", path=w.base) for w in workloads]
        return finish(doc), _ordered(reports)
    if stripped:
        doc, data = reload(doc)
        workloads, _ = _workloads(doc, data)
    for w in workloads:
        skip = injector.decide(w)
        if skip:
            reports.append(Report(w.kind, w.name, "skipped", skip[0], skip[1], path=w.base))
            continue
        _at(doc, injector.inject, doc, w, config)
        warning = injector.legacy_warning(w)
        reports.append(Report(w.kind, w.name, "injected", warnings=[warning] if warning else [],
                              path=w.base))
    return finish(doc), _ordered(reports)


def _ordered(reports: list[Report]) -> list[Report]:
    return sorted(reports, key=lambda r: r.path)


def _workloads(doc, data: dict) -> tuple[list[PodTemplateRef], list]:
    workloads, others = [], []
    for base, obj in injector.objects(data):
        w = _at(doc, injector.workload, base, obj)
        if w is None:
            others.append((base, obj))
        else:
            workloads.append(w)
    return workloads, others


def _check(doc, w: PodTemplateRef, config: InjectConfig) -> None:
    _at(doc, injector.decide, w)
    _at(doc, injector.redirect, w, config)


def _at(doc, fn, *args):
    """Call fn, turning InvalidValue into BadInput at the line of its path."""
    try:
        return fn(*args)
    except InvalidValue as exc:
        raise BadInput(str(exc), doc.line(exc.path), exc.path) from None


def _text_reload(doc: TextDoc):
    text = doc.result()
    root = compose(text)
    return TextDoc(text, root), construct(root)


def _text_finish(doc: TextDoc) -> str:
    return doc.result()


def _data_reload(doc: DataDoc):
    return doc, _plain(doc.data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _run_data(text: str, data: dict, mode: str, config: InjectConfig, is_json: bool, root):
    """Rewrite a document as data: JSON re-dumped in its indent, YAML through ruamel."""
    from meshtool.rules import yamlio

    style = detect_style(text, root)
    trailing = "\n" if text.endswith("\n") else ""
    if is_json:
        def finish(doc: DataDoc) -> str:
            sep = (",", ":") if style.json_compact else (",", ": ")
            return json.dumps(doc.data, indent=style.json_step, separators=sep) + trailing
        return _run(DataDoc(copy.deepcopy(data)), data, mode, config, _data_reload, finish)

    tree = yamlio.roundtrip_load(text)

    def finish_yaml(doc: DataDoc) -> str:
        y = yamlio.roundtrip_yaml(mapping=style.mapping, sequence=style.sequence + style.gap,
                                  offset=style.sequence, explicit_start=text.lstrip().startswith("---"))
        return yamlio.roundtrip_dump(doc.data, yaml=y)

    return _run(DataDoc(tree), data, mode, config, _data_reload, finish_yaml)


# --- a whole source ------------------------------------------------------------------

def transform_source(source: Source, mode: str, config: InjectConfig) -> tuple[str, list[Located]]:
    """Every document of a source; DataError (exit 65) naming file:line for bad input."""
    from meshtool.rules.yamlio import RawDocument

    docs = [RawDocument(source.text, 1, 0)] if source.is_json else split_documents(source.text)
    out: list[str] = []
    located: list[Located] = []
    for raw in docs:
        if not source.is_json and raw.is_blank:
            out.append(raw.text)
            continue
        try:
            text, reports = transform_text(raw.text, mode, config, is_json=source.is_json)
        except BadInput as exc:
            raise DataError(findings=[Finding(str(exc), source.name, raw.start_line + exc.line,
                                              format_path(exc.path) or None)]) from None
        except RecursionError:  # absurd nesting met past the parser (the rewrite, the copy)
            raise DataError(findings=[Finding("nested too deeply", source.name,
                                              raw.start_line)]) from None
        out.append(text)
        located.extend(Located(r, source.name, raw.body_line) for r in reports)
    return "".join(out), located
