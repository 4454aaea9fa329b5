"""Isolation of invalid resources: one bad object never poisons the mesh.

The store can hold objects `validate` would refuse: written straight to the API server (the CRD
schema cannot say "weights sum to 100"), a local row edited by hand or damaged. Sent to the
sidecars, one of them would make every sidecar NACK every snapshot. So, as istiod does, the
control plane checks every stored object with the same checker as `validate`
(meshtool.rules.check) before compiling, leaves the invalid ones out of every snapshot, and
reports each one: a log line, the sync table (`proxy-status`, /debug/syncz), a metric, and a
reporter hook (Kubernetes: a status condition and an Event). Every other object keeps flowing.

A verdict is kept per (key, resourceVersion): a change re-checks only the objects it touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from meshtool.model.resource import Resource
from meshtool.rules.check import describe, resource_problems
from meshtool.store.base import Key, display_key

log = logging.getLogger("meshtool.controlplane")

Checker = Callable[[Resource], list[str]]


@dataclass(frozen=True)
class Rejected:
    """An object left out of the snapshots, and why (one line per problem)."""

    kind: str
    namespace: str
    name: str
    resource_version: str | None
    problems: tuple[str, ...]

    @property
    def key(self) -> Key:
        return (self.kind, self.namespace, self.name)

    @property
    def message(self) -> str:
        return "; ".join(self.problems)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name,
                "resourceVersion": self.resource_version, "problems": list(self.problems)}


class Reporter(Protocol):
    """Told when an object becomes invalid (or invalid for another reason) and when it is valid
    again or gone; must not block (the Kubernetes one hands the writes to a thread)."""

    def rejected(self, item: Rejected) -> None: ...

    def cleared(self, key: Key, resource: Resource | None) -> None: ...


def check_resource(resource: Resource) -> list[str]:
    """The default checker: a damaged stored object, else `validate`'s checks."""
    damaged = getattr(resource, "damaged", None)
    if damaged:
        return [damaged]
    return [describe(path, message) for path, message in resource_problems(resource)]


class Isolation:
    def __init__(self, check: Checker = check_resource, reporter: Reporter | None = None):
        self._check = check
        self.reporter = reporter
        self.invalid: dict[Key, Rejected] = {}
        self.rejections = 0  # objects (or versions of them) found invalid: the metric's counter
        self._verdicts: dict[Key, tuple[str, tuple[str, ...]]] = {}  # key -> (rv, problems)

    def split(self, rules: Iterable[Resource]) -> dict[Key, Resource]:
        """The valid objects among `rules`; the invalid ones are recorded in `self.invalid`
        and reported when they are news (a new object, or new problems)."""
        valid: dict[Key, Resource] = {}
        invalid: dict[Key, Rejected] = {}
        verdicts: dict[Key, tuple[str, tuple[str, ...]]] = {}
        for res in rules:
            key = res.key
            known = self._verdicts.get(key)
            if known is not None and res.resource_version is not None \
                    and known[0] == res.resource_version:
                problems = known[1]
            else:
                problems = tuple(self._check(res))
            if res.resource_version is not None:
                verdicts[key] = (res.resource_version, problems)
            if not problems:
                valid[key] = res
                continue
            item = Rejected(res.kind, res.namespace, res.name, res.resource_version, problems)
            invalid[key] = item
            before = self.invalid.get(key)
            if before is None or before.problems != problems:
                self.rejections += 1
                log.warning("%s is invalid and left out of every snapshot: %s",
                            display_key(key), item.message)
                if self.reporter is not None:
                    self.reporter.rejected(item)
        for key in self.invalid.keys() - invalid.keys():
            current = valid.get(key)
            log.info("%s %s", display_key(key),
                     "is valid again" if current is not None else "is gone")
            if self.reporter is not None:
                self.reporter.cleared(key, current)
        self.invalid, self._verdicts = invalid, verdicts
        return valid

    def listing(self) -> list[dict]:
        return [self.invalid[k].to_dict() for k in sorted(self.invalid)]
