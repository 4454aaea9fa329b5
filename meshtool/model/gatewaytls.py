"""Which certificates the ingress gateway must serve: the Secrets gateway resources name.

- Ingress (meshtool's class): each `spec.tls[]` entry with a `secretName`, for its `hosts`;
- Gateway API Gateway (class meshtool): each HTTPS listener's `tls.certificateRefs` to Secrets
  (a ref naming another namespace is read, then refused by the control plane: no
  ReferenceGrant support), for the listener's `hostname`;
- Istio Gateway: each HTTPS server with `tls.mode: SIMPLE` and a `credentialName` (a Secret
  of the Gateway's namespace), for its `hosts` (`ns/` prefixes dropped, `*` is no host).

No host listed: the certificate serves the DNS names it carries. Pure and stdlib-only: the
control plane reads the Secrets these name (Kubernetes mode) and pushes them to gateways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from meshtool.conventions import GATEWAY_CLASS
from meshtool.model.resource import Resource

INGRESS = "Ingress.networking.k8s.io"
GATEWAY_API = "Gateway.gateway.networking.k8s.io"
ISTIO_GATEWAY = "Gateway.networking.istio.io"

Key = tuple[str, str, str]  # (kind, namespace, name) of the resource naming the Secret


@dataclass(frozen=True)
class TlsReference:
    source: Key
    api_version: str  # the source's, for an Event about it
    namespace: str  # the Secret's
    secret: str
    hosts: tuple[str, ...] = ()  # () : the certificate's own names

    @property
    def secret_id(self) -> str:
        return f"{self.namespace}/{self.secret}"


def tls_references(resources: Iterable[Resource]) -> list[TlsReference]:
    out: list[TlsReference] = []
    for res in sorted(resources, key=lambda r: r.key):
        reader = _READERS.get(res.kind)
        if reader is not None and isinstance(res.spec, dict):
            out += [TlsReference(res.key, res.api_version, ns, secret, tuple(hosts))
                    for ns, secret, hosts in reader(res)]
    return out


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _ingress(res: Resource):
    from meshtool.model.convert.ingress import is_ours

    if not is_ours(res.to_manifest()):
        return
    for entry in res.spec.get("tls") or []:
        if isinstance(entry, dict) and isinstance(entry.get("secretName"), str):
            yield res.namespace, entry["secretName"], _strings(entry.get("hosts"))


def _gateway_api(res: Resource):
    if res.spec.get("gatewayClassName") != GATEWAY_CLASS:
        return
    for listener in res.spec.get("listeners") or []:
        if not isinstance(listener, dict) or listener.get("protocol") != "HTTPS":
            continue
        tls = listener.get("tls") if isinstance(listener.get("tls"), dict) else {}
        hostname = listener.get("hostname")
        for ref in tls.get("certificateRefs") or []:
            if (isinstance(ref, dict) and isinstance(ref.get("name"), str)
                    and ref.get("kind", "Secret") == "Secret"
                    and ref.get("group", "") in ("", "core")):
                yield (ref.get("namespace") or res.namespace, ref["name"],
                       [hostname] if isinstance(hostname, str) else [])


def _istio_gateway(res: Resource):
    for server in res.spec.get("servers") or []:
        if not isinstance(server, dict):
            continue
        port = server.get("port") if isinstance(server.get("port"), dict) else {}
        tls = server.get("tls") if isinstance(server.get("tls"), dict) else {}
        if (port.get("protocol") == "HTTPS" and tls.get("mode") == "SIMPLE"
                and isinstance(tls.get("credentialName"), str)):
            hosts = [h.rpartition("/")[2] for h in _strings(server.get("hosts"))]
            yield res.namespace, tls["credentialName"], [h for h in hosts if h != "*"]


_READERS = {INGRESS: _ingress, GATEWAY_API: _gateway_api, ISTIO_GATEWAY: _istio_gateway}
