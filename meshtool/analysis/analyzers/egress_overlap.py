"""EgressRules that open the same host and port twice, or overlapping hosts on one port.

Indexed by (pattern, port): a name is checked against the wildcards of its own parent
domains and '*', never against every other rule; only IP ranges (few) compare pairwise.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import Item
from meshtool.model.hosts import is_ip_pattern


@dataclass(frozen=True)
class Opening:
    rule: Item
    host: str
    port: int
    protocol: str
    index: int  # position in spec.ports


def _openings(ctx: Context, rule: Item) -> list[Opening]:
    egress = ctx.index.model(rule)
    if egress is None or not egress.ports:  # broken (MT0001's), or no port listed
        return []
    host = egress.pattern.lower().rstrip(".")
    return [Opening(rule, host, p.port, p.protocol, i) for i, p in enumerate(egress.ports)]


def _parents(host: str) -> list[str]:
    """'a.b.example.com' -> ['*.b.example.com', '*.example.com', '*.com', '*']."""
    labels = host.split(".")[1:] if host.startswith("*.") else host.split(".")
    return [f"*.{'.'.join(labels[i:])}" for i in range(1, len(labels))] + ["*"]


def run(ctx: Context) -> None:
    by_key: dict[tuple[str, int], list[Opening]] = defaultdict(list)
    ip_by_port: dict[int, list[Opening]] = defaultdict(list)
    for rule in ctx.index.egress_rules:
        for o in _openings(ctx, rule):
            by_key[(o.host, o.port)].append(o)
    for (host, port), same in by_key.items():
        first = same[0]
        if is_ip_pattern(host):
            ip_by_port[port].append(first)
        for o in same[1:]:
            if o.rule is first.rule:
                continue
            path = ("spec", "ports", o.index)
            if o.protocol == first.protocol:
                ctx.report("MT0200", o.rule, path, other=first.rule.name, host=host, port=port)
            else:
                ctx.report("MT0202", o.rule, path, host=host, port=port, protocol=o.protocol,
                           other_protocol=first.protocol, other=first.rule.name)
    for (host, port), same in by_key.items():
        if host == "*" or is_ip_pattern(host):
            continue
        for parent in _parents(host):
            wider = by_key.get((parent, port))
            if wider and wider[0].rule is not same[0].rule:
                o = same[0]
                ctx.report("MT0201", o.rule, ("spec", "destination", "service"), host=host,
                           port=port, other=wider[0].rule.name, other_host=parent)
                break
    for port, ranges in ip_by_port.items():
        nets = [(o, ipaddress.ip_network(o.host, strict=False)) for o in ranges]
        nets.sort(key=lambda pair: (pair[1].version, pair[1].prefixlen))
        for j, (o, net) in enumerate(nets):
            for other, wide in nets[:j]:
                if wide.version == net.version and wide.prefixlen < net.prefixlen and \
                        net.subnet_of(wide) and other.rule is not o.rule:
                    ctx.report("MT0201", o.rule, ("spec", "destination", "service"), host=o.host,
                               port=port, other=other.rule.name, other_host=other.host)
                    break


ANALYZER = Analyzer(
    name="egress-overlap",
    description="EgressRules must not open the same host and port twice (or with two protocols); "
                "overlapping patterns on one port are pointed out.",
    kinds=("EgressRule",),
    codes=("MT0200", "MT0201", "MT0202"),
    run=run,
)
