"""The message code table: every code `meshtool analyze` can print, in one place.

A code never changes meaning once released; retire it rather than reuse it. Codes are
grouped by what they look at: MT00xx the input itself, MT01xx routing rules, MT02xx
egress rules, MT03xx Kubernetes workloads and services, MT04xx mTLS and permissions.
Templates are `str.format` strings filled from the keyword arguments an analyzer passes to
`Context.report`, and each one ends by saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Level(IntEnum):
    """Severity, ordered so that thresholds compare with >=."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def title(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> "Level":
        """'error', 'Warning', 'INFO' -> Level; ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown level {text!r}: use Info, Warning or Error") from None


@dataclass(frozen=True)
class MessageType:
    code: str
    name: str
    level: Level
    template: str
    description: str

    def render(self, args: dict) -> str:
        return self.template.format(**args)


_TABLE = [
    # --- MT00xx: the input ----------------------------------------------------------------
    ("MT0001", "SchemaError", Level.ERROR,
     "{field_prefix}{problem}",
     "A rule fails its JSON Schema or a semantic check (the same checks as `meshtool validate`)."),
    ("MT0002", "NoServiceInput", Level.INFO,
     "no Services or workloads in the input, so rule destinations, gateway backends and subsets "
     "were not checked: "
     "add the Kubernetes manifests with -f, or use --use-kube",
     "Cross-checks between rules and workloads need the Services and Deployments too."),
    # --- MT01xx: routing ------------------------------------------------------------------
    ("MT0100", "DestinationNotFound", Level.ERROR,
     "destination service {service} not found in namespace {namespace}: "
     "fix {field} or add the Service",
     "A RouteRule or DestinationPolicy names a service that does not exist."),
    ("MT0101", "SubsetSelectsNoWorkload", Level.ERROR,
     "subset {subset} selects no workload of service {service}: requests routed there fail; "
     "fix the labels or deploy a workload with them",
     "A route (or mirror, or policy) selects pods by labels that no workload behind the "
     "service carries."),
    ("MT0102", "PrecedenceConflict", Level.WARNING,
     "RouteRules {name} and {other} for {service} both have precedence {precedence} and can "
     "match the same request, so which applies is undefined: give them different precedences",
     "Two RouteRules for one destination share a precedence and their matches overlap."),
    ("MT0103", "ShadowedMatch", Level.WARNING,
     "this rule is never used: {other} (precedence {other_precedence}) matches every request it "
     "matches and is tried first; raise this rule's precedence or narrow {other}",
     "A RouteRule's match is covered by an earlier (higher precedence) broader rule."),
    ("MT0104", "PolicySubsetNotRouted", Level.WARNING,
     "policy for subset {subset} of {service} has no effect: no RouteRule routes to that "
     "subset; add a route to it or remove the policy",
     "A DestinationPolicy targets a subset that the route rules of its service never send to."),
    ("MT0105", "GatewayBackendNotFound", Level.ERROR,
     "backend service {service} not found in namespace {namespace}: the gateway would answer "
     "503; fix the Ingress backend or add the Service",
     "An Ingress (or another gateway route) sends requests to a Service that does not exist."),
    # --- MT02xx: egress -------------------------------------------------------------------
    ("MT0200", "DuplicateEgressRule", Level.WARNING,
     "duplicates EgressRule {other} ({host} port {port}): delete one of them",
     "Two EgressRules open the same host and port."),
    ("MT0201", "OverlappingEgressRule", Level.INFO,
     "{host} port {port} is also opened by EgressRule {other} ({other_host}); the more specific "
     "pattern wins, so check that both are wanted",
     "Two EgressRules open overlapping hosts (a wildcard or CIDR covering another) on one port."),
    ("MT0202", "EgressProtocolConflict", Level.ERROR,
     "{host} port {port} is {protocol} here but {other_protocol} in EgressRule {other}: "
     "use one protocol per host and port",
     "Two EgressRules give one host and port different protocols."),
    # --- MT03xx: workloads and services ---------------------------------------------------
    ("MT0300", "PortNameNoProtocol", Level.WARNING,
     "port {port} is {named}, which does not declare its protocol: name it "
     "<protocol>[-<suffix>] (http-, http2-, https-, grpc-, tcp-, tls-, ...) or set appProtocol",
     "A Service port declares its protocol by its name prefix or appProtocol (the mesh "
     "convention Istio's sidecars rely on), so that it is declared rather than guessed."),
    ("MT0301", "MissingVersionLabels", Level.WARNING,
     "{kind} {name} has no {missing} label in namespace {namespace}, where rules route by "
     "version: add {missing} to its pod template labels",
     "Version-based routing needs app and version labels on every workload of the namespace."),
    ("MT0302", "WorkloadNotInjected", Level.WARNING,
     "pod has no meshtool-proxy sidecar although namespace {namespace} is labelled "
     "meshtool-injection=enabled: restart it so the webhook injects it, or opt out with "
     "sidecar.meshtool.io/inject: \"false\"",
     "A running pod in a namespace labelled for injection has no sidecar."),
    ("MT0303", "InjectedInDisabledNamespace", Level.WARNING,
     "{kind} {name} carries the meshtool sidecar but namespace {namespace} is labelled "
     "meshtool-injection={value}: label the namespace meshtool-injection=enabled or uninject "
     "the workload",
     "An injected workload in a namespace that turned injection off."),
    ("MT0304", "InjectedInUnlabelledNamespace", Level.INFO,
     "{kind} {name} carries the meshtool sidecar but namespace {namespace} is not labelled for "
     "injection; fine for kube-inject output, or label the namespace meshtool-injection=enabled",
     "An injected workload in a namespace without the injection label."),
    ("MT0305", "RunsAsProxyUID", Level.ERROR,
     "container {container} runs as UID 1337, the proxy's UID, so its traffic bypasses the "
     "sidecar: choose another runAsUser",
     "Traffic from UID 1337 is never redirected to the sidecar."),
    ("MT0306", "UnknownSidecarAnnotation", Level.WARNING,
     "unknown annotation {key}{hint}: meshtool ignores it; fix the name or remove it",
     "An annotation in a meshtool sidecar namespace that meshtool does not know (likely a typo)."),
    ("MT0307", "InvalidAnnotationValue", Level.ERROR,
     "annotation {key}: {problem}",
     "A meshtool annotation whose value cannot be used."),
    ("MT0308", "ForeignMeshConfig", Level.WARNING,
     "{what} {key} belongs to {mesh} and meshtool ignores it: use {instead}",
     "Labels and annotations of another mesh (Istio, Kuma, Linkerd) with the meshtool "
     "equivalent."),
    ("MT0320", "RemoteClusterUnreachable", Level.ERROR,
     "remote cluster {cluster} (remote secret {secret}) cannot be read at {server}: {error}: "
     "its endpoints are missing from every snapshot; fix the address or run "
     "`meshtool create-remote-secret` again for a fresh token",
     "A remote secret whose kubeconfig cannot list the remote cluster's Services and Pods."),
    ("MT0321", "ClusterPortsDiffer", Level.WARNING,
     "service {service} has ports {ports} here but {other_ports} in cluster {cluster}: its "
     "endpoints are merged across clusters, so callers may reach a port that does not exist "
     "there; give the Service the same ports in every cluster",
     "The same Service (namespace and name) with different ports in two clusters."),
    ("MT0322", "EndpointsOnlyInRemoteCluster", Level.WARNING,
     "service {service} has no pods here, only in cluster {clusters}: every call crosses "
     "clusters; deploy it here too, or state the fallback with locality failover "
     "(DestinationPolicy loadBalancing.locality or DestinationRule localityLbSetting)",
     "A Service whose workloads run only in other clusters, without a locality policy."),
    # --- MT04xx: mTLS and permissions ------------------------------------------------------
    ("MT0400", "TlsDisabledForStrict", Level.ERROR,
     "tls.mode DISABLE makes every sidecar call {service} in plaintext, but {service} accepts "
     "mTLS only (STRICT, set by {policy}): every request is refused; remove tls.mode DISABLE "
     "(or use ISTIO_MUTUAL), or make {service} PERMISSIVE",
     "A DestinationPolicy (Istio DestinationRule trafficPolicy.tls) turns mTLS off towards a "
     "service whose MTLSPolicy (PeerAuthentication) is STRICT."),
    ("MT0401", "PlaintextCallerOfStrict", Level.WARNING,
     "{kind} {name} runs without a sidecar, so it calls {service} in plaintext ({how}), but "
     "{service} accepts mTLS only (STRICT, set by {policy}): its requests are refused; inject "
     "the sidecar into {name}, or keep {service} PERMISSIVE until it has one",
     "A workload without a sidecar calls a service whose mTLS mode is STRICT."),
]

MESSAGES: dict[str, MessageType] = {
    code: MessageType(code, name, level, template, description)
    for code, name, level, template, description in _TABLE
}
