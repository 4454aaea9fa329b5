"""What `meshtool describe` reports about one stored rule: its conditions and its proxies."""

from __future__ import annotations

from typing import Any

from meshtool.model.resource import Resource


def describe(resource: Resource, everything: list[Resource] | None, address: str) -> dict:
    """The report as plain data (text, YAML and JSON are renderings of it). `everything`: the
    whole store, needed to resolve a rule of another API; `address`: the control plane."""
    from meshtool.controlplane.inspect import fetch_replica_tables
    from meshtool.errors import MeshtoolError

    report: dict[str, Any] = {"resource": resource.to_manifest(),
                              "revision": resource.revision, "conditions": []}
    table = None
    try:
        table = fetch_replica_tables(address, timeout=3.0)
        report["controlPlane"] = {"address": address, "storeRevision": table.get("storeRevision"),
                                  "version": table.get("version")}
    except MeshtoolError as exc:
        report["controlPlane"] = {"address": address, "error": exc.lines()[0]}
    report["conditions"].append(_accepted(resource, table))
    if everything is not None:
        report["conditions"].append(_resolved(resource, everything, address, table))
    accepted = report["conditions"][0]["status"] == "True"
    if table is not None:
        report["proxies"] = [_proxy(p, resource, accepted, table.get("version"))
                             for p in table.get("proxies") or []]
    return report


def _accepted(resource: Resource, table: dict | None) -> dict:
    """The control plane's verdict when it answers (it is what the proxies get), else the same
    checks run here."""
    if table is not None:
        for item in table.get("invalid") or []:
            if (item.get("kind"), item.get("namespace"), item.get("name")) == resource.key:
                return {"type": "Accepted", "status": "False", "reason": "Invalid",
                        "message": "; ".join(item.get("problems") or [])
                                   + ": left out of every snapshot"}
        source = "the control plane accepted it"
    else:
        from meshtool.rules.check import describe as line, resource_problems

        problems = [line(path, msg) for path, msg in resource_problems(resource)]
        if problems:
            return {"type": "Accepted", "status": "False", "reason": "Invalid",
                    "message": "; ".join(problems) + ": the control plane leaves it out"}
        source = "passes the control plane's checks (checked here: control plane not reachable)"
    return {"type": "Accepted", "status": "True", "reason": "Valid", "message": source}


def _resolved(resource: Resource, everything: list[Resource], address: str,
              table: dict | None) -> dict:
    """Whether a rule of another API compiles. The control plane's verdict when it answers: it
    knows the Services, so an Ingress whose backend Service is missing shows here as it does in
    the gateway (404). Else compiled here, against the stored rules only."""
    from meshtool.model.compile import RESOLVED, compile_resources

    left = _left_out(address, table) if table is not None else None
    for reason, found in (("UnresolvedReference", (left or {}).get("unresolved")),
                          ("Invalid", (left or {}).get("invalid"))):
        for row in found or []:
            if (row.get("kind"), row.get("namespace"), row.get("name")) == resource.key:
                return {"type": RESOLVED, "status": "False", "reason": reason,
                        "message": "; ".join(row.get("reasons") or [])
                                   + " (the control plane leaves it out)"}
    return compile_resources(everything).condition(resource.key)


def _left_out(address: str, table: dict) -> dict | None:
    """What the control plane leaves out and why: the `leftOut` of a connected proxy's config
    dump (a gateway's first: the proxies that serve Ingresses), None when none is connected."""
    from meshtool.controlplane.inspect import fetch_intended
    from meshtool.errors import MeshtoolError

    proxies = sorted(table.get("proxies") or [], key=lambda p: p.get("kind") != "gateway")
    if not proxies:
        return None
    try:
        return fetch_intended(address, proxies[0]["proxyId"], timeout=3.0).get("leftOut")
    except MeshtoolError:
        return None  # a replica that just lost the proxy, an older control plane: compile here


def _proxy(entry: dict, resource: Resource, accepted: bool, latest: str | None) -> dict:
    acked = (entry.get("acked") or {}).get("version")
    from meshtool.discovery.snapshot import revision_of

    acked_rev = revision_of(acked)
    if not accepted or acked is None:
        holds = False
    elif resource.revision is not None and acked_rev is not None:
        holds = acked_rev >= resource.revision
    else:  # no revision to compare (e.g. Kubernetes resourceVersions): the latest has it
        holds = acked == latest
    return {"proxyId": entry.get("proxyId"), "service": entry.get("service"),
            "status": entry.get("status"), "acked": acked, "holds": holds}


def as_text(report: dict) -> str:
    from meshtool.cli.render import dump_yaml

    manifest = report["resource"]
    meta = manifest.get("metadata") or {}
    labels = ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items()) or "<none>"
    out = [f"Name:         {meta.get('name')}",
           f"Namespace:    {meta.get('namespace')}",
           f"Kind:         {manifest.get('kind')} ({manifest.get('apiVersion')})",
           f"Labels:       {labels}",
           f"Revision:     {report.get('revision') if report.get('revision') is not None else meta.get('resourceVersion')}",
           "Spec:"]
    out += ["  " + line for line in dump_yaml(manifest.get("spec") or {}).splitlines()]
    out.append("Conditions:")
    for c in report["conditions"]:
        out.append(f"  {c['type']:<10} {c['status']:<6} {c.get('reason', '')}: {c.get('message', '')}")
    cp = report["controlPlane"]
    if "error" in cp:
        out.append(f"Proxies:      unknown ({cp['error']})")
    else:
        proxies = report.get("proxies") or []
        held = sum(1 for p in proxies if p["holds"])
        out.append(f"Proxies:      {held} of {len(proxies)} hold this version "
                   f"(control plane {cp['address']}, version {cp.get('version')})")
        if proxies:
            from meshtool.cli.listing import text_table

            rows = [[p["proxyId"] or "", p["service"] or "", "yes" if p["holds"] else "no",
                     p["status"] or "", p["acked"] or "-"] for p in proxies]
            table = text_table(["PROXY", "SERVICE", "HOLDS", "STATUS", "ACKED"], rows)
            out += ["  " + line for line in table.splitlines()]
    return "\n".join(out) + "\n"
