"""The Dockerfile, without a Docker engine: its instructions are read and its install steps run.

What this checks:
- the base is a slim Python 3.11, the default user is not root, the entrypoint is `meshtool`
  (exec form), and every COPY source exists in the checkout;
- the image's filesystem layout is rebuilt in a temporary directory from the COPY instructions
  (so a file the package needs but the Dockerfile forgets to copy makes the install or the
  commands fail), and every `pip install` of a RUN step is run, as written apart from the paths
  and --no-cache-dir (pip's cache is reused), with a fresh virtual environment's pip;
- the commands the cluster runs start from that environment: `meshtool --version` (equal to the
  package version, which install and injection use as the image tag), `proxy run --help`,
  `proxy init --help`, `control-plane --help`, `webhook --help`.

What it cannot check (no engine here): that the base image can be pulled and the apt-get step
works (the other RUN commands are only listed), that USER and file permissions behave in a
container, the real image's size, and that `proxy init` can program iptables inside it. Its
Python is the machine's 3.11, not the image's own interpreter.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshtool import __version__

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


STEPS = instructions(DOCKERFILE.read_text())


def only(name: str) -> list[str]:
    return [args for word, args in STEPS if word == name]


def test_base_user_and_entrypoint():
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", only("FROM")[0])
    user = only("USER")[-1].split(":")[0]
    assert user not in ("root", "0") and user, "the default user must not be root"
    assert json.loads(only("ENTRYPOINT")[-1]) == ["meshtool"]
    for args in only("COPY"):
        *sources, _ = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the checkout"


def _layout(root: Path) -> None:
    """Apply WORKDIR and COPY to an empty directory standing for the image's filesystem."""
    workdir = "/"
    for word, args in STEPS:
        if word == "WORKDIR":
            workdir = os.path.join(workdir, args)
            (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = shlex.split(args)
            target = root / os.path.join(workdir, dest).lstrip("/")
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)


def _pip_steps() -> list[list[str]]:
    steps = []
    for args in only("RUN"):
        for command in args.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                steps.append(words[2:])
    return steps


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_install_steps_give_working_commands(tmp_path):
    root = tmp_path / "image"
    _layout(root)
    steps = _pip_steps()
    assert steps, "the Dockerfile installs nothing with pip"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for args in steps:
        args = [str(root / a.lstrip("/")) if a.startswith("/") else a
                for a in args if a != "--no-cache-dir"]
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    meshtool = venv / "bin" / "meshtool"
    # Run from elsewhere, so that nothing is imported from the checkout by accident.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    version = subprocess.run([str(meshtool), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, env=env)
    assert version.stdout.strip() == f"meshtool {__version__}", version.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import meshtool; print(meshtool.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert str(venv) in where.stdout, "the package must come from the new environment"
    for argv in (["proxy", "run", "--help"], ["proxy", "init", "--help"], ["control-plane", "--help"],
                 ["webhook", "--help"]):
        done = subprocess.run([str(meshtool), *argv], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
        assert "Usage: meshtool" in done.stdout
    # The CRDs `install` applies and the schemas and samples travel with the package.
    check = ("from meshtool.kube.crds import committed_crds; from meshtool.model.kinds import NATIVE_KINDS; "
             "print(len(committed_crds()) == len(NATIVE_KINDS))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", check], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]
