"""samples/ci: the GitHub Actions workflow and the GitLab CI job parse, and their meshtool
command lines run as written (with this checkout's meshtool and a sample's files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "samples" / "ci"
PATHS = "samples/canary/kubernetes.yaml samples/canary/rules/route-90-10.yaml"


def meshtool_lines(commands: list[str]) -> list[str]:
    return [c for c in commands if "meshtool analyze" in c]


def run_shell(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MESHTOOL_PATHS": PATHS,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-ec", f"cd {ROOT} && {line}"], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_github_workflow(tmp_path):
    flow = yaml.safe_load((CI / "github-actions.yaml").read_text())
    steps = flow["jobs"]["analyze"]["steps"]
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    lines = meshtool_lines([s["run"] for s in steps if "run" in s])
    assert len(lines) == 2
    sarif = tmp_path / "meshtool.sarif"
    r = run_shell(lines[0].replace("> meshtool.sarif", f"> {sarif}"), tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert run_shell(lines[1], tmp_path).returncode == 0


def test_gitlab_job(tmp_path):
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["meshtool-analyze"]
    assert job["artifacts"]["reports"]["junit"] == "meshtool-junit.xml"
    for line in meshtool_lines(job["script"]):
        line = line.replace("> gl-meshtool.sarif", f"> {tmp_path / 'gl-meshtool.sarif'}")
        line = line.replace("> meshtool-junit.xml", f"> {tmp_path / 'meshtool-junit.xml'}")
        r = run_shell(line, tmp_path)
        assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "gl-meshtool.sarif").read_text())["version"] == "2.1.0"
    assert ET.parse(tmp_path / "meshtool-junit.xml").getroot().tag == "testsuites"
