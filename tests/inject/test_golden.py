"""The golden table: testdata/NAME.yaml -> NAME.yaml.injected (+ NAME.yaml.report).

Regenerate after an intended change with MESHTOOL_UPDATE_GOLDEN=1 and review the diff.
The same table is meant to drive the admission webhook.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from meshtool.inject.config import InjectConfig
from meshtool.inject.decide import LEGACY, REASONS, TEMPLATE_PATHS
from meshtool.inject.pipeline import INJECT, UNINJECT, transform_source
from meshtool.rules.sources import Source

TESTDATA = Path(__file__).with_name("testdata")
CASES = sorted(p for p in TESTDATA.iterdir() if p.suffix in (".yaml", ".json"))
UPDATE = os.environ.get("MESHTOOL_UPDATE_GOLDEN") == "1"
K8S_VERSIONS = ("1.30.0", "1.33.0")


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # keeps CRLF and a missing final newline


def run(path: Path, mode: str, text: str | None = None) -> tuple[str, list[str]]:
    source = Source(path.name, read(path) if text is None else text, path)
    out, located = transform_source(source, mode, InjectConfig())
    lines = []
    for item in located:
        lines.append(item.report.line)
        lines += [f"warning: {item.file}:{item.line}: {w}" for w in item.report.warnings]
    return out, lines


def golden(path: Path, suffix: str, actual: str) -> str:
    target = path.with_name(path.name + suffix)
    if UPDATE:
        target.write_bytes(actual.encode("utf-8"))
    assert target.exists(), f"{target.name} missing: run with MESHTOOL_UPDATE_GOLDEN=1"
    return read(target)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_inject_matches_golden(case):
    out, report = run(case, INJECT)
    assert out == golden(case, ".injected", out)
    text = "\n".join(report) + "\n"
    assert text == golden(case, ".report", text)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_injecting_again_changes_nothing(case):
    injected = read(case.with_name(case.name + ".injected"))
    again, _ = run(case, INJECT, injected)
    assert again == injected


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_uninject_restores_the_input_byte_for_byte(case):
    injected = read(case.with_name(case.name + ".injected"))
    back, report = run(case, UNINJECT, injected)
    assert back == read(case)
    if injected != read(case):
        assert any(line.endswith(" uninjected") for line in report)


def _objects(text: str):
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from doc["items"]
        elif isinstance(doc, dict):
            yield doc


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_injected_output_is_valid_kubernetes(case, version):
    import kubernetes_validate

    checked = 0
    for obj in _objects(read(case.with_name(case.name + ".injected"))):
        if obj.get("apiVersion") in LEGACY:
            continue  # not served since 1.16: no schema to check against
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked or "legacy" in case.name


def test_the_validator_rejects_a_broken_sidecar():
    import kubernetes_validate

    obj = next(_objects(read(TESTDATA / "pod.yaml.injected")))
    obj["spec"]["containers"][-1]["securityContext"]["runAsUser"] = "root"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)


def test_the_table_covers_every_kind_and_every_skip_reason():
    kinds, reports = set(), ""
    for case in CASES:
        kinds |= {o.get("kind") for o in _objects(read(case))}
        reports += read(case.with_name(case.name + ".report"))
    assert set(TEMPLATE_PATHS) <= kinds
    assert {"List"} & {yaml.safe_load(read(c)).get("kind") for c in CASES if c.suffix == ".yaml"
                       and "multi" not in c.name and "odd" not in c.name}
    for code, sentence in REASONS.items():
        if code in ("not-injected", "unmanaged-sidecar"):
            continue  # uninject-only, and a hand-made shape: tested in test_injector.py
        head = sentence.split("{")[0]
        assert head in reports, f"no golden case for skip reason {code}"
    assert "warning:" in reports  # legacy apiVersions
