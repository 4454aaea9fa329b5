"""The rule kinds, their API group and the names users may type for them."""

from __future__ import annotations

from dataclasses import dataclass

from meshtool.model.lists import is_list, list_items  # noqa: F401 - re-exported for readers of kinds

API_GROUP = "config.meshtool.io"
API_VERSION = "v1alpha1"
NATIVE_API_VERSION = f"{API_GROUP}/{API_VERSION}"

ROUTE_RULE = "RouteRule"
EGRESS_RULE = "EgressRule"
DESTINATION_POLICY = "DestinationPolicy"
RULE_KINDS = (ROUTE_RULE, EGRESS_RULE, DESTINATION_POLICY)
# The security kinds of the one model: what PeerAuthentication, AuthorizationPolicy, Kuma's
# Mesh mtls, TrafficPermission and MeshTrafficPermission compile to (docs/mtls.md).
MTLS_POLICY = "MTLSPolicy"
ACCESS_POLICY = "AccessPolicy"
SECURITY_KINDS = (MTLS_POLICY, ACCESS_POLICY)
# Every kind of meshtool's own API group that users write and stores keep: each has a schema, a
# CRD (meshtool/kube/crds/), a slug, a plural and names to type (tests/kube/test_native_kinds.py).
NATIVE_KINDS = RULE_KINDS + SECURITY_KINDS
MESH_NAMESPACES = ("meshtool-system", "istio-system", "kuma-system")  # policies here: whole mesh
# Compiled only, never stored: what Ingress, Gateway API and Istio gateway routes become (the
# gateway's routing table). Users write those APIs; `convert` prints this kind.
GATEWAY_ROUTE = "GatewayRoute"

# kind -> the slug used in messages ("Created config route-rule/default/x") and plural for CRDs
SLUGS = {ROUTE_RULE: "route-rule", EGRESS_RULE: "egress-rule", DESTINATION_POLICY: "destination-policy",
         MTLS_POLICY: "mtls-policy", ACCESS_POLICY: "access-policy"}
PLURALS = {ROUTE_RULE: "routerules", EGRESS_RULE: "egressrules", DESTINATION_POLICY: "destinationpolicies",
           MTLS_POLICY: "mtlspolicies", ACCESS_POLICY: "accesspolicies"}

_ALIASES = {
    ROUTE_RULE: ("routerule", "routerules", "rr", "route-rule", "route-rules"),
    EGRESS_RULE: ("egressrule", "egressrules", "er", "egress-rule", "egress-rules"),
    DESTINATION_POLICY: ("destinationpolicy", "destinationpolicies", "dp", "destination-policy",
                         "destination-policies"),
    MTLS_POLICY: ("mtlspolicy", "mtlspolicies", "mtls-policy", "mtls-policies"),
    ACCESS_POLICY: ("accesspolicy", "accesspolicies", "ap", "access-policy", "access-policies"),
}


@dataclass(frozen=True)
class ForeignKind:
    """A kind of another project's API that meshtool stores as authored and compiles."""

    group: str
    kind: str
    versions: tuple[str, ...]  # accepted, oldest first
    plural: str
    short_names: tuple[str, ...] = ()
    bare_names: bool = True  # also known by its bare kind and plural ("ingress", "ingresses")

    @property
    def key(self) -> str:
        """'VirtualService.networking.istio.io': kubectl's kind.group, the store's kind."""
        return f"{self.kind}.{self.group}"

    @property
    def api_versions(self) -> tuple[str, ...]:
        return tuple(f"{self.group}/{v}" for v in self.versions)


_ISTIO_NET = ("v1alpha3", "v1beta1", "v1")
FOREIGN_KINDS = (
    ForeignKind("config.istio.io", ROUTE_RULE, ("v1alpha2",), "routerules"),
    ForeignKind("config.istio.io", EGRESS_RULE, ("v1alpha2",), "egressrules"),
    ForeignKind("config.istio.io", DESTINATION_POLICY, ("v1alpha2",), "destinationpolicies"),
    ForeignKind("networking.istio.io", "VirtualService", _ISTIO_NET, "virtualservices", ("vs",)),
    ForeignKind("networking.istio.io", "DestinationRule", _ISTIO_NET, "destinationrules", ("dr",)),
    ForeignKind("networking.istio.io", "ServiceEntry", _ISTIO_NET, "serviceentries", ("se",)),
    ForeignKind("networking.istio.io", "Sidecar", _ISTIO_NET, "sidecars"),  # a scope, no rule
    ForeignKind("kuma.io", "TrafficRoute", ("v1alpha1",), "trafficroutes"),
    ForeignKind("security.istio.io", "PeerAuthentication", ("v1beta1", "v1"),
                "peerauthentications", ("pa",)),
    ForeignKind("security.istio.io", "AuthorizationPolicy", ("v1beta1", "v1"),
                "authorizationpolicies"),
    ForeignKind("kuma.io", "Mesh", ("v1alpha1",), "meshes"),
    ForeignKind("kuma.io", "TrafficPermission", ("v1alpha1",), "trafficpermissions"),
    ForeignKind("kuma.io", "MeshTrafficPermission", ("v1alpha1",), "meshtrafficpermissions",
                ("mtp",)),
    ForeignKind("kuma.io", "HealthCheck", ("v1alpha1",), "healthchecks"),
    ForeignKind("gateway.networking.k8s.io", "HTTPRoute", ("v1beta1", "v1"), "httproutes"),
    ForeignKind("gateway.networking.k8s.io", "GRPCRoute", ("v1alpha2", "v1"), "grpcroutes"),
    ForeignKind("gateway.networking.k8s.io", "Gateway", ("v1beta1", "v1"), "gateways", ("gtw",)),
    ForeignKind("networking.istio.io", "Gateway", _ISTIO_NET, "gateways", ("gw",),
                bare_names=False),  # "gateway" names the Gateway API's
    ForeignKind("networking.k8s.io", "Ingress", ("v1beta1", "v1"), "ingresses", ("ing",)),
)
# Legacy apiVersions of a kind: read, stored as authored, converted with a warning.
LEGACY_API_VERSIONS = {("extensions/v1beta1", "Ingress"): "Ingress.networking.k8s.io"}
FOREIGN_BY_KEY = {fk.key: fk for fk in FOREIGN_KINDS}
_FOREIGN_BY_API = {(api, fk.kind): fk for fk in FOREIGN_KINDS for api in fk.api_versions}
_FOREIGN_BY_API.update({k: FOREIGN_BY_KEY[key] for k, key in LEGACY_API_VERSIONS.items()})
STORED_KINDS = NATIVE_KINDS + tuple(fk.key for fk in FOREIGN_KINDS)

for _fk in FOREIGN_KINDS:
    names = (_fk.key.lower(), f"{_fk.plural}.{_fk.group}")
    if _fk.group != "config.istio.io":  # the Istio 0.x kinds share their short names with ours
        names += _fk.short_names
        if _fk.bare_names:
            names += (_fk.kind.lower(), _fk.plural)
    _ALIASES[_fk.key] = names
_BY_ALIAS = {alias: kind for kind, aliases in _ALIASES.items() for alias in aliases}


def foreign_kind(api_version: str, kind: str) -> ForeignKind | None:
    return _FOREIGN_BY_API.get((api_version, kind))


def kind_key(api_version: str, kind: str) -> str | None:
    """The store's kind for a manifest's apiVersion and kind; None when meshtool stores no such."""
    if api_version == NATIVE_API_VERSION and kind in NATIVE_KINDS:
        return kind
    fk = _FOREIGN_BY_API.get((api_version, kind))
    return fk.key if fk else None


def bare_kind(key: str) -> str:
    """'VirtualService.networking.istio.io' -> 'VirtualService'."""
    return key.split(".", 1)[0]


def slug(kind: str) -> str:
    """'RouteRule' -> 'route-rule', as messages and `get -o name` write a kind; a foreign kind
    as kubectl writes it ('virtualservice.networking.istio.io')."""
    return SLUGS.get(kind, kind.lower())


def resolve_kind(name: str) -> str | None:
    """'rr', 'RouteRules', 'routerule' -> 'RouteRule'; None when unknown."""
    return _BY_ALIAS.get(name.lower())


def kind_help() -> str:
    """Every stored kind as a user types it, with its short names: 'routerule (rr), ...,
    gateway (gtw), gateway.networking.istio.io (gw), ...' (the Istio 0.x kinds, which share
    their names with meshtool's own, only by kind.group)."""
    out = []
    for key in STORED_KINDS:
        fk = FOREIGN_BY_KEY.get(key)
        if fk is not None and fk.group == "config.istio.io":
            continue
        aliases = _ALIASES[key]
        name = aliases[0] if fk is None else fk.kind.lower() if fk.bare_names else key.lower()
        short = [a for a in aliases if len(a) <= 3]
        out.append(f"{name} ({', '.join(short)})" if short else name)
    return ", ".join(out)


def kind_names() -> list[str]:
    """The spellings offered by help texts and shell completion (the kind.group forms are
    accepted too, but would only crowd the list)."""
    return sorted(a for a in _BY_ALIAS if "." not in a)
