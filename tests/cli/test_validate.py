"""`meshtool validate`: exit codes, one line per finding, notes and summary on stderr, JSON."""

import collections
import json
import re
import subprocess
import sys

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from meshtool.cli.main import main

Result = collections.namedtuple("Result", "exit_code stdout stderr")

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


def invoke(*args):
    """Run the real entry point (its error handler included) with captured streams."""
    runner = CliRunner()
    with runner.isolation() as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return Result(code, out, err)


def test_samples_are_valid():
    r = invoke("validate", "samples/")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert re.match(r"\d+ valid rules, \d+ other documents skipped$", r.stderr.splitlines()[-1])
    assert "Deployment/benigno-v1 is not a rule (skipped)" in r.stderr


def test_findings_one_line_each_and_exit_65(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    r = invoke("validate", "-f", str(f))
    assert r.exit_code == 65
    assert r.stdout == (f"{f}:12: RouteRule/reviews-canary: spec.route[1].weight: "
                        f"weights sum to 110, must be 100\n")
    assert f"{f}:14: Service/reviews is not a rule (skipped)" in r.stderr
    assert r.stderr.splitlines()[-1] == "1 finding; 0 valid rules, 1 other document skipped"


def test_json_report(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD)
    r = invoke("validate", str(tmp_path), "-o", "json")
    assert r.exit_code == 65
    report = json.loads(r.stdout)
    assert report["valid"] is False
    assert report["findings"] == [{"message": "weights sum to 110, must be 100",
                                   "file": str(tmp_path / "bad.yaml"), "line": 12,
                                   "field": "spec.route[1].weight",
                                   "resource": "RouteRule/reviews-canary"}]
    assert report["skipped"][0]["reason"] == "Service/reviews is not a rule"


def test_quiet_keeps_stderr_empty(tmp_path):
    r = invoke("validate", "-q", "samples/canary")
    assert r.exit_code == 0 and r.stderr == ""


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
def test_any_input_gives_0_or_65_never_a_crash(tmp_path, text):
    f = tmp_path / "in.yaml"
    f.write_text(text, encoding="utf-8")
    r = invoke("validate", str(f))
    assert r.exit_code in (0, 65), r.stderr
    assert "internal error" not in r.stderr
