"""Workloads: the pod template of Pods, Deployments and the other controllers, and what
the sidecar injector knows about a pod (is it injected, did it opt out).

The names come from meshtool.conventions, which the injector writes with, so the two never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshtool.analysis.items import Item, as_dict, as_list, str_map
from meshtool.conventions import INJECT_KEY, PROXY_CONTAINER, PROXY_UID, STATUS_KEY, TEMPLATE_PATHS


@dataclass(eq=False)
class Workload:
    """An Item that runs pods, with its pod template read once."""

    item: Item
    template_path: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)  # pod labels
    annotations: dict[str, str] = field(default_factory=dict)  # pod annotations
    pod_spec: dict = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.item.namespace or ""

    @property
    def is_pod(self) -> bool:
        return self.item.kind == "Pod"

    @property
    def controlled(self) -> bool:
        """A Pod made by a controller (read from a cluster): its controller is checked instead."""
        meta = as_dict(self.item.manifest.get("metadata"))
        return self.is_pod and any(as_dict(o).get("controller") for o in
                                   as_list(meta.get("ownerReferences")))

    def containers(self, *, init: bool = False) -> list[tuple[int, dict]]:
        key = "initContainers" if init else "containers"
        return [(i, c) for i, c in enumerate(as_list(self.pod_spec.get(key))) if isinstance(c, dict)]

    def container_names(self) -> set[str]:
        return {str(c.get("name")) for _, c in self.containers() + self.containers(init=True)}

    @property
    def injected(self) -> bool:
        return STATUS_KEY in self.annotations or PROXY_CONTAINER in self.container_names()

    @property
    def opted_out(self) -> bool:
        """sidecar.meshtool.io/inject: "false" as an annotation or label, on the pod or the object."""
        for source in (self.annotations, self.labels, self.item.annotations, self.item.labels):
            if source.get(INJECT_KEY, "").lower() == "false":
                return True
        return False

    def path(self, *rest: str | int) -> tuple[str | int, ...]:
        return self.template_path + rest


def workload_of(item: Item) -> Workload | None:
    path = TEMPLATE_PATHS.get(item.kind)
    if path is None:
        return None
    node = item.manifest
    for part in path:
        node = as_dict(node.get(part))
    meta = as_dict(node.get("metadata"))
    return Workload(item, path, str_map(meta.get("labels")), str_map(meta.get("annotations")),
                    as_dict(node.get("spec")))
