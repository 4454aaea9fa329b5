"""Meta-tests of the registry itself: every analyzer listed, named uniquely, described,
reading declared kinds, tested by firing and clean cases; every code used and tested."""

from __future__ import annotations

import pkgutil
from collections import Counter

import meshtool.analysis.analyzers as analyzers_pkg
from casefiles import all_cases
from meshtool.analysis.messages import MESSAGES, Level
from meshtool.analysis.registry import MODULES, all_analyzers


def test_every_analyzer_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(analyzers_pkg.__path__)}
    assert modules == set(MODULES)


def test_analyzers_are_named_uniquely_and_described():
    analyzers = all_analyzers()
    names = Counter(a.name for a in analyzers)
    assert all(n == 1 for n in names.values()), names
    for a in analyzers:
        assert a.name and a.name == a.name.lower() and " " not in a.name
        assert len(a.description) > 20 and a.description.endswith(".")
        assert a.kinds and a.codes and callable(a.run)


def test_every_code_belongs_to_exactly_one_analyzer():
    owners = Counter(code for a in all_analyzers() for code in a.codes)
    assert set(owners) == set(MESSAGES)
    assert all(n == 1 for n in owners.values()), owners


def test_message_table_is_well_formed():
    for code, m in MESSAGES.items():
        assert m.code == code and code.startswith("MT") and len(code) == 6 and code[2:].isdigit()
        assert m.name[0].isupper() and " " not in m.name
        assert isinstance(m.level, Level)
        assert m.description.endswith(".")


def test_every_analyzer_has_a_firing_and_a_clean_case():
    cases = all_cases()
    for a in all_analyzers():
        mine = [c for c in cases if c.analyzer == a.name]
        assert any(c.path.stem.startswith("fires") and c.expect for c in mine), a.name
        assert any(c.path.stem.startswith("clean") and not c.expect for c in mine), a.name
        # a firing case fires this analyzer's own codes
        fired = {code for c in mine for code in c.expect}
        assert fired <= set(a.codes) | {"MT0001"}, (a.name, fired)


def test_every_code_is_expected_by_some_case():
    expected = {code for c in all_cases() for code in c.expect}
    assert expected == set(MESSAGES)


def test_case_directories_name_registered_analyzers():
    names = {a.name for a in all_analyzers()}
    assert {c.analyzer for c in all_cases()} <= names


def test_docs_list_every_code_and_analyzer():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "analyze.md").read_text()
    for code, m in MESSAGES.items():
        assert f"| {code} | {m.level.title} | {m.name} |" in docs, code
    for a in all_analyzers():
        assert f"`{a.name}`" in docs, a.name
