"""SARIF 2.1.0, the format GitHub code scanning (and others) read to show findings inline.

Every message code is a reporting descriptor (a "rule") of the driver; results point at
the file and line when the resource came from a file, and always name the resource as a
logical location.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from meshtool import __version__
from meshtool.analysis.messages import MESSAGES, Level

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "note"}


def _artifact(file: str) -> dict:
    path = Path(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": file.replace(os.sep, "/"), "uriBaseId": "%SRCROOT%"}


def _rules() -> list[dict]:
    return [{
        "id": t.code,
        "name": t.name,
        "shortDescription": {"text": t.description},
        "fullDescription": {"text": t.description},
        "defaultConfiguration": {"level": LEVELS[t.level]},
        "help": {"text": t.description},
    } for t in MESSAGES.values()]


def _result(m, rule_index: dict[str, int]) -> dict:
    result = {
        "ruleId": m.code,
        "ruleIndex": rule_index[m.code],
        "level": LEVELS[m.level],
        "message": {"text": f"{m.resource}: {m.text}" if m.resource else m.text},
    }
    location: dict = {}
    if m.file and m.file != "<stdin>":
        location["physicalLocation"] = {"artifactLocation": _artifact(m.file),
                                        "region": {"startLine": max(1, m.line or 1)}}
    if m.kind:
        qualified = "/".join(p for p in (m.kind, m.namespace, m.name) if p)
        location["logicalLocations"] = [{"name": m.name or m.kind,
                                          "fullyQualifiedName": qualified, "kind": "resource"}]
    if location:
        result["locations"] = [location]
    return result


def render(report, messages, options) -> str:
    rules = _rules()
    rule_index = {r["id"]: i for i, r in enumerate(rules)}
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "meshtool", "version": __version__, "rules": rules}},
            "results": [_result(m, rule_index) for m in messages],
        }],
    }
    return json.dumps(log, indent=2) + "\n"
