"""The config store interface: what every backend (local SQLite now, Kubernetes CRDs later) offers.

Objects are keyed by (kind, namespace, name). Every write transaction gets the next global
revision; each object it touches records that revision as its `resource_version` (a string,
as in Kubernetes) and `revision` (the same number). create/replace/delete take many objects
and apply all of them or none.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Iterable

from meshtool.errors import DataError, Finding, MeshtoolError, NotFoundError
from meshtool.model.kinds import slug
from meshtool.model.resource import RESOURCE_VERSION_FIELD, Resource  # noqa: F401 - re-exported

Key = tuple[str, str, str]  # (kind, namespace, name)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass
class StoredResource(Resource):
    """A Resource as read back from a store: also when it was created (epoch seconds).
    `damaged` says why a stored object could not be read back whole (its spec is then empty):
    readers that serve rules leave such an object out and report it."""

    created: float | None = None
    damaged: str | None = None


@dataclass(frozen=True)
class Change:
    """One object changed by the write transaction `revision`. For DELETED, its last state."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: Resource


class RelistRequired(MeshtoolError):
    """A watcher asked for changes the store no longer has (compacted), or from a revision
    the store never reached (the file was replaced). Its only way on: `snapshot()` again
    and watch from the revision that returns."""

    def __init__(self, message: str, *, current: int):
        super().__init__(message)
        self.current = current


def display_key(key: Key) -> str:
    """('RouteRule', 'default', 'x') -> 'route-rule/default/x'."""
    kind, namespace, name = key
    return f"{slug(kind)}/{namespace}/{name}"


def finding_for(resource: Resource | None, key: Key, message: str, *,
                field: str | None = None) -> Finding:
    """A store refusal located where the object was read from, when it was read from a file:
    at the line of `field` when the reader recorded it (a stale metadata.resourceVersion)."""
    text = f"config {display_key(key)} {message}"
    if resource is None:
        return Finding(text)
    line = resource.lines.get(field, resource.line) if field else resource.line
    return Finding(text, file=resource.file, line=line,
                   field=field if field in resource.lines else None)


def check_unique(resources: Iterable[Resource]) -> None:
    """One write may name an object only once: anything else is ambiguous input."""
    seen: dict[Key, Resource] = {}
    findings = []
    for res in resources:
        first = seen.get(res.key)
        if first is not None:
            also = f" (also at {first.where})" if first.where else ""
            findings.append(finding_for(res, res.key, f"appears more than once in the input{also}"))
        else:
            seen[res.key] = res
    if findings:
        raise DataError(findings=findings)


class Store(abc.ABC):
    """The operations the CLI and the control plane use. Errors are MeshtoolErrors:
    NotFoundError, AlreadyExistsError, ConflictError (exit 1), DataError (65)."""

    location: str = ""

    @abc.abstractmethod
    def get(self, kind: str, namespace: str, name: str) -> StoredResource:
        """One object; NotFoundError when it does not exist."""

    @abc.abstractmethod
    def list(self, kind: str | None = None, namespace: str | None = None) -> list[StoredResource]:
        """Objects of a kind (all kinds when None) in a namespace (all when None),
        ordered by kind, namespace, name."""

    @abc.abstractmethod
    def snapshot(self, kind: str | None = None,
                 namespace: str | None = None) -> tuple[int, list[StoredResource]]:
        """`list()` and the revision it reflects, read together: watch from that revision."""

    @abc.abstractmethod
    def create(self, resources: list[Resource]) -> list[StoredResource]:
        """Add new objects in one transaction; AlreadyExistsError (nothing written) when any exists."""

    @abc.abstractmethod
    def replace(self, resources: list[Resource]) -> list[StoredResource]:
        """Overwrite existing objects in one transaction. NotFoundError when any is missing;
        ConflictError when any carries a resource_version that is not its current one.
        A resource without resource_version replaces unconditionally."""

    def apply(self, resources: list[Resource]) -> list[Change]:
        """Create the missing objects and replace the existing ones; one Change per resource
        (type None: unchanged). Backends that can do it in one transaction override this;
        this fallback checks every resource first, then creates, then replaces."""
        check_unique(resources)
        new, old, out = [], [], []
        for res in resources:
            try:
                current = self.get(*res.key)
            except NotFoundError:
                new.append(res)
                continue
            if (current.spec, current.labels, current.annotations) != (res.spec, res.labels,
                                                                      res.annotations):
                old.append(res)
            else:
                out.append(Change(current.revision or 0, None, current))
        out += [Change(r.revision or 0, ADDED, r) for r in self.create(new)]
        out += [Change(r.revision or 0, MODIFIED, r) for r in self.replace(old)]
        return out

    @abc.abstractmethod
    def delete(self, keys: list[Key]) -> list[StoredResource]:
        """Remove objects in one transaction; NotFoundError when any is missing.
        Returns their last states, with the revision of the deletion."""

    @abc.abstractmethod
    def revision(self) -> int:
        """The latest revision: the number of write transactions so far."""

    @abc.abstractmethod
    def watch(self, since: int, timeout: float) -> list[Change]:
        """Changes with revision > `since`, oldest first. Blocks until there is at least one or
        `timeout` seconds pass (then returns []). RelistRequired when `since` is too old."""

    def close(self) -> None:
        """Release the backend's resources."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
