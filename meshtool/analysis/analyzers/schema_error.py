"""Rules that fail validation: the loader's findings (the checks of `meshtool validate`)."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.model.kinds import NATIVE_KINDS


def run(ctx: Context) -> None:
    for finding in ctx.load_findings:
        kind, _, name = (finding.resource or "").partition("/")
        ctx.report_at("MT0001", kind=kind or None, name=name or None, file=finding.file,
                      line=finding.line, field=finding.field,
                      field_prefix=f"{finding.field}: " if finding.field else "",
                      problem=finding.message)


ANALYZER = Analyzer(
    name="schema-error",
    description="Rules must pass their JSON Schema and semantic checks (as `meshtool validate`).",
    kinds=NATIVE_KINDS,
    codes=("MT0001",),
    run=run,
)
