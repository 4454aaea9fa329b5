"""The scenarios of samples/ analyse clean: each stage of each scenario, in its native and
foreign forms, together with the scenario's Kubernetes manifests (also once injected)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meshtool.analysis import analyze
from meshtool.analysis.inputs import read_files
from meshtool.rules.sources import Source, read_sources

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SCENARIOS = ("canary", "egress", "helloworld")


def stages():
    for name in SCENARIOS:
        root = SAMPLES / name
        for rules in sorted(root.glob("rules/*.yaml")):
            yield name, [rules]
        for foreign in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "rules"):
            files = sorted(foreign.glob("*.yaml"))
            if (foreign / "virtualservice.yaml").exists():  # needs its DestinationRule
                yield name, files
            else:
                for f in files:
                    yield name, [f]


STAGES = list(stages())


def test_every_scenario_has_stages():
    assert {name for name, _ in STAGES} == set(SCENARIOS)


@pytest.mark.parametrize("scenario,rules", STAGES,
                         ids=[f"{n}:{'+'.join(p.name for p in r)}" for n, r in STAGES])
def test_scenario_stage_analyses_clean(scenario, rules):
    files = [str(SAMPLES / scenario / "kubernetes.yaml")] + [str(r) for r in rules]
    report = analyze(read_files(read_sources(files)))
    assert report.resources > 2
    assert report.messages == [], "\n".join(map(str, report.messages))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_injected_scenario_analyses_clean(scenario):
    manifests = SAMPLES / scenario / "kubernetes.yaml"
    injected = subprocess.run([sys.executable, "-m", "meshtool", "kube-inject", "-f",
                               str(manifests)], capture_output=True, text=True, check=True).stdout
    rules = sorted((SAMPLES / scenario / "rules").glob("*.yaml"))[0]
    sources = [Source("injected.yaml", injected)] + read_sources([str(rules)])
    report = analyze(read_files(sources))
    assert report.messages == [], "\n".join(map(str, report.messages))
