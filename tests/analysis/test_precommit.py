"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself against a sample repository
in a temporary directory, with this checkout as the hook repository.

The hook repository is a snapshot of this working tree (a temporary clone with the current
files committed), so uncommitted work is what gets tested; pre-commit installs it from
that local path into its own virtualenv. To keep the test fast and offline apart from the
build backend, pip installs meshtool without its dependencies (PIP_NO_DEPS) and the hook
finds them through PYTHONPATH in this interpreter's site-packages; the hook still runs the
`meshtool` console script of pre-commit's environment, from the installed copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ("meshtool", "schemas", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("hooks") / "meshtool"
    repo.mkdir()
    git(repo, "init", "-q")
    for name in SNAPSHOT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot")
    return repo, git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def sample_repo(path: Path, hook_repo: tuple[Path, str], files: dict[str, str]) -> Path:
    repo, rev = hook_repo
    path.mkdir()
    git(path, "init", "-q")
    (path / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo}\n  rev: {rev}\n  hooks:\n  - id: meshtool-validate\n"
        f"  - id: meshtool-analyze\n")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    return path


def pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_NO_DEPS": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color",
                           "never", "--verbose"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=280)


CANARY = {
    "deploy/kubernetes.yaml": (ROOT / "samples/canary/kubernetes.yaml").read_text(),
    "deploy/route.yaml": (ROOT / "samples/canary/rules/route-90-10.yaml").read_text(),
}


def test_hooks_pass_on_a_clean_repository(tmp_path, hook_repo, pre_commit_home):
    repo = sample_repo(tmp_path / "clean", hook_repo, CANARY)
    r = pre_commit(repo, pre_commit_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "meshtool validate" in r.stdout and "meshtool analyze" in r.stdout
    assert "no issues found" in r.stdout


def test_hooks_fail_on_a_bad_rule_and_a_missing_subset(tmp_path, hook_repo, pre_commit_home):
    files = dict(CANARY)
    files["deploy/route.yaml"] = files["deploy/route.yaml"].replace("version: v2", "version: v3")
    files["deploy/bad.yaml"] = ("apiVersion: config.meshtool.io/v1alpha1\nkind: EgressRule\n"
                                "metadata:\n  name: broken\nspec:\n  ports: []\n")
    repo = sample_repo(tmp_path / "bad", hook_repo, files)
    r = pre_commit(repo, pre_commit_home)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    validate, analyze = out.split("meshtool analyze", 1)
    assert "Failed" in validate and "deploy/bad.yaml" in validate
    assert "exit code: 79" in analyze
    assert "[MT0101]" in analyze and "subset version=v3 selects no workload" in analyze
    assert "[MT0001]" in analyze
