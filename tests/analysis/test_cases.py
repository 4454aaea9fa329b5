"""The table of cases: input files -> the exact codes analysis reports."""

from __future__ import annotations

import pytest

from casefiles import all_cases  # noqa: E402 (tests/analysis is on sys.path via conftest)
from meshtool.analysis import analyze
from meshtool.analysis.inputs import read_files
from meshtool.rules.sources import read_sources

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_reports_exactly_the_expected_codes(case):
    report = analyze(read_files(read_sources(case.files)))
    got = tuple(sorted(m.code for m in report.messages))
    assert got == case.expect, "\n".join(str(m) for m in report.messages)


@pytest.mark.parametrize("case", [c for c in CASES if c.expect], ids=lambda c: c.id)
def test_every_message_names_file_line_and_resource(case):
    report = analyze(read_files(read_sources(case.files)))
    for m in report.messages:
        if m.code == "MT0002":  # about the input as a whole
            continue
        assert m.file and m.line and m.line > 0, str(m)
        assert m.kind and m.name, str(m)
        assert str(m).startswith(f"{m.level.title} [{m.code}] ({m.kind} {m.name}")
