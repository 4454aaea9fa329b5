"""The typed rule model: what every source API compiles into and every consumer reads.

Frozen dataclasses with named fields, built only by the parsers (`meshtool.model.native`, fed by
the converters of the other APIs). Durations are seconds, percentages floats 0..100, label sets
plain dicts that nobody mutates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

EXACT, PREFIX, REGEX = "exact", "prefix", "regex"
MATCH_KINDS = (EXACT, PREFIX, REGEX)
# Header-match names that stand for parts of the request rather than headers.
REQUEST_PARTS = ("uri", "scheme", "method", "authority", "port")  # port: the Service port called
QUERY = "?"  # HeaderMatch.name "?lang" is the query parameter lang: never a header name

LB_METHODS = ("ROUND_ROBIN", "LEAST_CONN", "RANDOM")
# Locality-aware balancing: the labels compared between caller and endpoint, most important
# first, when a policy turns it on without naming them (own cluster, then region, then zone).
DEFAULT_FAILOVER_PRIORITY = ("topology.meshtool.io/cluster", "topology.kubernetes.io/region",
                             "topology.kubernetes.io/zone")
TCP_PROTOCOLS = ("tcp", "mongo")


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class SourceMatch:
    """Only requests from this calling service (and, with labels, these of its instances)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HeaderMatch:
    name: str  # lower-case header name, one of REQUEST_PARTS, or QUERY + a query parameter
    kind: str  # exact | prefix | regex
    value: str


@dataclass(frozen=True)
class WeightedSubset:
    labels: Mapping[str, str]
    weight: int  # 0..100; the weights of a route's subsets total 100
    service: ServiceRef | None = None  # another service than the route's destination


@dataclass(frozen=True)
class HeaderOps:
    """Changes to request or response headers: set (replace), add (append), remove."""

    set: Mapping[str, str] = field(default_factory=dict)
    add: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


class Retry(NamedTuple):
    attempts: int
    per_try_timeout: float | None  # seconds
    # Response statuses retried; None is every 5xx. Connect failures, resets before the
    # response and per-try timeouts are always retried.
    codes: frozenset[int] | None = None
    backoff: float | None = None  # seconds before the first retry, doubling up to 10x

    def describe(self) -> str:
        parts = [f"{self.attempts} retries"]
        if self.per_try_timeout is not None:
            parts.append(f"{self.per_try_timeout:g}s per try")
        parts.append("on " + ("5xx" if self.codes is None else
                              ", ".join(map(str, sorted(self.codes))) or "connect failures only"))
        if self.backoff:
            parts.append(f"backoff {self.backoff:g}s")
        return ", ".join(parts)


@dataclass(frozen=True)
class Delay:
    percent: float
    seconds: float


@dataclass(frozen=True)
class Abort:
    percent: float
    status: int


@dataclass(frozen=True)
class Mirror:
    service: ServiceRef
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Cors:
    allow_origin: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: float | None = None  # seconds
    allow_credentials: bool = False


@dataclass(frozen=True)
class Route:
    """A RouteRule: which subsets of `destination` get requests matching `headers` from `source`."""

    namespace: str
    name: str
    destination: ServiceRef
    precedence: int = 0
    source: SourceMatch | None = None
    headers: tuple[HeaderMatch, ...] = ()
    split: tuple[WeightedSubset, ...] = ()
    redirect: Mapping[str, str] | None = None  # {uri, authority}
    redirect_code: int = 301
    rewrite: Mapping[str, str] | None = None
    timeout: float | None = None
    retry: Retry | None = None
    delay: Delay | None = None
    abort: Abort | None = None
    mirror: Mirror | None = None
    cors: Cors | None = None
    append_headers: Mapping[str, str] = field(default_factory=dict)
    request_headers: HeaderOps | None = None
    response_headers: HeaderOps | None = None

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class EgressPort:
    port: int
    protocol: str  # lower case: http, https, grpc, http2, tcp, mongo


@dataclass(frozen=True)
class Egress:
    """An EgressRule: calls to hosts under `pattern` (a name, *.domain, *, IP or CIDR) allowed."""

    namespace: str
    name: str
    pattern: str
    ports: tuple[EgressPort, ...] | None  # None: any port, over HTTP

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def port_protocols(self) -> dict[int, str] | None:
        return None if self.ports is None else {p.port: p.protocol for p in self.ports}


@dataclass(frozen=True)
class CircuitBreaker:
    """simpleCb: limits as integers, windows in seconds; None where the rule says nothing."""

    max_connections: int | None = None
    http_max_pending_requests: int | None = None
    http_max_requests: int | None = None
    http_consecutive_errors: int | None = None
    http_max_requests_per_connection: int | None = None
    http_max_ejection_percent: int | None = None
    http_max_retries: int | None = None
    sleep_window: float | None = None
    http_detection_interval: float | None = None


@dataclass(frozen=True)
class HealthCheck:
    """Active health checking: the caller's sidecar probes each endpoint every `interval`; an
    endpoint failing `unhealthy_threshold` probes in a row leaves load balancing until it passes
    `healthy_threshold` in a row. A TCP connect, or an HTTP GET of `http_path` (2xx/3xx, or one
    of `expected_statuses`). Seconds for durations."""

    interval: float = 10.0
    timeout: float = 1.0
    unhealthy_threshold: int = 2
    healthy_threshold: int = 1
    http_path: str | None = None
    expected_statuses: tuple[int, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A DestinationPolicy: load balancing and circuit breaking for (a subset of) a service."""

    namespace: str
    name: str
    destination: ServiceRef
    labels: Mapping[str, str] = field(default_factory=dict)
    source: SourceMatch | None = None
    lb: str = "ROUND_ROBIN"
    breaker: CircuitBreaker | None = None
    locality: tuple[str, ...] = ()  # failover priority labels; empty: no locality preference
    health_check: HealthCheck | None = None
    tls: str | None = None  # ISTIO_MUTUAL | DISABLE; None: mTLS when the endpoint has an identity

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class GatewayBackend:
    service: ServiceRef
    port: int | None = None  # the Service port named by the source API (None: by name or unset)
    weight: int = 100  # 0..100; a route's weights total 100


@dataclass(frozen=True)
class GatewayRoute:
    """Traffic entering the mesh at a gateway: requests for `hosts` (exact names or *.suffix;
    empty: any host) whose path matches go to one of `backends`, where the backend service's
    own RouteRules then apply as for any caller. Prefix paths match whole segments (/a matches
    /a and /a/b, never /ab). Compiled from Ingress, Gateway API and Istio Gateway routes."""

    namespace: str
    name: str
    backends: tuple[GatewayBackend, ...]
    hosts: tuple[str, ...] = ()
    path: HeaderMatch | None = None  # name "uri"; None: every path
    rewrite_prefix: str | None = None  # the matched prefix replaced by this ("/": strip-path)
    https_redirect: bool = False  # plain HTTP requests are redirected to https
    precedence: int = 0  # higher first among routes of the same host and path specificity

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


Rule = Route | Egress | Policy | GatewayRoute


# -- security (mTLS modes, traffic permissions) ---------------------------------------------

PEER_MODES = ("STRICT", "PERMISSIVE", "DISABLE")
CLIENT_TLS_MODES = ("ISTIO_MUTUAL", "DISABLE")
ACCESS_ACTIONS = ("ALLOW", "DENY", "AUDIT")


@dataclass(frozen=True)
class WorkloadSelector:
    """Which workloads a security policy applies to; None fields: any."""

    name: str | None = None  # the service
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, service: str, labels: Mapping[str, str]) -> bool:
        if self.name is not None and self.name != service:
            return False
        return all(labels.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True)
class PeerAuth:
    """An MTLSPolicy: what an inbound sidecar accepts (PERMISSIVE, STRICT, DISABLE)."""

    namespace: str
    name: str
    selector: WorkloadSelector | None  # None: every workload of the namespace
    mode: str | None  # None: inherited from the namespace, then the mesh
    ports: Mapping[int, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class AccessSource:
    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessOperation:
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    not_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class HeaderCondition:
    header: str  # lower case
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessRule:
    sources: tuple[AccessSource, ...] = ()  # any of them (none: any source)
    operations: tuple[AccessOperation, ...] = ()  # any of them (none: any operation)
    conditions: tuple[HeaderCondition, ...] = ()  # all of them


@dataclass(frozen=True)
class Access:
    """An AccessPolicy: ALLOW, DENY or AUDIT requests to a workload by who sends them (the
    peer's verified SPIFFE ID) and what they ask."""

    namespace: str
    name: str
    selector: WorkloadSelector | None
    action: str = "ALLOW"
    rules: tuple[AccessRule, ...] = ()  # none: matches no request

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"
