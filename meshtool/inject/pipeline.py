"""One pipeline for inject and uninject: stream documents, expand Lists, transform, report.

Pure: text in, text and reports out; no files, no CLI. Documents that are not changed come
back byte for byte. A document is changed in two passes: first everything a status
annotation lists is stripped (so re-injection upgrades an old injection and is
idempotent), then, for inject, the workload is injected again.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from meshtool.errors import DataError, Finding
from meshtool.inject import injector
from meshtool.inject.config import InjectConfig
from meshtool.inject.datadoc import DataDoc
from meshtool.inject.decide import InvalidValue
from meshtool.inject.injector import Report, Workload
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


@dataclass
class Located:
    """A report line with where its object starts."""

    report: Report
    file: str
    line: int


# --- one document --------------------------------------------------------------------

def transform_text(text: str, mode: str, config: InjectConfig, *, is_json: bool = False
                   ) -> tuple[str, list[Report]]:
    """Inject into (or uninject from) one document's text."""
    root, data = _parse(text, is_json)
    if root is None and data is None:
        return text, []
    if not isinstance(data, dict):
        raise BadInput("document is not a mapping (expected a Kubernetes object)",
                       root.start_mark.line if root is not None else 0)
    if root is not None:
        try:
            return _run(TextDoc(text, root), data, mode, config, _text_reload, _text_finish)
        except Unsupported:
            pass  # an unusual shape: rewrite the document as data instead
    return _run_data(text, data, mode, config, is_json, root)


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
        try:
            root = compose(text)
        except yaml.YAMLError:
            root = None  # valid JSON that YAML 1.1 reads differently: edited as data
        return root, data
    try:
        root = compose(text)
        data = construct(root) if root is not None else None
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


def _workloads(doc, data: dict) -> tuple[list[Workload], list]:
    workloads, others = [], []
    for base, obj in injector.objects(data):
        w = _at(doc, injector.workload, base, obj)
        if w is None:
            others.append((base, obj))
        else:
            workloads.append(w)
    return workloads, others


def _check(doc, w: Workload, config: InjectConfig) -> None:
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
        out.append(text)
        located.extend(Located(r, source.name, raw.body_line) for r in reports)
    return "".join(out), located
