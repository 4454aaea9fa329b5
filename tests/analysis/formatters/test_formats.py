"""Every report format, on a report with errors, warnings, infos and a message without a
file: SARIF against the SARIF 2.1.0 schema, JUnit as XML, GitHub workflow commands."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from meshtool.analysis import Level, analyze
from meshtool.analysis.formatters import FORMATS, Options, render
from meshtool.analysis.inputs import read_files
from meshtool.rules.sources import Source, read_sources

CASES = Path(__file__).resolve().parents[1] / "cases"
# The SARIF 2.1.0 schema (2.1.0-rtm.5, the OASIS standard's final schema), vendored from the
# npm package @microsoft/jest-sarif 1.0.0-beta.0 (lib/schemas/sarif-2.1.0-rtm.5.json, MIT).
SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def report():
    files = [str(CASES / "_base" / "reviews.yaml"),
             str(CASES / "subset-no-workload" / "fires.yaml"),
             str(CASES / "port-protocol" / "fires.yaml"),
             str(CASES / "egress-overlap" / "fires.yaml")]
    rules_only = Source("<stdin>", "apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\n"
                                   "metadata: {name: x}\nspec: {destination: {name: reviews}}\n")
    rep = analyze(read_files(read_sources(files) + [rules_only]))
    assert {m.level for m in rep.messages} == set(Level)
    return rep


@pytest.fixture(scope="module")
def lonely():
    """Only rules, no Services: MT0002 has neither resource nor file."""
    return analyze(read_files(read_sources([str(CASES / "destination-not-found" /
                                                 "fires-no-services.yaml")])))


def test_sarif_is_valid_sarif_2_1_0(report, lonely):
    schema = json.loads(SARIF_SCHEMA.read_text())
    for rep in (report, lonely):
        log = json.loads(render("sarif", rep, rep.messages))
        jsonschema.Draft4Validator(schema).validate(log)
        results = log["runs"][0]["results"]
        assert len(results) == len(rep.messages)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    for result in json.loads(render("sarif", report, report.messages))["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")


def test_sarif_locations_are_relative_uris_with_lines(report):
    log = json.loads(render("sarif", report, report.messages))
    located = [r for r in log["runs"][0]["results"] if "physicalLocation" in r["locations"][0]]
    assert located
    for r in located:
        phys = r["locations"][0]["physicalLocation"]
        assert phys["region"]["startLine"] >= 1
        assert "\\" not in phys["artifactLocation"]["uri"]
    stdin = [r for r in log["runs"][0]["results"] if r["locations"][0].get(
        "logicalLocations", [{}])[0].get("name") == "x"]
    assert stdin and "physicalLocation" not in stdin[0]["locations"][0]


def test_json_lists_every_message(report):
    data = json.loads(render("json", report, report.messages))
    assert [d["code"] for d in data] == [m.code for m in report.messages]
    first = data[0]
    assert {"code", "level", "name", "message", "analyzer"} <= set(first)


def test_junit_has_a_case_per_message_and_per_quiet_analyzer(report):
    xml = render("junit", report, report.messages, Options(failure_threshold=Level.WARNING))
    root = ET.fromstring(xml.split("\n", 1)[1])
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    quiet = {a.name for a in report.analyzers} - {m.analyzer for m in report.messages}
    assert len(cases) == len(report.messages) + len(quiet)
    failures = suite.findall("testcase/failure")
    assert len(failures) == int(suite.get("failures")) == \
        len([m for m in report.messages if m.level >= Level.WARNING])


def test_github_commands_escape_and_locate(report):
    out = render("github", report, report.messages).splitlines()
    assert len(out) == len(report.messages)
    for line, m in zip(out, report.messages):
        kind = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}[m.level]
        assert line.startswith(f"::{kind} ")
        if m.file and m.file != "<stdin>":
            assert f"line={m.line}," in line
        assert "\n" not in line and m.code in line


def test_github_escapes_percent_and_newlines():
    from meshtool.analysis.formatters.github_format import _data, _prop

    assert _data("50%\nnext") == "50%25%0Anext"
    assert _prop("a:b,c") == "a%3Ab%2Cc"


def test_text_is_one_line_per_message_coloured_only_on_request(report):
    plain = render("text", report, report.messages)
    assert plain.count("\n") == len(report.messages) and "\033[" not in plain
    coloured = render("text", report, report.messages, Options(color=True))
    assert "\033[1;31mError\033[0m [" in coloured


def test_every_format_renders_an_empty_report(lonely):
    for fmt in FORMATS:
        render(fmt, lonely, [])
