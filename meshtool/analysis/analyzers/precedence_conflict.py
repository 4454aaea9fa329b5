"""RouteRules for one destination with the same precedence whose matches overlap."""

from __future__ import annotations

from collections import defaultdict

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import Item
from meshtool.analysis.matching import disjoint, match_of


def run(ctx: Context) -> None:
    for destination, rules in ctx.index.routes_by_destination.items():
        if len(rules) < 2:
            continue
        by_precedence: dict[int, list[Item]] = defaultdict(list)
        for rule in rules:
            route = ctx.index.model(rule)
            if route is not None:  # a broken rule is MT0001's
                by_precedence[route.precedence].append(rule)
        for prec, group in by_precedence.items():
            matches = [match_of(r.spec) for r in group]
            for j in range(1, len(group)):
                for i in range(j):
                    if not disjoint(matches[i], matches[j]):
                        ctx.report("MT0102", group[j], ("spec", "precedence"),
                                   name=group[j].name, other=group[i].name,
                                   service=destination.display, precedence=prec)
                        break


ANALYZER = Analyzer(
    name="precedence-conflict",
    description="RouteRules for one destination must not share a precedence when their matches "
                "overlap: the order between them would be undefined.",
    kinds=("RouteRule",),
    codes=("MT0102",),
    run=run,
)
