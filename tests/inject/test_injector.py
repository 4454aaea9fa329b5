"""The injector's decisions and edits beyond the golden table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meshtool.inject.config import STATUS_KEY, InjectConfig
from meshtool.inject.pipeline import INJECT, UNINJECT, BadInput, transform_object, transform_text

TESTDATA = Path(__file__).with_name("testdata")
CONFIG = InjectConfig()


def read(name: str) -> str:
    return (TESTDATA / name).read_bytes().decode()


def test_an_older_injection_is_upgraded_in_place():
    current = read("deployment.yaml.injected")
    old = current.replace('"version":"0.1.0"', '"version":"0.0.9"').replace(
        "meshtool/meshtool:0.1.0", "meshtool/meshtool:0.0.9").replace("- --mode\n", "- --legacy\n")
    assert old != current
    out, reports = transform_text(old, INJECT, CONFIG)
    assert out == current
    assert [r.line for r in reports] == ["deployment/svca injected"]


def test_a_meshtool_container_without_status_is_left_alone():
    text = read("deployment.yaml.injected").replace(f"        {STATUS_KEY}:", "        other:")
    out, reports = transform_text(text, INJECT, CONFIG)
    assert out == text
    assert reports[0].line.startswith("deployment/svca skipped: has a meshtool-init container")


def test_uninject_reports_documents_that_were_not_injected():
    out, reports = transform_text(read("deployment.yaml"), UNINJECT, CONFIG)
    assert out == read("deployment.yaml")
    assert [r.line for r in reports] == ["deployment/svca skipped: not injected"]


def test_an_unreadable_status_annotation_is_bad_input():
    text = read("deployment.yaml.injected").replace(f"{STATUS_KEY}: '{{", f"{STATUS_KEY}: '[")
    with pytest.raises(BadInput) as exc:
        transform_text(text, UNINJECT, CONFIG)
    assert exc.value.line == 17 and "cannot read" in str(exc.value)


def test_objects_are_injected_like_text():
    """The entry point for callers holding objects (the admission webhook)."""
    for name in ("pod.yaml", "deployment.yaml", "cronjob.yaml", "traffic-annotations.yaml"):
        obj = yaml.safe_load(read(name))
        out, reports = transform_object(obj, INJECT, CONFIG)
        expected = yaml.safe_load(read(name + ".injected"))
        # the status keeps originals as JSON here rather than as the file's text
        assert _without_status(out) == _without_status(expected)
        assert obj == yaml.safe_load(read(name))  # the input is not modified
        assert transform_object(out, UNINJECT, CONFIG)[0] == obj


def _without_status(obj: dict) -> dict:
    obj = json.loads(json.dumps(obj))
    pod = obj if obj["kind"] == "Pod" else obj["spec"]["template"] if obj["kind"] != "CronJob" \
        else obj["spec"]["jobTemplate"]["spec"]["template"]
    pod["metadata"]["annotations"].pop(STATUS_KEY)
    return obj


NULL_ANNOTATIONS = """\
apiVersion: v1
kind: Pod
metadata:
  name: nulls  # kept
  annotations:
spec:
  containers:
    - name: app
      image: nginx
"""


def test_null_collections_are_replaced_and_restored_exactly():
    text = NULL_ANNOTATIONS.replace("spec:\n", "spec:\n  initContainers: ~  # none yet\n")
    out, reports = transform_text(text, INJECT, CONFIG)
    assert reports[0].action == "injected"
    data = yaml.safe_load(out)
    assert STATUS_KEY in data["metadata"]["annotations"]
    assert data["spec"]["initContainers"][0]["name"] == "meshtool-init"
    assert "    - name: meshtool-proxy" in out  # the document's indentation
    assert transform_text(out, INJECT, CONFIG)[0] == out
    assert transform_text(out, UNINJECT, CONFIG)[0] == text


def test_json_that_yaml_cannot_parse_is_rewritten_as_json():
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "slash", "annotations": {"a": "x/y"}},
           "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    text = json.dumps(obj, indent=2).replace("x/y", "x\\/y") + "\n"
    out, _ = transform_text(text, INJECT, CONFIG, is_json=True)
    assert json.loads(out)["spec"]["containers"][-1]["name"] == "meshtool-proxy"
    assert out.startswith('{\n  "apiVersion"')


def test_named_probe_ports_are_resolved_for_the_proxy():
    out, _ = transform_text(read("pod.yaml"), INJECT, CONFIG)
    proxy = yaml.safe_load(out)["spec"]["containers"][-1]
    probes = json.loads(next(e["value"] for e in proxy["env"] if e["name"] == "MESHTOOL_APP_PROBES"))
    assert probes == {
        "/app-health/web/readyz": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"}},
        "/app-health/web/livez": {"tcpSocket": {"port": 80}},
        "/app-health/grpc/readyz": {"grpc": {"port": 9090}},
    }
    assert "--app-port" in proxy["args"] and proxy["args"][-3:] == ["80", "--app-port", "9090"]


def test_shapes_text_editing_cannot_take_are_rewritten_through_ruamel(monkeypatch):
    from meshtool.inject import pipeline
    from meshtool.inject.textdoc import Unsupported

    class NoText:
        def __init__(self, *args, **kw):
            raise Unsupported("forced")

    monkeypatch.setattr(pipeline, "TextDoc", NoText)
    text = read("comments-and-odd-formatting.yaml")
    out, reports = transform_text(text, INJECT, CONFIG)
    assert reports[0].action == "injected"
    assert "# a comment after the containers, before the volumes" in out  # comments survive
    assert "                -   name: meshtool-proxy" in out  # in the document's indentation
    assert yaml.safe_load(transform_text(out, UNINJECT, CONFIG)[0]) == yaml.safe_load(text)
