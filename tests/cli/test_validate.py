"""`meshtool validate`: exit codes, one line per finding, notes and summary on stderr, JSON."""

import json
import re
import subprocess
import sys

from hypothesis import HealthCheck, given, settings, strategies as st

BAD = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: reviews-canary
spec:
  destination:
    name: reviews
  route:
  - labels: {version: v1}
    weight: 90
  - labels: {version: v2}
    weight: 20
---
apiVersion: v1
kind: Service
metadata: {name: reviews}
"""


def test_samples_are_valid(run_cli):
    r = run_cli("validate", "samples/")
    assert r.code == 0, r.out + r.err
    assert r.out == ""
    assert re.match(r"\d+ valid rules, \d+ other documents skipped$", r.err.splitlines()[-1])
    assert "Deployment/benigno-v1 is not a rule (skipped)" in r.err


def test_findings_one_line_each_and_exit_65(run_cli, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    r = run_cli("validate", "-f", str(f))
    assert r.code == 65
    assert r.out == (f"{f}:12: RouteRule/reviews-canary: spec.route[1].weight: "
                     f"weights sum to 110, must be 100\n")
    assert f"{f}:14: Service/reviews is not a rule (skipped)" in r.err
    assert r.err.splitlines()[-1] == "1 finding; 0 valid rules, 1 other document skipped"


def test_json_report(run_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD)
    r = run_cli("validate", str(tmp_path), "-o", "json")
    assert r.code == 65
    report = json.loads(r.out)
    assert report["valid"] is False
    assert report["findings"] == [{"message": "weights sum to 110, must be 100",
                                   "file": str(tmp_path / "bad.yaml"), "line": 12,
                                   "field": "spec.route[1].weight",
                                   "resource": "RouteRule/reviews-canary"}]
    assert report["skipped"][0]["reason"] == "Service/reviews is not a rule"


def test_quiet_keeps_stderr_empty(run_cli):
    r = run_cli("validate", "-q", "samples/canary")
    assert r.code == 0 and r.err == ""


def test_exit_codes_through_the_entry_point(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "broken.yaml").write_text("a: [\n")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "meshtool", *args], capture_output=True,
                              text=True)

    assert run("validate", "samples/helloworld").returncode == 0
    r = run("validate", str(tmp_path))
    assert r.returncode == 65
    assert len(r.stdout.splitlines()) == 2  # one line per finding, broken YAML included
    assert "invalid YAML" in r.stdout and "Traceback" not in r.stderr
    r = run("validate", str(tmp_path / "missing.yaml"))
    assert r.returncode == 64 and "no such file" in r.stderr
    assert run("validate").returncode == 64


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60) | st.sampled_from([BAD, BAD.replace("weight: 20", "weight: x"),
                                                    BAD[:100], BAD.replace("  ", "\t", 1)]))
def test_any_input_gives_0_or_65_never_a_crash(run_cli, tmp_path, text):
    f = tmp_path / "in.yaml"
    f.write_text(text, encoding="utf-8")
    r = run_cli("validate", str(f))
    assert r.code in (0, 65), r.err
    assert "internal error" not in r.err


def test_yaml_booleans_and_numbers_as_strings_are_named_as_written(run_cli, tmp_path):
    # `name: yes` is a YAML 1.1 boolean: the line names it as the user wrote it, not as Python
    # prints it (True), and says how to fix it.
    f = tmp_path / "yes.yaml"
    f.write_text("apiVersion: config.istio.io/v1alpha2\nkind: RouteRule\nmetadata: {name: yes}\n"
                 "spec:\n  destination: {name: benigno}\n  route:\n  - labels: {version: 1.10}\n")
    r = run_cli("validate", "-f", str(f))
    assert r.code == 65, r.out + r.err
    assert "True" not in r.out + r.err
    lines = r.out.splitlines()
    assert any(line.startswith(f"{f}:3: RouteRule/yes: metadata.name: must be a string, got true")
               and "put it in quotes" in line for line in lines), r.out
    native = tmp_path / "native.yaml"
    native.write_text("apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata:\n"
                      "  name: on\nspec:\n  destination: {name: a}\n")
    r = run_cli("validate", "-f", str(native))
    assert r.code == 65 and f"{native}:4: RouteRule/on: metadata.name:" in r.out, r.out
