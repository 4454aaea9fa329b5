"""What each dashboard page shows, computed from the control plane's JSON (syncz, graph, rules).

Pure functions of plain dicts, so the pages' content is tested without a browser. Nothing here
reads secrets: the control plane's endpoints carry identities, versions and rules, never keys.
"""

from __future__ import annotations

import time
from collections import Counter

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.model import native

STATUSES = ("SYNCED", "STALE", "NOT SENT", "ERROR")


def overview(sync: dict, graph: dict, rules: dict, version: str) -> dict:
    proxies = sync.get("proxies") or []
    counts = Counter(p["status"] for p in proxies)
    services = {(p.get("namespace") or DEFAULT_NAMESPACE, p.get("service")) for p in proxies}
    return {"controlPlane": sync.get("controlPlane"), "meshtoolVersion": version,
            "address": sync.get("address"), "snapshotVersion": sync.get("version"),
            "storeRevision": sync.get("storeRevision"), "workloads": sync.get("workloads"),
            "proxies": len(proxies), "byStatus": {s: counts.get(s, 0) for s in STATUSES},
            "services": len(services), "rules": len(rules.get("rules") or []),
            "rps": round(sum(e["rps"] for e in graph.get("edges") or []), 2),
            "uptime": round(time.time() - sync["started"]) if sync.get("started") else None}


def proxies(sync: dict) -> list[dict]:
    out = []
    for p in sync.get("proxies") or []:
        out.append({"proxyId": p["proxyId"], "service": p.get("service"),
                    "namespace": p.get("namespace"), "version": p.get("version") or "-",
                    "status": p["status"], "cluster": (p.get("labels") or {}).get(
                        "topology.meshtool.io/cluster", "local"),
                    "sent": (p.get("sent") or {}).get("version"),
                    "acked": (p.get("acked") or {}).get("version"),
                    "error": (p.get("nacked") or {}).get("error") if p["status"] == "ERROR"
                    else None,
                    "lastPush": p.get("lastPush"),
                    "certificateExpiry": p.get("certificateExpiry")})  # set once mTLS reports it
    return out


def services(sync: dict, graph: dict) -> list[dict]:
    """One row per service version with its instances and golden signals (what it served)."""
    instances: Counter = Counter()
    for p in sync.get("proxies") or []:
        instances[(p.get("service"), p.get("version") or "")] += 1
    signals = {(n["service"], n["version"] if n["version"] != "unknown" else ""): n
               for n in graph.get("nodes") or [] if n.get("inMesh")}
    rows = []
    for (svc, ver) in sorted(set(instances) | set(signals), key=lambda k: (k[0] or "", k[1])):
        n = signals.get((svc, ver), {})
        rows.append({"service": svc, "version": ver or "-", "instances": instances.get((svc, ver), 0),
                     "rps": n.get("rps", 0.0), "errorRate": n.get("errorRate", 0.0),
                     "p50": n.get("p50"), "p99": n.get("p99"), "requests": n.get("requests", 0)})
    return rows


def policies(rules: dict) -> list[dict]:
    import yaml

    out = []
    for r in rules.get("rules") or []:
        out.append({"kind": r["kind"], "namespace": r["namespace"], "name": r["name"],
                    "apiVersion": r["manifest"].get("apiVersion"), "revision": r.get("revision"),
                    "yaml": yaml.safe_dump(r["manifest"], sort_keys=False,
                                           default_flow_style=False)})
    return out


def splits(rules: dict, graph: dict) -> list[dict]:
    """Each weighted route: the weights the rule sets and the share each version got in the
    graph's window."""
    observed: dict[str, Counter] = {}
    for e in graph.get("edges") or []:
        svc, _, ver = e["destination"].partition(":")
        observed.setdefault(svc, Counter())[ver or "-"] += e["requests"]
    out = []
    for r in rules.get("rules") or []:
        spec = r["manifest"].get("spec") or {}
        if r["kind"] != "RouteRule" or not spec.get("route"):
            continue
        route = native.parse(r["kind"], r["namespace"] or DEFAULT_NAMESPACE, r["name"],
                             spec).value  # the weights as the sidecar reads them
        if route is None:
            continue
        dest = route.destination.name
        total_weight = sum(s.weight for s in route.split)
        seen = observed.get(dest, Counter())
        seen_total = sum(seen.values())
        targets = []
        for subset in route.split:
            labels = dict(subset.labels)
            ver = labels.get("version", "-")
            weight = subset.weight
            targets.append({"labels": labels, "version": ver, "weight": weight,
                            "share": round(100 * weight / total_weight) if total_weight else 0,
                            "observed": round(100 * seen.get(ver, 0) / seen_total, 1)
                            if seen_total else None})
        out.append({"rule": f"{r['namespace']}/{r['name']}", "destination": dest,
                    "targets": targets, "observedRequests": seen_total})
    return out
