"""RouteRules that can never apply: an earlier (higher precedence) rule matches every
request they match."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.analyzers.precedence_conflict import precedence
from meshtool.analysis.context import Context
from meshtool.analysis.matching import covers, match_of


def run(ctx: Context) -> None:
    for rules in ctx.index.routes_by_destination.values():
        if len(rules) < 2:
            continue
        ordered = sorted(rules, key=precedence, reverse=True)  # tried first, first
        matches = [match_of(r.spec) for r in ordered]
        for j, rule in enumerate(ordered):
            for i in range(j):
                earlier = ordered[i]
                if precedence(earlier) > precedence(rule) and covers(matches[i], matches[j]):
                    ctx.report("MT0103", rule, ("spec", "match") if rule.spec.get("match")
                               else ("spec", "precedence"), other=earlier.name,
                               other_precedence=precedence(earlier))
                    break


ANALYZER = Analyzer(
    name="shadowed-match",
    description="A RouteRule whose match is covered by a higher-precedence rule for the same "
                "destination is never used.",
    kinds=("RouteRule",),
    codes=("MT0103",),
    run=run,
)
