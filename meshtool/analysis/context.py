"""The context an analyzer runs in: the index to look things up, and `report` to say what
it found. `report` fills the message template, applies suppressions and looks up the line
of the field, only for messages that are kept."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Iterable

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.index import Index
from meshtool.analysis.items import Item
from meshtool.analysis.messages import MESSAGES, Level, MessageType
from meshtool.analysis.suppress import Suppression, annotation_patterns
from meshtool.analysis.workloads import workload_of
from meshtool.errors import Finding
from meshtool.rules.yamlio import format_path


@dataclass(frozen=True)
class Diagnostic:
    """One message: what (code, level, text), about what (resource), where (file:line, field)."""

    type: MessageType
    text: str
    analyzer: str
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    file: str | None = None
    line: int | None = None
    field: str | None = None
    origin: str | None = None

    @property
    def code(self) -> str:
        return self.type.code

    @property
    def level(self) -> Level:
        return self.type.level

    @property
    def resource(self) -> str | None:
        """'RouteRule reviews-canary.default'."""
        if not self.kind:
            return None
        if not self.name:
            return self.kind
        return f"{self.kind} {self.name}.{self.namespace}" if self.namespace else \
            f"{self.kind} {self.name}"

    @property
    def where(self) -> str | None:
        if not self.file:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        """'Error [MT0101] (RouteRule x.default route.yaml:12) subset ...'."""
        about = " ".join(p for p in (self.resource, self.where) if p)
        about = f" ({about})" if about else ""
        return f"{self.level.title} [{self.code}]{about} {self.text}"

    def sort_key(self) -> tuple:
        return (self.file or "\uffff", self.line or 0, self.code, self.resource or "", self.text)

    def to_dict(self) -> dict:
        out = {"code": self.code, "level": self.level.title, "name": self.type.name,
               "message": self.text, "analyzer": self.analyzer}
        if self.kind:
            out["resource"] = {k: v for k, v in (("kind", self.kind), ("name", self.name),
                                                 ("namespace", self.namespace)) if v}
        for key in ("file", "line", "field", "origin"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Context:
    def __init__(self, index: Index, suppressions: Iterable[Suppression] = (),
                 load_findings: Iterable[Finding] = ()):
        self.index = index
        self.load_findings = list(load_findings)  # the loader's: rules that did not load
        self.suppressions = list(suppressions)
        self.messages: list[Diagnostic] = []
        self.suppressed = 0
        self.analyzer: Analyzer | None = None

    def _type(self, code: str) -> MessageType:
        # An analyzer reporting a code it did not declare is a bug in meshtool.
        if self.analyzer is None or code not in self.analyzer.codes:
            raise AssertionError(f"analyzer {getattr(self.analyzer, 'name', None)} reported "
                                 f"undeclared code {code}")
        return MESSAGES[code]

    def _suppressed(self, code: str, kind: str | None, name: str | None,
                    namespace: str | None, item: Item | None) -> bool:
        if any(s.matches(code, kind, name, namespace) for s in self.suppressions):
            return True
        if item is None:
            return False
        patterns = annotation_patterns(item.annotations)
        workload = workload_of(item)
        if workload is not None:
            patterns += annotation_patterns(workload.annotations)
        return any(fnmatchcase(code, p) for p in patterns)

    def report(self, code: str, item: Item, path: Iterable[str | int] = (), **args) -> None:
        """A message about `item`, located at the field `path` (a tuple like
        ("spec", "route", 0, "labels")), its template filled from `args`."""
        mtype = self._type(code)
        if self._suppressed(code, item.kind, item.name, item.namespace, item):
            self.suppressed += 1
            return
        path = tuple(path)
        self.messages.append(Diagnostic(
            mtype, mtype.render(args), self.analyzer.name, item.kind, item.name, item.namespace,
            item.file, item.locate(path) if path else item.line,
            format_path(path) if path else None, item.origin))

    def report_at(self, code: str, *, kind: str | None = None, name: str | None = None,
                  namespace: str | None = None, file: str | None = None,
                  line: int | None = None, field: str | None = None, **args) -> None:
        """A message about something that is not an Item (e.g. a rule that failed to load)."""
        mtype = self._type(code)
        if self._suppressed(code, kind, name, namespace, None):
            self.suppressed += 1
            return
        self.messages.append(Diagnostic(mtype, mtype.render(args), self.analyzer.name, kind,
                                        name, namespace, file, line, field))
