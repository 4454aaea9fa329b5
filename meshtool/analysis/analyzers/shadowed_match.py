"""RouteRules that can never apply: an earlier (higher precedence) rule matches every
request they match."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.matching import covers, match_of


def run(ctx: Context) -> None:
    for rules in ctx.index.routes_by_destination.values():
        routes = [(r, ctx.index.model(r)) for r in rules]
        routes = [(r, m) for r, m in routes if m is not None]  # a broken rule is MT0001's
        if len(routes) < 2:
            continue
        ordered = sorted(routes, key=lambda rm: rm[1].precedence, reverse=True)  # tried first
        matches = [match_of(r.spec) for r, _ in ordered]
        for j, (rule, route) in enumerate(ordered):
            for i in range(j):
                earlier, other = ordered[i]
                if other.precedence > route.precedence and covers(matches[i], matches[j]):
                    ctx.report("MT0103", rule, ("spec", "match") if rule.spec.get("match")
                               else ("spec", "precedence"), other=earlier.name,
                               other_precedence=other.precedence)
                    break

ANALYZER = Analyzer(
    name="shadowed-match",
    description="A RouteRule whose match is covered by a higher-precedence rule for the same "
                "destination is never used.",
    kinds=("RouteRule",),
    codes=("MT0103",),
    run=run,
)
