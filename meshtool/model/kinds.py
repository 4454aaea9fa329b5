"""The rule kinds, their API group and the names users may type for them."""

from __future__ import annotations

from typing import Any

API_GROUP = "config.meshtool.io"
API_VERSION = "v1alpha1"
NATIVE_API_VERSION = f"{API_GROUP}/{API_VERSION}"

ROUTE_RULE = "RouteRule"
EGRESS_RULE = "EgressRule"
DESTINATION_POLICY = "DestinationPolicy"
RULE_KINDS = (ROUTE_RULE, EGRESS_RULE, DESTINATION_POLICY)

# kind -> the slug used in messages ("Created config route-rule/default/x") and plural for CRDs
SLUGS = {ROUTE_RULE: "route-rule", EGRESS_RULE: "egress-rule", DESTINATION_POLICY: "destination-policy"}
PLURALS = {ROUTE_RULE: "routerules", EGRESS_RULE: "egressrules", DESTINATION_POLICY: "destinationpolicies"}

_ALIASES = {
    ROUTE_RULE: ("routerule", "routerules", "rr", "route-rule", "route-rules"),
    EGRESS_RULE: ("egressrule", "egressrules", "er", "egress-rule", "egress-rules"),
    DESTINATION_POLICY: ("destinationpolicy", "destinationpolicies", "dp", "destination-policy",
                         "destination-policies"),
}
_BY_ALIAS = {alias: kind for kind, aliases in _ALIASES.items() for alias in aliases}


def slug(kind: str) -> str:
    """'RouteRule' -> 'route-rule', as messages and `get -o name` write a kind."""
    return SLUGS.get(kind, kind.lower())


def resolve_kind(name: str) -> str | None:
    """'rr', 'RouteRules', 'routerule' -> 'RouteRule'; None when unknown."""
    return _BY_ALIAS.get(name.lower())


def kind_names() -> list[str]:
    """Every accepted spelling, for help texts and shell completion."""
    return sorted(_BY_ALIAS)


def list_items(data: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """The objects a document stands for, each with its path in the document: a `kind: List`
    gives its items one by one (path ("items", i)), anything else itself (path ())."""
    if is_list(data):
        return [(("items", i), item) for i, item in enumerate(data["items"])]
    return [((), data)]


def is_list(data: Any) -> bool:
    """A `kind: List` (or any ...List) document: it stands for its `items`."""
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and \
        data["kind"].endswith("List") and isinstance(data.get("items"), list)
