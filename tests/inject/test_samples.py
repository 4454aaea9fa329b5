"""The sample scenarios' manifests inject, validate and come back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshtool.inject.config import InjectConfig
from meshtool.inject.pipeline import INJECT, UNINJECT, transform_source
from meshtool.rules.sources import Source

SAMPLES = sorted((Path(__file__).parents[2] / "samples").glob("*/kubernetes.yaml"))


def test_every_scenario_has_manifests():
    assert [p.parent.name for p in SAMPLES] == ["canary", "egress", "helloworld"]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name)
def test_sample_manifests(path):
    import kubernetes_validate

    text = path.read_text()
    out, located = transform_source(Source(path.name, text, path), INJECT, InjectConfig())
    assert any(item.report.action == "injected" for item in located)
    again, _ = transform_source(Source(path.name, out, path), INJECT, InjectConfig())
    assert again == out
    back, _ = transform_source(Source(path.name, out, path), UNINJECT, InjectConfig())
    assert back == text
    for doc in yaml.safe_load_all(out):
        if doc:
            kubernetes_validate.validate(doc, "1.33.0", strict=True)
