"""kube-inject / uninject wiring: files, stdin, -o, --in-place, reports, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TESTDATA = Path(__file__).parents[1] / "inject" / "testdata"
BADDATA = Path(__file__).parents[1] / "inject" / "baddata"


def meshtool(*args, stdin: str | None = None, cwd=None):
    return subprocess.run([sys.executable, "-m", "meshtool", *map(str, args)], capture_output=True,
                          text=True, input=stdin, cwd=cwd)


def golden(name: str) -> str:
    return (TESTDATA / name).read_bytes().decode()


def test_stdout_carries_only_yaml_and_reports_go_to_stderr():
    r = meshtool("kube-inject", "-f", TESTDATA / "multi-document.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout == golden("multi-document.yaml.injected")
    assert r.stderr.splitlines() == ["service/svca skipped: not a workload", "deployment/svca injected",
                                     "configmap/settings skipped: not a workload", "pod/last injected"]


def test_quiet_silences_reports_and_stdin_json_gives_json():
    r = meshtool("kube-inject", "-q", "-f", "-", stdin=golden("deployment.json"))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == golden("deployment.json.injected")
    json.loads(r.stdout)


def test_many_inputs_become_one_stream(tmp_path):
    r = meshtool("kube-inject", "-q", "-f", TESTDATA / "pod.yaml", "-f", TESTDATA / "deployment.json",
                 "-f", TESTDATA / "job.yaml")
    kinds = [d["kind"] for d in yaml.safe_load_all(r.stdout)]
    assert kinds == ["Pod", "Deployment", "Job"]


def test_in_place_on_the_same_file_then_uninject_restores_it(tmp_path):
    target = tmp_path / "app.yaml"
    shutil.copy(TESTDATA / "comments-and-odd-formatting.yaml", target)
    original = target.read_bytes()
    r = meshtool("kube-inject", "-f", target, "--in-place")
    assert r.returncode == 0 and r.stdout == ""
    assert target.read_bytes() == (TESTDATA / "comments-and-odd-formatting.yaml.injected").read_bytes()
    r = meshtool("uninject", "-f", target, "--in-place", "-q")
    assert r.returncode == 0
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["app.yaml"]  # no temporary file left behind


def test_output_file_may_be_the_input_file(tmp_path):
    target = tmp_path / "pod.yaml"
    shutil.copy(TESTDATA / "pod.yaml", target)
    r = meshtool("kube-inject", "-q", "-f", target, "-o", target)
    assert r.returncode == 0
    assert target.read_text() == golden("pod.yaml.injected")


def test_a_directory_is_read_recursively(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(TESTDATA / "pod.yaml", tmp_path / "sub" / "a.yaml")
    shutil.copy(TESTDATA / "job.yaml", tmp_path / "b.yml")
    r = meshtool("kube-inject", "-f", tmp_path)
    assert r.returncode == 0
    assert r.stderr.splitlines() == ["job/migrate injected", "pod/hello injected"]


def test_flags_and_config_file_override_the_defaults(tmp_path):
    cfg = tmp_path / "inject.yaml"
    cfg.write_text("image: registry.local/meshtool:dev\nproxyUID: 2000\ncontrolPlane: cp.local:15010\n")
    r = meshtool("kube-inject", "-q", "-f", TESTDATA / "pod.yaml", "--injectConfigFile", cfg,
                 "--control-plane", "flag.local:1")
    pod = yaml.safe_load(r.stdout)
    proxy = pod["spec"]["containers"][-1]
    assert proxy["image"] == "registry.local/meshtool:dev"
    assert proxy["securityContext"]["runAsUser"] == 2000
    assert {"name": "MESHTOOL_CONTROL_PLANE", "value": "flag.local:1"} in proxy["env"]
    init = pod["spec"]["initContainers"][-1]
    assert init["args"][init["args"].index("--proxy-uid") + 1] == "2000"


def test_a_bad_config_file_names_the_key_and_line(tmp_path):
    cfg = tmp_path / "inject.yaml"
    cfg.write_text("image: x\nproxyUid: 2000\n")
    r = meshtool("kube-inject", "-f", TESTDATA / "pod.yaml", "--injectConfigFile", cfg)
    assert r.returncode == 65
    assert f"{cfg}:2: proxyUid: unknown key" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("name, line, message", [
    ("broken-yaml.yaml", 8, "invalid YAML"),
    ("broken-json.json", 3, "invalid JSON"),
    ("not-a-mapping.yaml", 6, "document is not a mapping"),
    ("template-not-a-mapping.yaml", 7, "spec.template: pod template is missing or not a mapping"),
    ("invalid-inject-value.yaml", 6, 'must be "true" or "false"'),
    ("invalid-traffic-annotation.yaml", 6, "'http' is not a port"),
])
def test_bad_input_exits_65_with_file_line_and_writes_nothing(tmp_path, name, line, message):
    target = tmp_path / name
    shutil.copy(BADDATA / name, target)
    good = tmp_path / "good.yaml"
    shutil.copy(TESTDATA / "pod.yaml", good)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = meshtool("kube-inject", "-f", good.name, "-f", name, "--in-place", cwd=tmp_path)
    assert r.returncode == 65
    assert r.stderr.startswith(f"error: {name}:{line}: "), r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # all or nothing
    r = meshtool("kube-inject", "-f", name, "-o", "out.yaml", cwd=tmp_path)
    assert r.returncode == 65 and r.stdout == ""
    assert not (tmp_path / "out.yaml").exists()


def test_usage_errors():
    assert meshtool("kube-inject", "-f", "-", "--in-place", stdin="").returncode == 64
    assert meshtool("kube-inject", "-f", TESTDATA / "pod.yaml", "--in-place", "-o", "x").returncode == 64
    assert meshtool("kube-inject", "-f", "/no/such/file.yaml").returncode == 64


def test_help_has_examples():
    r = meshtool("kube-inject", "--help")
    assert r.returncode == 0 and "kubectl apply -f -" in r.stdout
    assert meshtool("uninject", "--help").returncode == 0


def test_an_unwritable_output_is_one_clear_error(tmp_path):
    r = meshtool("kube-inject", "-q", "-f", TESTDATA / "pod.yaml", "-o", tmp_path / "no" / "such" / "x.yaml")
    assert r.returncode == 1
    assert r.stderr.startswith("error: cannot write ") and "Traceback" not in r.stderr
