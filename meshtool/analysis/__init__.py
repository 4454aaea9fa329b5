"""Cross-resource analysis: how rules, Services and workloads fit together.

`analyze(inputs)` indexes the input once, runs every registered analyzer over the index
and returns a Report of Diagnostics (code, level, resource, file:line, sentence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context, Diagnostic
from meshtool.analysis.index import Index
from meshtool.analysis.inputs import Inputs
from meshtool.analysis.messages import Level
from meshtool.analysis.registry import all_analyzers
from meshtool.analysis.suppress import Suppression


@dataclass
class Report:
    messages: list[Diagnostic]
    analyzers: tuple[Analyzer, ...]
    resources: int  # objects analysed
    suppressed: int = 0
    counts: dict[Level, int] = field(default_factory=dict)

    def at_or_above(self, level: Level) -> list[Diagnostic]:
        return [m for m in self.messages if m.level >= level]


def analyze(inputs: Inputs, *, suppressions: Iterable[Suppression] = (),
            analyzers: Iterable[Analyzer] | None = None) -> Report:
    chosen = tuple(analyzers) if analyzers is not None else all_analyzers()
    ctx = Context(Index(inputs.items), suppressions, inputs.load_findings)
    for analyzer in chosen:
        ctx.analyzer = analyzer
        analyzer.run(ctx)
    messages = sorted(ctx.messages, key=Diagnostic.sort_key)
    counts = {level: sum(1 for m in messages if m.level == level) for level in Level}
    return Report(messages, chosen, len(inputs.items) + len(inputs.load_findings),
                  ctx.suppressed, counts)


__all__ = ["Report", "analyze", "Diagnostic", "Inputs", "Level"]
