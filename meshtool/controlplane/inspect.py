"""Reading a running control plane and proxies from outside: what proxy-status shows.

Standard library only (urllib), so that `meshtool proxy-status` starts fast.
"""

from __future__ import annotations

import difflib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from meshtool.discovery.protocol import (CONFIG_DUMP_PATH, GRAPH_PATH, RULES_PATH, SYNCZ_PATH,
                                         http_url)
from meshtool.errors import MeshtoolError, NotFoundError
from meshtool.controlplane.mtlsstate import mtls_text

PROXY_CONFIG_DUMP = "/config_dump"  # on the sidecar's admin port


def _get_json(url: str, what: str, timeout: float, hint: str | None = None) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error") or exc.reason
        except (ValueError, AttributeError):
            detail = exc.reason
        if exc.code == 404:
            raise NotFoundError(f"{what}: {detail}", hint=hint) from None
        raise MeshtoolError(f"{what}: HTTP {exc.code}: {detail}", hint=hint) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MeshtoolError(f"cannot reach {what} at {url}: {reason}", hint=hint) from None
    except ValueError as exc:
        raise MeshtoolError(f"{what} at {url} answered with something that is not JSON: "
                            f"{exc}") from None


def _fetch(address: Any, path: str, what: str, timeout: float, hint: str | None = None) -> Any:
    """`address` is HOST:PORT, or an object with `get_json(path, what, timeout, hint)` that
    reaches the control plane another way (meshtool.controlplane.kubeproxy.ServiceProxy)."""
    if isinstance(address, str):
        return _get_json(http_url(address, path), what, timeout, hint)
    return address.get_json(path, what, timeout, hint)


def fetch_sync_table(address: Any, timeout: float = 5.0, *, summary: bool = False) -> dict:
    path = f"{SYNCZ_PATH}?summary=1" if summary else SYNCZ_PATH
    hint = ("start it with `meshtool control-plane`, or point at it with "
            "--control-plane HOST:PORT" if isinstance(address, str) else None)
    return _fetch(address, path, "the control plane", timeout, hint)


def fetch_replica_tables(address: Any, timeout: float = 5.0,
                         warn=lambda message: None) -> dict:
    """The sync tables of every control-plane replica, merged into one table.

    `address`: "HOST:PORT" or several separated by commas, or an object that reaches the
    control plane another way; with `replicas()` (Kubernetes: one per control-plane pod) each
    of those is read. Replicas named in a table's `replicas` (those sharing its registrations
    file) are read too. An unreachable replica is reported through `warn` and skipped; none
    reachable is the error of the first."""
    if isinstance(address, str):
        targets: list[Any] = [a.strip() for a in address.split(",") if a.strip()]
    elif hasattr(address, "replicas"):
        targets = address.replicas() or [address]
    else:
        targets = [address]
    tables, seen, first_error, unreachable = [], set(), None, []
    while targets:
        target = targets.pop(0)
        key = str(target)
        if key in seen:
            continue
        seen.add(key)
        try:
            table = fetch_sync_table(target, timeout)
        except MeshtoolError as exc:
            first_error = first_error or exc
            unreachable.append(str(exc))
            continue
        if any(t.get("controlPlane") == table.get("controlPlane") for t in tables):
            continue
        tables.append(table)
        if isinstance(target, str):
            targets += [r["address"] for r in table.get("replicas") or []
                        if r.get("address") and r["address"] not in seen]
    if not tables:
        raise first_error  # one line, as every command words it; no warning repeating it
    for message in unreachable:  # some replicas answered: the others are worth a warning
        warn(message)
    if len(tables) == 1:
        return tables[0]
    merged = dict(tables[0])
    merged["controlPlane"] = ",".join(t.get("controlPlane") or "?" for t in tables)
    merged["controlPlanes"] = [{k: v for k, v in t.items() if k != "proxies"} for t in tables]
    merged["proxies"] = sorted((p for t in tables for p in t.get("proxies") or []),
                               key=lambda p: p["proxyId"])
    return merged


def fetch_graph(address: Any, timeout: float = 10.0) -> dict:
    """The service graph (meshtool.controlplane.graph) the control plane computes."""
    return _fetch(address, GRAPH_PATH, "the control plane", timeout)


def fetch_rules(address: Any, timeout: float = 5.0) -> dict:
    """The rules in force, as authored: {storeRevision, rules: [{kind, ..., manifest}]}."""
    return _fetch(address, RULES_PATH, "the control plane", timeout)


def find_proxy(table: dict, proxy: str) -> dict:
    """A proxy by id, or by unique prefix ("benigno-v1" finds "benigno-v1.default")."""
    proxies = table.get("proxies") or []
    exact = [p for p in proxies if p["proxyId"] == proxy]
    found = exact or [p for p in proxies if p["proxyId"].startswith(proxy)]
    if len(found) == 1:
        return found[0]
    if not found:
        names = ", ".join(p["proxyId"] for p in proxies[:5]) or "none is connected"
        raise NotFoundError(f"proxy {proxy!r} is not connected to control plane "
                            f"{table.get('controlPlane')}", hint=f"connected proxies: {names}")
    raise MeshtoolError(f"proxy {proxy!r} is ambiguous: "
                        f"{', '.join(p['proxyId'] for p in found[:5])}")


def fetch_intended(address: Any, proxy: str, timeout: float = 5.0) -> dict:
    """{version, snapshot}: what the control plane intends `proxy` to have."""
    query = urllib.parse.urlencode({"proxy": proxy})
    return _fetch(address, f"{CONFIG_DUMP_PATH}?{query}", "the control plane", timeout)


def fetch_proxy_dump(admin_address: str, timeout: float = 5.0) -> dict:
    """{version, snapshot}: what the proxy itself has in force (its admin /config_dump)."""
    doc = _get_json(http_url(admin_address, PROXY_CONFIG_DUMP), "the proxy's admin port", timeout,
                    hint="the admin port listens on loopback only: run proxy-status on the "
                         "proxy's machine, or pass --admin HOST:PORT")
    return normalise_dump(doc)


def normalise_dump(doc: Any) -> dict:
    """Accept {version, snapshot: {...}} or the bare snapshot document."""
    if isinstance(doc, dict) and isinstance(doc.get("snapshot"), dict):
        snap = doc["snapshot"]
        return {"version": doc.get("version", snap.get("version")), "snapshot": snap}
    if isinstance(doc, dict):
        return {"version": doc.get("version"), "snapshot": doc}
    return {"version": None, "snapshot": None}


def _comparable(snapshot: dict | None) -> list[str]:
    if snapshot is None:
        return ["(no snapshot)"]
    body = {k: v for k, v in snapshot.items() if k != "nonce"}
    return json.dumps(body, indent=2, sort_keys=True).splitlines()


def diff_snapshots(intended: dict | None, actual: dict | None, proxy: str) -> list[str]:
    """Unified diff lines, empty when the proxy has exactly what the control plane intends."""
    return list(difflib.unified_diff(_comparable(intended), _comparable(actual),
                                     fromfile="control plane (intended)",
                                     tofile=f"proxy {proxy} (in force)", lineterm=""))


# -- rows for the table ----------------------------------------------------------------------

COLUMNS = ("NAME", "KIND", "SERVICE", "VERSION", "CLUSTER", "CONTROL PLANE", "SENT", "ACKED",
           "STATUS", "MTLS", "LAST PUSH")


def age(then: float | None, now: float | None = None) -> str:
    if not then:
        return "-"
    secs = max(0.0, (now or time.time()) - then)
    if secs < 1:
        return f"{secs * 1000:.0f}ms ago"
    if secs < 120:
        return f"{secs:.0f}s ago"
    if secs < 7200:
        return f"{secs / 60:.0f}m ago"
    return f"{secs / 3600:.0f}h ago"


def status_text(p: dict) -> str:
    if p.get("status") == "ERROR" and p.get("nacked"):
        return f"ERROR: {p['nacked'].get('error')}"
    return p.get("status") or "-"


def row(p: dict, now: float | None = None) -> tuple[str, ...]:
    return (p["proxyId"], p.get("kind") or "sidecar", p.get("service") or "-",
            p.get("version") or "-", p.get("cluster") or "-", p.get("controlPlane") or "-",
            (p.get("sent") or {}).get("version") or "-",
            (p.get("acked") or {}).get("version") or "-",
            status_text(p), mtls_text(p, now), age(p.get("lastPush"), now))


def rows(table: dict) -> list[tuple[str, ...]]:
    now = time.time()
    return [row(p, now) for p in table.get("proxies") or []]


def invalid_lines(table: dict) -> list[str]:
    """One line per stored object the control plane leaves out of its snapshots."""
    out = []
    for item in table.get("invalid") or []:
        out.append(f"invalid: {item['kind']} {item['namespace']}/{item['name']} is left out of "
                   f"every snapshot: {'; '.join(item.get('problems') or [])}")
    return out
