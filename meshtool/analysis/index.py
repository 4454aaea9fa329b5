"""An index of the input, built once, so that every check is a look-up and never a scan of
all pairs: objects by kind, Services by (namespace, name), workloads by (namespace, label,
value), rules by the service they address."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.analysis.items import Item, as_dict, str_map
from meshtool.analysis.workloads import Workload, workload_of
from meshtool.model import native
from meshtool.model.hosts import kube_service
from meshtool.model.kinds import DESTINATION_POLICY, EGRESS_RULE, ROUTE_RULE


@dataclass(frozen=True)
class Destination:
    """The service a rule addresses: in-mesh (service, namespace) or an external host."""

    service: str
    namespace: str | None  # None: an external host name (not a Kubernetes service)

    @property
    def display(self) -> str:
        return f"{self.service}.{self.namespace}" if self.namespace else self.service


def resolve_destination(name: object, namespace: object, rule_namespace: str) -> Destination | None:
    """'benigno', 'benigno.default', 'benigno.default.svc.cluster.local:5000' -> a service;
    other dotted names ('msgd.example.com') are external hosts. None: no usable name."""
    if not isinstance(name, str) or not name.strip():
        return None
    host = name.strip().lower().rstrip(".")
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    service = kube_service(host)  # the model's reading, as the converters and compile use it
    if service is None:
        return Destination(host, None)
    ns = service[1] or (namespace if isinstance(namespace, str) and namespace else rule_namespace)
    return Destination(service[0], ns)


def target_destination(rule: Item, target: dict) -> Destination | None:
    """Where a rule's destination or mirror (its name and namespace) points."""
    return resolve_destination(target.get("name"), target.get("namespace"),
                               rule.namespace or DEFAULT_NAMESPACE)


class Index:
    def __init__(self, items: list[Item]):
        self.items = items
        self.by_kind: dict[str, list[Item]] = defaultdict(list)
        self.services: dict[tuple[str, str], Item] = {}
        self.namespaces: dict[str, Item] = {}
        self.workloads: list[Workload] = []
        self._by_label: dict[tuple[str, str, str], set[int]] = defaultdict(set)
        self._by_namespace: dict[str, set[int]] = defaultdict(set)
        self._service_workloads: dict[tuple[str, str], set[int] | None] = {}
        self.routes_by_destination: dict[Destination, list[Item]] = defaultdict(list)
        self.policies_by_destination: dict[Destination, list[Item]] = defaultdict(list)
        self.destinations: dict[int, Destination | None] = {}  # id(rule) -> its destination
        self._models: dict[int, Any] = {}  # id(rule) -> its model value
        for item in items:
            self._add(item)

    def _add(self, item: Item) -> None:
        self.by_kind[item.kind].append(item)
        if item.kind == "Service" and item.namespace:
            self.services[(item.namespace, item.name)] = item
        elif item.kind == "Namespace":
            self.namespaces[item.name] = item
        elif item.kind in (ROUTE_RULE, DESTINATION_POLICY):
            resolved = target_destination(item, as_dict(item.spec.get("destination")))
            self.destinations[id(item)] = resolved
            if resolved is not None:
                table = self.routes_by_destination if item.kind == ROUTE_RULE else \
                    self.policies_by_destination
                table[resolved].append(item)
        workload = workload_of(item)
        if workload is not None:
            n = len(self.workloads)
            self.workloads.append(workload)
            self._by_namespace[workload.namespace].add(n)
            for key, value in workload.labels.items():
                self._by_label[(workload.namespace, key, value)].add(n)

    # --- look-ups ------------------------------------------------------------------------

    @property
    def egress_rules(self) -> list[Item]:
        return self.by_kind.get(EGRESS_RULE, [])

    @property
    def route_rules(self) -> list[Item]:
        return self.by_kind.get(ROUTE_RULE, [])

    @property
    def policies(self) -> list[Item]:
        return self.by_kind.get(DESTINATION_POLICY, [])

    @cached_property
    def knows_services(self) -> bool:
        """Were Services or workloads given at all? Without them, cross-checks are skipped."""
        return bool(self.services or self.workloads)

    def destination(self, rule: Item) -> Destination | None:
        return self.destinations.get(id(rule))

    def model(self, rule: Item) -> Any:
        """A rule as the model reads it (meshtool.model.native, the parser validate, the control
        plane and the sidecar use): t.Route, t.Egress, t.Policy...; None when the rule is
        broken, which MT0001 reports."""
        key = id(rule)
        if key not in self._models:
            self._models[key] = native.parse(rule.kind, rule.namespace or DEFAULT_NAMESPACE,
                                             rule.name, rule.manifest.get("spec")).value
        return self._models[key]

    def service_destination(self, rule: Item, ref: Any) -> Destination | None:
        """Where a model ServiceRef of `rule` (a split's or a mirror's service) points."""
        return resolve_destination(ref.name, ref.namespace, rule.namespace or DEFAULT_NAMESPACE)

    def select(self, namespace: str, selector: dict[str, str],
               among: set[int] | None = None) -> set[int]:
        """Workloads (indices) in `namespace` whose pod labels carry every pair of `selector`."""
        sets = [self._by_label.get((namespace, k, v), set()) for k, v in selector.items()]
        if among is not None:
            sets.append(among)
        if not sets:
            return set(self._by_namespace.get(namespace, set()))
        sets.sort(key=len)
        out = set(sets[0])
        for s in sets[1:]:
            if not out:
                break
            out &= s
        return out

    def service_workloads(self, namespace: str, name: str) -> set[int] | None:
        """Workloads behind a Service; None when unknown (no such Service, or no selector)."""
        key = (namespace, name)
        if key not in self._service_workloads:
            svc = self.services.get(key)
            selector = str_map(svc.spec.get("selector")) if svc is not None else {}
            self._service_workloads[key] = self.select(namespace, selector) if selector else None
        return self._service_workloads[key]

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """The labels of a Namespace object in the input; None when it is not in the input."""
        ns = self.namespaces.get(namespace)
        return None if ns is None else ns.labels

    def workload(self, n: int) -> Workload:
        return self.workloads[n]
