"""The cluster's workloads as the snapshot sees them (Kubernetes mode): Services select Pods.

Pure and synchronous: the watch threads (meshtool.controlplane.kubewatch) turn API objects into the
small records below and the event loop applies them here. A Service with a selector becomes a
snapshot service; its endpoints are the Ready Pods of its namespace whose labels contain the
selector, at `podIP:targetPort` of the Service's first port, labelled with the Pod's labels (so
`route[].labels: {version: v2}` selects them). Its cluster IPs become the service's `addresses`.
Services without a selector (their endpoints are written by hand, e.g. `kubernetes`) are left out.
An endpoint whose Pod runs on a Node with zone/region labels (topology.kubernetes.io/zone,
/region) carries them too: the sidecar's locality-aware balancing prefers its own zone.
When the control plane runs a CA, the endpoint of a Pod that runs the sidecar carries the SPIFFE
ID of the Pod's service account (the identity its certificate names after the TokenReview), so
callers originate mTLS to it and verify exactly that peer; a Pod without a sidecar gets none
and is called in plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE, PROXY_CONTAINER, REGION_LABEL, ZONE_LABEL
from meshtool.discovery import snapshot as document
from meshtool.security.spiffe import workload_id

PODS = "pods"
SERVICES = "services"
NODES = "nodes"  # optional: only their locality labels matter
LOCALITY_LABELS = (REGION_LABEL, ZONE_LABEL)

ObjectKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    ready: bool = False
    named_ports: dict[str, int] = field(default_factory=dict)  # containerPort by its name
    node: str | None = None
    # the service account its sidecar's certificate names; None: it runs no sidecar (so
    # callers speak plaintext to it)
    mesh_account: str | None = None

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    locality: dict[str, str] = field(default_factory=dict)  # the region/zone labels it has

    @property
    def key(self) -> ObjectKey:
        return ("", self.name)


@dataclass(frozen=True)
class ServicePort:
    port: int
    target: int | str  # a number, or the name of a container port
    protocol: str | None = None  # from appProtocol or the port name (grpc, http2, tcp, ...)


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    selector: dict[str, str] = field(default_factory=dict)
    ports: tuple[ServicePort, ...] = ()
    addresses: tuple[str, ...] = ()

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)


def _meta(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or DEFAULT_NAMESPACE, meta["name"]


def pod_info(obj: dict[str, Any]) -> PodInfo:
    """A Pod (as the API server's JSON) -> what endpoints need of it."""
    namespace, name = _meta(obj)
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ready = (not meta.get("deletionTimestamp")  # terminating pods leave the endpoints at once
             and status.get("phase") not in ("Succeeded", "Failed")
             and any(c.get("type") == "Ready" and c.get("status") == "True"
                     for c in status.get("conditions") or ()))
    named = {}
    for container in spec.get("containers") or ():
        for p in container.get("ports") or ():
            if p.get("name") and isinstance(p.get("containerPort"), int):
                named.setdefault(p["name"], p["containerPort"])
    containers = [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]
    meshed = any(c.get("name") == PROXY_CONTAINER for c in containers if isinstance(c, dict))
    account = (spec.get("serviceAccountName") or spec.get("serviceAccount") or "default") \
        if meshed else None
    return PodInfo(namespace, name, dict(meta.get("labels") or {}), status.get("podIP") or None,
                   bool(ready), named, spec.get("nodeName") or None, account)


def node_info(obj: dict[str, Any]) -> NodeInfo:
    """A Node -> its name and locality labels (the rest of a Node changes all the time)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return NodeInfo(meta["name"], {k: labels[k] for k in LOCALITY_LABELS if labels.get(k)})


def service_info(obj: dict[str, Any]) -> ServiceInfo:
    """A Service (as the API server's JSON) -> its selector, ports and virtual addresses."""
    namespace, name = _meta(obj)
    spec = obj.get("spec") or {}
    ports = []
    for p in spec.get("ports") or ():
        if isinstance(p.get("port"), int):
            target = p.get("targetPort")
            ports.append(ServicePort(p["port"], p["port"] if target in (None, "", 0) else target,
                                     document.port_protocol(p.get("name"), p.get("appProtocol"))))
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    addresses = tuple(ip for ip in ips if ip and ip != "None")
    return ServiceInfo(namespace, name, dict(spec.get("selector") or {}), tuple(ports), addresses)


def target_port(pod: PodInfo, port: ServicePort) -> int | None:
    if isinstance(port.target, int):
        return port.target
    if isinstance(port.target, str) and port.target.isdigit():
        return int(port.target)
    return pod.named_ports.get(port.target)  # a pod without that named port is not an endpoint


class ClusterView:
    """Services and Pods by (namespace, name); `services()` is the snapshot's `services`.

    Endpoints are recomputed only for the namespaces that changed since the last call: a Pod
    becoming ready in a large cluster costs its namespace, not the whole cluster."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[ObjectKey, Any]] = {PODS: {}, SERVICES: {}, NODES: {}}
        # set when the control plane runs a CA: endpoints of meshed pods carry their SPIFFE ID
        self.trust_domain: str | None = None
        self.listed: set[str] = set()  # kinds listed at least once
        self._by_namespace: dict[str, list[dict]] = {}  # the services() entries, per namespace
        self._stale: set[str] | None = None  # namespaces to recompute; None: all of them

    @property
    def ready(self) -> bool:
        return {PODS, SERVICES} <= self.listed  # nodes are optional (locality only)

    def replace(self, kind: str, items: list) -> bool:
        """A fresh list of `kind` (after start or a 410 relist). True when anything changed."""
        new = {i.key: i for i in items}
        first = kind not in self.listed
        self.listed.add(kind)
        changed = new != self.objects[kind]
        self.objects[kind] = new
        if changed:
            self._stale = None
        return changed or (first and kind != NODES)

    def upsert(self, kind: str, item) -> bool:
        objects = self.objects[kind]
        if objects.get(item.key) == item:
            return False  # e.g. a status update that changes nothing endpoints depend on
        objects[item.key] = item
        self._touch(item.key[0], kind)
        return True

    def delete(self, kind: str, key: ObjectKey) -> bool:
        if self.objects[kind].pop(key, None) is None:
            return False
        self._touch(key[0], kind)
        return True

    def _touch(self, namespace: str, kind: str) -> None:
        if kind == NODES:  # a node's pods may be in any namespace
            self._stale = None
        elif self._stale is not None:
            self._stale.add(namespace)

    def services(self) -> list[dict]:
        """One entry per Service with a selector, sorted, endpoints sorted: the same cluster
        state always gives the same snapshot."""
        stale = self._stale
        if stale is None:
            self._by_namespace.clear()
            stale = {ns for ns, _ in self.objects[SERVICES]}
        if stale:
            services: dict[str, list[ServiceInfo]] = {}
            for (ns, _), svc in self.objects[SERVICES].items():
                if ns in stale and svc.selector:
                    services.setdefault(ns, []).append(svc)
            pods: dict[str, list[PodInfo]] = {}
            for (ns, _), pod in self.objects[PODS].items():
                if ns in services and pod.ready and pod.ip:
                    pods.setdefault(ns, []).append(pod)
            for ns in stale:
                self._by_namespace.pop(ns, None)
            nodes = self.objects[NODES]
            for ns, found in services.items():
                self._by_namespace[ns] = [_entry(svc, pods.get(ns, ()), nodes,
                                                 self.trust_domain)
                                          for svc in sorted(found, key=lambda s: s.name)]
        self._stale = set()
        return [entry for ns in sorted(self._by_namespace) for entry in self._by_namespace[ns]]


def _entry(svc: ServiceInfo, pods, nodes: dict[ObjectKey, NodeInfo] | None = None,
           trust_domain: str | None = None) -> dict:
    """The snapshot service of `svc`, given the Ready pods (with an IP) of its namespace and
    the nodes (for the endpoints' locality labels). With a trust domain, the endpoint of a pod
    that runs the sidecar carries the SPIFFE ID of its service account, which callers verify."""
    selector = svc.selector.items()
    endpoints = []
    if svc.ports:
        for pod in pods:
            if selector <= pod.labels.items():
                port = target_port(pod, svc.ports[0])
                if port:
                    node = (nodes or {}).get(("", pod.node or ""))
                    labels = {**pod.labels, **node.locality} if node else dict(pod.labels)
                    ep = {"address": pod.ip, "port": port, "labels": labels}
                    if trust_domain and pod.mesh_account:
                        ep["identity"] = str(workload_id(pod.namespace, pod.mesh_account,
                                                         trust_domain))
                    endpoints.append(ep)
    endpoints.sort(key=lambda e: (e["address"], e["port"]))
    entry = {"name": svc.name, "namespace": svc.namespace,
             "ports": _ports(svc.ports), "endpoints": endpoints}
    if svc.addresses:
        entry["addresses"] = list(svc.addresses)
    return entry


def _ports(ports: tuple[ServicePort, ...]) -> list:
    """The snapshot's `ports`: each service port once, with its protocol when it declares one."""
    protocols: dict[int, str | None] = {}
    for p in ports:
        protocols[p.port] = protocols.get(p.port) or p.protocol
    return [document.port_entry(port, protocols[port]) for port in sorted(protocols)]


WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "ReplicaSet", "DaemonSet",
                  "ReplicationController", "Job")


def planned_pods(obj: dict[str, Any]) -> list[PodInfo]:
    """The Pods a workload manifest asks for, as if they were running and Ready: for answers
    given offline from files (`simulate -f`). No Pod IP exists yet, so each is addressed by a
    placeholder name: the workload's name and the replica's index (benigno-v1-0)."""
    kind = obj.get("kind")
    if kind not in WORKLOAD_KINDS or not isinstance(obj.get("metadata"), dict) \
            or not obj["metadata"].get("name"):
        return []
    namespace, name = _meta(obj)
    spec = obj.get("spec") or {}
    if kind == "Pod":
        template, replicas = obj, 1
    else:
        template = spec.get("template") or {}
        replicas = spec.get("replicas", 1) if kind not in ("DaemonSet", "Job") else 1
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            replicas = 1
    meta = template.get("metadata") or {}
    pods = []
    for i in range(min(replicas, 100)):  # a placeholder per replica; enough to show an order
        pod = {"metadata": {"name": f"{name}-{i}", "namespace": namespace,
                            "labels": meta.get("labels") or {}},
               "spec": template.get("spec") or {},
               "status": {"podIP": f"{name}-{i}", "conditions": [{"type": "Ready",
                                                                  "status": "True"}]}}
        pods.append(pod_info(pod))
    return pods


def offline_services(manifests: list[dict[str, Any]]) -> list[dict]:
    """The snapshot's `services` from Service and workload manifests (nothing running)."""
    view = ClusterView()
    view.replace(SERVICES, [service_info(m) for m in manifests if m.get("kind") == "Service"
                            and isinstance(m.get("metadata"), dict) and m["metadata"].get("name")])
    view.replace(PODS, [pod for m in manifests for pod in planned_pods(m)])
    return view.services()
