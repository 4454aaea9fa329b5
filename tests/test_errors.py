"""errors: findings render as file:line: resource: field: message; codes are the documented ones."""

from meshtool.errors import (DataError, ExitCode, Finding, IssuesFound, MeshtoolError, UsageError)


def test_exit_codes_are_the_documented_ones():
    assert [int(c) for c in ExitCode] == [0, 1, 64, 65, 79]
    assert UsageError().exit_code == 64
    assert DataError().exit_code == 65
    assert IssuesFound().exit_code == 79
    assert MeshtoolError().exit_code == 1


def test_finding_renders_every_part_it_has():
    f = Finding("weights sum to 110, must be 100", "r.yaml", 12, "spec.route[1].weight", "RouteRule/x")
    assert str(f) == "r.yaml:12: RouteRule/x: spec.route[1].weight: weights sum to 110, must be 100"
    assert str(Finding("bad", "r.yaml")) == "r.yaml: bad"
    assert str(Finding("bad")) == "bad"


def test_error_with_many_findings_prints_one_line_each_and_a_hint():
    err = DataError(findings=[Finding("a", "f", 1), Finding("b", "f", 2)], hint="see docs")
    assert err.lines() == ["f:1: a", "f:2: b", "hint: see docs"]
    assert str(err) == "f:1: a"


def test_a_finding_stays_on_one_line_whatever_the_input_holds():
    f = Finding("bad name", "r.yaml", 4, "metadata.name", "RouteRule/reviews\n")
    assert str(f) == "r.yaml:4: RouteRule/reviews\\n: metadata.name: bad name"
