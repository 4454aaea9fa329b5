"""Plaintext sent to a service that accepts mutual TLS only: refused at its sidecar.

A service is STRICT when the MTLSPolicies (Istio PeerAuthentication, Kuma Mesh mtls) resolve to
STRICT for a workload behind it, resolved as its sidecars resolve them (model.peermodes). Two
callers send it plaintext:
- every sidecar, when a DestinationPolicy (Istio DestinationRule `trafficPolicy.tls`) for it sets
  `tls.mode: DISABLE` (MT0400);
- a workload without a sidecar that calls it (MT0401): a Pod without one, or any workload opted
  out or in a namespace (in the input) not labelled for injection. It calls the service when its
  containers' env, args or command name the service's host, or when an ALLOW AccessPolicy of the
  service names its service account.
"""

from __future__ import annotations

import re

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Index
from meshtool.analysis.items import as_dict, as_list, str_map
from meshtool.analysis.workloads import Workload
from meshtool.conventions import INJECTION_LABEL
from meshtool.model.kinds import ACCESS_POLICY, MTLS_POLICY
from meshtool.model.peermodes import peer_modes


def _parsed(index: Index, kind: str) -> list:
    values = (index.model(item) for item in index.by_kind.get(kind, []))
    return [v for v in values if v is not None]  # a broken one is MT0001's


def _strict_by(index: Index, policies: list, namespace: str, service: str) -> str | None:
    """The policy that makes `service` STRICT (for some workload behind it), else None."""
    behind = index.service_workloads(namespace, service)
    label_sets = [index.workload(n).labels for n in behind] if behind else [{}]
    for labels in label_sets:
        modes = peer_modes(policies, service, namespace, labels)
        if modes is not None and modes.default == "STRICT":
            return modes.policy
    return None


def _services(index: Index, policies: list) -> dict[tuple[str, str], str]:
    """(namespace, service) -> the STRICT policy, for the Services in the input and the
    services the DestinationPolicies and MTLSPolicies name."""
    names = set(index.services)
    names |= {(p.namespace, p.selector.name) for p in policies
              if p.selector is not None and p.selector.name}
    for item in index.policies:
        dest = index.destination(item)
        if dest is not None and dest.namespace:
            names.add((dest.namespace, dest.service))
    out = {}
    for namespace, service in names:
        policy = _strict_by(index, policies, namespace, service)
        if policy is not None:
            out[(namespace, service)] = policy
    return out


def _without_sidecar(index: Index, w: Workload) -> bool:
    """Known to run without a sidecar (not merely not injected yet)."""
    if w.injected or w.controlled:
        return False
    if w.opted_out or w.is_pod:
        return True
    labels = index.namespace_labels(w.namespace)
    return labels is not None and labels.get(INJECTION_LABEL) != "enabled"


def _texts(w: Workload) -> list[str]:
    out = []
    for _, c in w.containers() + w.containers(init=True):
        out += [str(a) for a in as_list(c.get("command")) + as_list(c.get("args"))]
        out += [str(e.get("value")) for e in map(as_dict, as_list(c.get("env")))
                if e.get("value") is not None]
    return out


def _names_host(texts: list[str], namespace: str, service: str, own_ns: str) -> str | None:
    hosts = [f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}.svc",
             f"{service}.{namespace}"] + ([service] if namespace == own_ns else [])
    pattern = re.compile(r"(?:^|[/@\s=])(" + "|".join(re.escape(h) for h in hosts)
                         + r")(?=$|[:/\s])")
    for text in texts:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None


def _allowed_account(accesses: list, namespace: str, service: str, account: str,
                     own_ns: str) -> str | None:
    principal = f"cluster.local/ns/{own_ns}/sa/{account}"
    for policy in accesses:
        if policy.action != "ALLOW" or policy.namespace != namespace or (
                policy.selector is not None and policy.selector.name not in (None, service)):
            continue
        for rule in policy.rules:
            for src in rule.sources:
                if principal in src.principals or f"spiffe://{principal}" in src.principals:
                    return policy.full_name
    return None


def run(ctx: Context) -> None:
    index = ctx.index
    policies = _parsed(index, MTLS_POLICY)
    if not any(p.mode == "STRICT" or "STRICT" in p.ports.values() for p in policies):
        return
    strict = _services(index, policies)
    for item in index.policies:
        value = index.model(item)
        tls = value.tls if value is not None else None
        dest = index.destination(item)
        if tls == "DISABLE" and dest is not None and (dest.namespace, dest.service) in strict:
            ctx.report("MT0400", item, ("spec", "tls", "mode"), service=dest.display,
                       policy=strict[(dest.namespace, dest.service)])
    accesses = _parsed(index, ACCESS_POLICY)
    for w in index.workloads:
        if not _without_sidecar(index, w):
            continue
        texts = _texts(w)
        account = str(w.pod_spec.get("serviceAccountName") or "default")
        for (namespace, service), policy in sorted(strict.items()):
            how = _names_host(texts, namespace, service, w.namespace)
            if how is not None:
                how = f"its containers name {how}"
            else:
                allow = _allowed_account(accesses, namespace, service, account, w.namespace)
                how = allow and f"AccessPolicy {allow} allows its service account {account}"
            if how:
                ctx.report("MT0401", w.item, (), kind=w.item.kind,
                           name=w.item.name, service=f"{service}.{namespace}", how=how,
                           policy=policy)


ANALYZER = Analyzer(
    name="mtls-plaintext",
    description="Callers of a service whose mTLS mode is STRICT must speak mTLS: no DestinationPolicy "
                "tls.mode DISABLE for it, no caller without a sidecar.",
    kinds=("MTLSPolicy", "AccessPolicy", "DestinationPolicy", "Service", "Namespace", "Pod",
           "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"),
    codes=("MT0400", "MT0401"),
    run=run,
)
