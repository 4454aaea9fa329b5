"""JUnit XML: one test case per analyzer that found nothing, one per message otherwise; a
message at or above the failure threshold is a failure, below it a passing case with output."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict


def render(report, messages, options) -> str:
    by_analyzer = defaultdict(list)
    for m in messages:
        by_analyzer[m.analyzer].append(m)
    suite = ET.Element("testsuite", name="meshtool analyze")
    tests = failures = 0
    for analyzer in report.analyzers:
        found = by_analyzer.get(analyzer.name, [])
        if not found:
            ET.SubElement(suite, "testcase", classname=analyzer.name, name=analyzer.name)
            tests += 1
        for m in found:
            case = ET.SubElement(suite, "testcase", classname=analyzer.name,
                                 name=f"[{m.code}] {m.resource or m.type.name}")
            if m.file:
                case.set("file", m.file)
            if m.line:
                case.set("line", str(m.line))
            tests += 1
            if m.level >= options.failure_threshold:
                failures += 1
                failure = ET.SubElement(case, "failure", message=m.text, type=m.level.title)
                failure.text = str(m)
            else:
                ET.SubElement(case, "system-out").text = str(m)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element("testsuites", name="meshtool", tests=str(tests), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
