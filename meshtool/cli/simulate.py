"""`meshtool simulate`: where would this request go, and why, by the sidecar's own code.

The snapshot is compiled by the sidecar's compile_snapshot for the calling proxy's identity
(so rules with a `match.source` that is not it are left out exactly as in the sidecar), and the
request goes through the sidecar's own Routing addon on a mitmproxy flow: the answer cannot
drift from the data plane.
"""

from __future__ import annotations

from collections import Counter

import click

from meshtool.cli.options import output_option


@click.command()
@click.argument("method", metavar="METHOD")
@click.argument("url", metavar="URL")
@click.option("-f", "--filename", "files", multiple=True, metavar="FILE|DIR|-",
              help="Offline: rules (any supported API) and the Kubernetes manifests whose "
                   "Services and workloads give the endpoints. Repeatable.")
@click.option("--snapshot", "snapshot_file", default=None, metavar="FILE",
              type=click.Path(dir_okay=False),
              help="A proxy's snapshot (JSON or YAML, docs/snapshot.md), e.g. what "
                   "`curl ADMIN/config_dump` or the control plane's /debug/config_dump gives.")
@click.option("--proxy", "proxy", default=None, metavar="ID",
              help="Live: the snapshot the control plane intends for this proxy (an id, or a "
                   "unique prefix as proxy-status shows it); --from defaults to its identity.")
@click.option("--control-plane", "address", default="127.0.0.1:15010", show_default=False,
              envvar="MESHTOOL_CONTROL_PLANE", metavar="HOST:PORT",
              help="With --proxy (default: $MESHTOOL_CONTROL_PLANE, else the local mesh's, "
                   "else 127.0.0.1:15010).")
@click.option("--from", "source", default=None, metavar="SERVICE[.NS]",
              help="The calling service (its sidecar's identity), namespace default 'default'. "
                   "Required with -f and --snapshot.")
@click.option("--version", "version", default=None, metavar="VERSION",
              help="The caller's version label (same as --label version=VERSION).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Another label of the caller. Repeatable.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="A request header. Repeatable.")
@click.option("--count", default=1, type=click.IntRange(1, 1_000_000), show_default=True,
              help="Send N such requests and show how the split distributes them.")
@output_option("text", "json", default="text")
@click.pass_context
def simulate(ctx: click.Context, method: str, url: str, files: tuple[str, ...],
             snapshot_file: str | None, proxy: str | None, address: str, source: str | None,
             version: str | None, labels: tuple[str, ...], headers: tuple[str, ...], count: int,
             output: str) -> int:
    """Show where a request from SERVICE would go, and why.

    Prints the service the request is for, each rule considered (the one that matched, and
    why the others did not), the subset and its weight, the endpoints in load-balancing
    order, and the policies that apply (timeout, retries, fault, circuit breaker), or the
    egress decision for a host outside the mesh. --count N shows the split's distribution.

    \b
    The snapshot comes from one of: -f (rule files and manifests, offline: each workload
    replica is a placeholder endpoint such as benigno-v1-0; a matched rule shows its
    FILE:LINE), --snapshot (a saved snapshot), --proxy (the live control plane's).

    \b
    Examples:
      meshtool simulate -f samples/canary/kubernetes.yaml -f samples/canary/rules/route-90-10.yaml --from magnanimo --count 100 GET http://benigno:5000/
      meshtool simulate --snapshot samples/snapshots/magnanimo.yaml --from magnanimo GET http://benigno:5000/hw2
      meshtool simulate --snapshot samples/snapshots/magnanimo.yaml --from magnanimo --count 100 GET http://benigno:5000/
      meshtool simulate --proxy benigno-v1 GET http://benigno:5000/
    """
    from meshtool.errors import DataError, UsageError

    given = [opt for opt, value in (("-f", files), ("--snapshot", snapshot_file),
                                    ("--proxy", proxy)) if value]
    if len(given) != 1:
        raise UsageError("give the snapshot one way: -f FILES (offline), --snapshot FILE, or "
                         "--proxy ID (the live control plane's)" if not given else
                         f"{' and '.join(given)} are different sources of the snapshot: give one")
    identity = None
    if proxy:
        identity, doc = _live(ctx, address, proxy)
    if source is None and identity is None:
        raise UsageError("--from SERVICE[.NS]: which service's sidecar sends the request")
    name, _, namespace = source.partition(".") if source else (identity["service"], "",
                                                                  identity["namespace"])
    label_map = dict(identity["labels"]) if identity and not source else {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--label {item!r}: give KEY=VALUE")
        label_map[key] = value
    if version:
        label_map["version"] = version
    header_list = []
    for h in headers:
        key, sep, value = h.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"-H {h!r}: give 'NAME: VALUE'")
        header_list.append((key.strip(), value.strip()))
    if "://" not in url:
        raise UsageError(f"URL {url!r}: give a full URL, e.g. http://benigno:5000/path")

    from meshtool.conventions import DEFAULT_NAMESPACE
    from meshtool.discovery.protocol import Identity
    from meshtool.sidecar.master import load_snapshot_file
    from meshtool.sidecar.snapshot import compile_snapshot

    where: dict[str, str] = {}
    try:
        if files:
            doc, where = _offline(files)
        elif snapshot_file:
            doc = load_snapshot_file(snapshot_file)
        snap = compile_snapshot(doc, Identity(service=name,
                                              namespace=namespace or DEFAULT_NAMESPACE,
                                              labels=label_map))
    except OSError as exc:
        raise UsageError(f"{snapshot_file}: {exc.strerror}") from None
    except RecursionError:
        raise DataError(f"{snapshot_file}: nested too deeply") from None
    except ValueError as exc:
        raise DataError(f"{snapshot_file or ', '.join(files) or proxy}: the sidecar would refuse "
                        f"this snapshot: {exc}") from None
    answer = _simulate(snap, method.upper(), url, header_list, count, where,
                       scope=identity.get("scope") if identity else None)
    if output == "json":
        from meshtool.cli.render import dump_json

        click.echo(dump_json(answer), nl=False)
    else:
        click.echo(_text(answer), nl=False)
    return 0


def _live(ctx: click.Context, address: str, proxy: str) -> tuple[dict, dict]:
    """(the proxy's identity, the snapshot the control plane intends for it)."""
    from meshtool.cli.options import default_control_plane
    from meshtool.conventions import DEFAULT_NAMESPACE
    from meshtool.controlplane.inspect import fetch_intended, fetch_sync_table, find_proxy

    address = default_control_plane(ctx, address)
    entry = find_proxy(fetch_sync_table(address), proxy)
    intended = fetch_intended(address, entry["proxyId"])
    identity = {"service": entry.get("service") or "", "namespace": entry.get("namespace")
                or DEFAULT_NAMESPACE, "labels": entry.get("labels") or {},
                "scope": intended.get("scope")}  # what the control plane sends this proxy
    return identity, intended["snapshot"]


def _offline(files: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    """The snapshot the control plane would build from these files (rules as authored,
    endpoints from the manifests' Services and workloads), and where each rule was written."""
    import json

    from meshtool.controlplane.kubeview import offline_services
    from meshtool.controlplane.snapshot import build_snapshot
    from meshtool.errors import DataError
    from meshtool.model.kinds import list_items
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources
    from meshtool.rules.yamlio import load_documents

    sources = read_sources(files)
    result = load_rules(sources, authored=True, unique=True)
    if result.findings:
        raise DataError(findings=result.findings)
    manifests = []
    for source in sources:
        for doc in load_documents(source):
            for _, item in list_items(doc.data):
                if isinstance(item, dict):
                    manifests.append(item)
    built = build_snapshot(0, result.resources, offline_services(manifests))
    by_key = {r.key: r for r in result.resources}
    for found in (built.compiled.invalid, built.compiled.unresolved):
        for key, reasons in sorted(found.items()):  # what the control plane would leave out
            origin = by_key[key]
            click.echo(f"warning: {origin.where}: {key[0].split('.')[0]}/{key[2]} is left out: "
                       f"{'; '.join(reasons)}", err=True)
    where: dict[str, list[str]] = {}  # route rules only: what the explanation names
    for r in result.resources:
        if r.kind == "RouteRule" and r.where:
            where.setdefault(f"{r.namespace}/{r.name}", []).append(r.where)
    for key, source_key in built.compiled.sources.items():
        origin = by_key.get(source_key)
        if key[0] == "RouteRule" and origin is not None and origin.where and origin.key != key:
            where.setdefault(f"{key[1]}/{key[2]}", []).append(
                f"{origin.where} ({origin.kind.split('.')[0]} {origin.name})")
    # two sources compiling to one name (a native rule and a VirtualService): say both
    return json.loads(built.json), {k: " or ".join(v) for k, v in where.items()}


class _State:
    """What the Routing addon reads: the snapshot in force."""

    def __init__(self, snapshot):
        self.snapshot = snapshot


def _flow(method: str, url: str, headers: list[tuple[str, str]]):
    from mitmproxy import http
    from mitmproxy.test import tflow

    flow = tflow.tflow()
    flow.request = http.Request.make(method, url, headers=http.Headers(
        [(k.encode(), v.encode()) for k, v in headers]))
    return flow


def _simulate(snap, method: str, url: str, headers: list[tuple[str, str]], count: int,
              where: dict[str, str] | None = None, scope: dict | None = None) -> dict:
    from meshtool.sidecar import flowkeys
    from meshtool.sidecar.addons.egress import allowing_rule
    from meshtool.sidecar.addons.routing import Routing

    routing = Routing(_State(snap))
    flow = _flow(method, url, headers)
    routing.request(flow)
    md = flow.metadata
    answer: dict = {"request": f"{method} {url}", "snapshot": snap.version}
    if flowkeys.EXTERNAL in md:
        host, port = md[flowkeys.EXTERNAL]
        allow = allowing_rule(snap.egress, host, port)
        answer["destination"] = {"external": f"{host}:{port}"}
        if scope:  # a live proxy: the host may be a mesh service outside what it receives
            answer["destination"]["scope"] = scope_sentence(scope)
        answer["egress"] = ({"allowed": True, "rule": allow.name} if allow is not None
                            else {"allowed": False, "reason": "no EgressRule allows it: the "
                                  "sidecar answers 403"})
        return answer
    svc = md[flowkeys.SERVICE]
    answer["destination"] = {"service": f"{svc.name}.{svc.namespace}"}
    chosen = md.get(flowkeys.RULE)
    considered = []
    for rule in snap.rules.get((svc.namespace, svc.name), ()):
        probe = _flow(method, url, headers)
        matched = Routing._choose([rule], probe.request) is not None
        entry = {"rule": f"RouteRule {rule.name}", "precedence": rule.precedence,
                 **({"source": where[rule.name]} if where and rule.name in where else {}),
                 "match": [f"{_matcher_name(m.name)} {m.kind} {m.value!r}" for m in rule.matchers]
                 or ["any request"]}
        if rule is chosen:
            entry["result"] = "matched: applies"
        elif matched:
            entry["result"] = (f"would match, but {chosen.name} (precedence {chosen.precedence}) "
                               "is tried first")
        else:
            entry["result"] = "does not match this request"
        considered.append(entry)
    answer["rules"] = considered
    if flow.response is not None:
        answer["response"] = {"status": flow.response.status_code,
                              "why": flow.response.headers.get("x-meshtool-error")
                              or flow.response.headers.get("location", "")}
        return answer
    subset = md[flowkeys.SUBSET]
    if chosen is not None and chosen.split.items:
        total = chosen.split.total
        answer["split"] = [{"labels": s.labels, "weight": w * 100 // total if total else 0}
                           for s, w in chosen.split.items]
    answer["subset"] = {"labels": subset.labels}
    answer["endpoints"] = [f"{e.address}:{e.port}" for e in md.get(flowkeys.ENDPOINTS, [])]
    policies = {}
    if chosen is not None:
        if chosen.timeout:
            policies["timeout"] = f"{chosen.timeout:g}s"
        if chosen.retry:
            policies["retries"] = chosen.retry.describe()
        if chosen.delay:
            policies["fault delay"] = f"{chosen.delay.seconds:g}s on {chosen.delay.rate.percent:g}%"
        if chosen.abort:
            policies["fault abort"] = f"HTTP {chosen.abort.status} on {chosen.abort.rate.percent:g}%"
        if chosen.mirror is not None:
            policies["mirror"] = str(chosen.mirror.labels)
    if subset.breaker is not None:
        policies["circuit breaker"] = {k: v for k, v in vars(subset.breaker).items() if v is not None}
    answer["policies"] = policies
    if count > 1:
        tally: Counter = Counter()
        tally[_label(subset.labels)] += 1
        for _ in range(count - 1):
            f = _flow(method, url, headers)
            routing.request(f)
            sub = f.metadata.get(flowkeys.SUBSET)
            tally[_label(sub.labels) if sub is not None else "(no route)"] += 1
        answer["distribution"] = dict(sorted(tally.items()))
    return answer


def scope_sentence(scope: dict) -> str:
    """What a proxy receives, in words (the scope the control plane reports for it)."""
    hosts = ", ".join(scope.get("hosts") or [])
    by = (f"Sidecar {scope['sidecar']}" if scope.get("sidecar")
          else f"the default: its namespace {scope.get('namespace')}")
    return (f"this proxy receives the services matching {hosts} ({by}) and those its rules "
            f"name; any other host is treated as external")


def _matcher_name(name: str) -> str:
    from meshtool.model.types import QUERY

    return f"query parameter {name[1:]}" if name.startswith(QUERY) else name


def _label(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(all endpoints)"


def _text(a: dict) -> str:
    lines = [f"request      {a['request']} (snapshot {a['snapshot']})"]
    dest = a["destination"]
    if "external" in dest:
        lines.append(f"destination  {dest['external']}: outside the mesh"
                     + (" or this proxy's scope" if dest.get("scope") else ""))
        if dest.get("scope"):
            lines.append(f"scope        {dest['scope']}")
        eg = a["egress"]
        lines.append(f"egress       allowed by EgressRule {eg['rule']}" if eg["allowed"]
                     else f"egress       denied: {eg['reason']}")
        return "\n".join(lines) + "\n"
    lines.append(f"destination  service {dest['service']}")
    for r in a.get("rules", []) or [{"rule": "(no RouteRule for this service)", "result":
                                     "all endpoints of the service", "match": [],
                                     "precedence": "-"}]:
        lines.append(f"rule         {r['rule']} (precedence {r['precedence']}): {r['result']}")
        if r.get("source"):
            lines.append(f"               from: {r['source']}")
        if r["match"]:
            lines.append(f"               match: {'; '.join(r['match'])}")
    if "response" in a:
        lines.append(f"answer       HTTP {a['response']['status']} from the sidecar: "
                     f"{a['response']['why']}")
        return "\n".join(lines) + "\n"
    for s in a.get("split", []):
        lines.append(f"split        {_label(s['labels'])}: weight {s['weight']}")
    lines.append(f"subset       {_label(a['subset']['labels'])} (this request)")
    lines.append(f"endpoints    {', '.join(a['endpoints']) or 'none'}")
    for k, v in a.get("policies", {}).items():
        lines.append(f"policy       {k}: {v}")
    for k, v in a.get("distribution", {}).items():
        lines.append(f"distribution {k}: {v}")
    return "\n".join(lines) + "\n"
