"""The snapshot document (docs/snapshot.md): its one owner. The control plane encodes it here,
the sidecar parses it here; the top-level fields, the service entries and the version scheme
are defined nowhere else.

    {"version": "<store revision>.<content hash>", "nonce": "...",
     "services": [{"name", "namespace", "ports": [N | {port, protocol}], "addresses",
                   "endpoints": [{address, port, labels, identity (SPIFFE ID, mesh CA on)}]}],
     "rules": [native manifests, compiled from every API by the control plane],
     "complete": false (only while the control plane is warming)}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from meshtool.conventions import DEFAULT_NAMESPACE

FIELDS = ("version", "nonce", "services", "rules", "complete")


@dataclass(frozen=True, eq=False)
class Endpoint:
    address: str
    port: int
    labels: dict[str, str]
    key: str  # "address:port"
    identity: str | None = None  # the SPIFFE ID its sidecar's certificate names (mesh CA on)


@dataclass(frozen=True, eq=False)
class ServiceEntry:
    name: str
    namespace: str
    endpoints: tuple[Endpoint, ...]
    ports: tuple[int, ...]
    addresses: tuple[str, ...] = field(default=())  # virtual (cluster) IPs
    protocols: dict[int, str] = field(default_factory=dict)  # service port -> its protocol

    def protocol(self, port: int) -> str | None:
        return protocol_for(self.protocols, self.ports, port)


def protocol_for(protocols: dict[int, str], ports, port: int) -> str | None:
    """The protocol of the service port a caller addressed; with one port, that port's."""
    found = protocols.get(port)
    if found is None and len(ports) == 1:
        found = protocols.get(ports[0])
    return found


# Port protocols, named as Istio and Kubernetes name them: a Service port's `appProtocol`, else
# the prefix of its name before the first "-" (`grpc`, `http2-api`, `tcp-db`).
PROTOCOLS = ("grpc", "grpc-web", "http", "http2", "https", "tcp", "tls", "mongo", "mysql",
             "redis", "udp")
HTTP2_PROTOCOLS = frozenset({"grpc", "http2"})  # upstream HTTP/2 (h2c on plaintext)
APP_PROTOCOL_ALIASES = {"h2c": "http2", "kubernetes.io/h2c": "http2", "kubernetes.io/ws": "http",
                        "kubernetes.io/wss": "https"}


def port_protocol(name: str | None = None, app_protocol: str | None = None) -> str | None:
    """The protocol a Service port declares, or None when it declares none we know."""
    if app_protocol:
        low = app_protocol.lower()
        low = APP_PROTOCOL_ALIASES.get(low, low)
        if low in PROTOCOLS:
            return low
    if name:
        low = name.lower()
        prefix = "grpc-web" if low.startswith("grpc-web") else low.split("-", 1)[0]
        prefix = APP_PROTOCOL_ALIASES.get(prefix, prefix)
        if prefix in PROTOCOLS:
            return prefix
    return None


def port_entry(port: int, protocol: str | None) -> int | dict:
    """How `services[].ports[]` carries a port: a bare number, or {port, protocol} when known."""
    return {"port": port, "protocol": protocol} if protocol else port


def encode(revision: int, services: list[dict], rules: list[dict],
           complete: bool = True) -> tuple[str, str]:
    """(version, the document as JSON). The version names the content, so that a restarted
    control plane that computes the same document sends the same version. `complete` False:
    the control plane is still warming, and sidecars keep endpoints it does not know yet."""
    body: dict[str, Any] = {"services": services, "rules": rules}
    if not complete:
        body["complete"] = False
    body_json = json.dumps(body, separators=(",", ":"), sort_keys=True)
    version = f"{revision}.{hashlib.sha256(body_json.encode()).hexdigest()[:8]}"
    # Splice the version in front rather than encoding the document a second time.
    return version, f'{{"version":{json.dumps(version)},{body_json[1:]}'


def revision_of(version: str | None) -> int | None:
    """The store revision a version was built from ('<revision>.<content hash>'), if any."""
    head = (version or "").partition(".")[0]
    return int(head) if head.isdigit() else None


# -- resources: the units a delta adds, replaces and removes ----------------------------------
# A snapshot is made of resources, each named by an id: a service by "namespace/name", a rule
# by "Kind/namespace/name". A document lists them sorted by id, so the same resources always
# make the same document, however they arrived (whole, or delta by delta).

def service_id(svc: dict) -> str:
    return f"{svc.get('namespace') or DEFAULT_NAMESPACE}/{svc.get('name')}"


def rule_id(rule: dict) -> str:
    meta = rule.get("metadata") or {}
    return f"{rule.get('kind')}/{meta.get('namespace') or DEFAULT_NAMESPACE}/{meta.get('name')}"


def document(version: str, services: Mapping[str, Any], rules: Mapping[str, Any],
             complete: bool = True) -> dict[str, Any]:
    """The snapshot document of these resources (values in id order)."""
    doc: dict[str, Any] = {"version": version,
                           "services": [services[k] for k in sorted(services)],
                           "rules": [rules[k] for k in sorted(rules)]}
    if not complete:
        doc["complete"] = False
    return doc


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, eq=False)
class Held:
    """The control plane's state as a sidecar holds it, resource by resource: what a delta
    applies to. Immutable: `updated` returns a new one, so a rejected delta leaves it as is."""

    version: str | None = None
    services: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    rules: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    complete: bool = True

    def updated(self, version: str, update: dict, *, full: bool) -> "Held":
        """Apply a delta's `update` (`full`: on top of nothing). ValueError when malformed."""
        services = {} if full else dict(self.services)
        rules = {} if full else dict(self.rules)
        for name, into in (("services", services), ("rules", rules)):
            part = update.get(name) or {}
            if not isinstance(part, dict):
                raise ValueError(f"delta: update.{name} must be an object")
            put, remove = part.get("set") or {}, part.get("remove") or []
            if not isinstance(put, dict) or not isinstance(remove, list):
                raise ValueError(f"delta: update.{name}: set must map ids to resources and "
                                 f"remove list ids")
            for rid in remove:
                into.pop(rid, None)
            into.update(put)
        complete = update.get("complete", True)
        if not isinstance(complete, bool):
            raise ValueError("delta: update.complete must be true or false")
        return Held(version, MappingProxyType(services), MappingProxyType(rules), complete)

    @classmethod
    def of_document(cls, version: str, doc: dict) -> "Held":
        """The resources of a whole snapshot document (one sent in full)."""
        services = {service_id(s): s for s in doc.get("services") or [] if isinstance(s, dict)}
        rules = {rule_id(r): r for r in doc.get("rules") or [] if isinstance(r, dict)}
        return cls(version, MappingProxyType(services), MappingProxyType(rules),
                   doc.get("complete", True) is not False)

    def document(self) -> dict[str, Any]:
        return document(self.version or "", self.services, self.rules, self.complete)


def parse_service(at: str, doc: Any, problem: Callable[[str, str], None]) -> ServiceEntry | None:
    """One entry of `services`; every problem reported through `problem(where, message)`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        problem(at, "name: a non-empty string is required")
        return None
    eps = []
    for j, ep in enumerate(doc.get("endpoints") or []):
        where = f"{at}.endpoints[{j}]"
        if not isinstance(ep, dict) or not isinstance(ep.get("address"), str):
            problem(where, "address: a string is required")
            continue
        port = ep.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            problem(where, f"port: must be 1..65535, got {port!r}")
            continue
        labels = ep.get("labels") or {}
        if not isinstance(labels, dict):
            problem(where, "labels: must be a mapping")
            continue
        identity = ep.get("identity")
        if identity is not None and not isinstance(identity, str):
            problem(where, "identity: must be a SPIFFE ID string")
            continue
        eps.append(Endpoint(ep["address"], port, {str(k): str(v) for k, v in labels.items()},
                            f"{ep['address']}:{port}", identity))
    ports, protocols = [], {}
    for j, p in enumerate(doc.get("ports") or []):
        number = p.get("port") if isinstance(p, dict) else p
        if not isinstance(number, int) or isinstance(number, bool):
            problem(f"{at}.ports", "each port must be an integer or {port: N, protocol: P}")
            ports, protocols = [], {}
            break
        ports.append(number)
        if isinstance(p, dict):
            proto = p.get("protocol")
            if proto is None:
                proto = port_protocol(p.get("name"), p.get("appProtocol"))
            elif not isinstance(proto, str):
                problem(f"{at}.ports[{j}].protocol", f"must be a string, got {proto!r}")
                continue
            if proto:
                protocols[number] = proto.lower()
    return ServiceEntry(doc["name"], doc.get("namespace") or DEFAULT_NAMESPACE, tuple(eps),
                        tuple(ports), tuple(str(a) for a in doc.get("addresses") or ()),
                        protocols)


def unknown_fields(doc: dict) -> list[str]:
    return sorted(set(doc) - set(FIELDS))
