"""meshtool as users run it: a wheel built from this tree, installed with pip into a virtual
environment of its own (pip compiles the bytecode at install, as for every user).

The environment is cached outside the repository, in ~/.cache/meshtool/bench-venv/KEY, where KEY
hashes the Python version and the wheel's declared dependencies: installing those takes a minute,
so it happens once per set of dependencies. meshtool itself is reinstalled from the fresh wheel
whenever the wheel's contents (a hash over its files) differ from the last one installed there.
A lock file serialises builders, since several worktrees may run the benchmark at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshtool" / "bench-venv"


def build_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest),
                    str(ROOT)], check=True, capture_output=True)
    [wheel] = dest.glob("meshtool-*.whl")
    return wheel


def content_hash(wheel: Path) -> str:
    """Over the files' names and bytes, not the zip itself: a rebuild of the same tree gives a
    new zip (timestamps) but the same hash."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0" + zf.read(name) + b"\0")
    return digest.hexdigest()


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        [meta] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(meta).decode().splitlines()
    return sorted(line for line in lines if line.startswith("Requires-Dist:"))


def bin_path(venv: Path, name: str) -> str:
    return str(venv / "bin" / name)


def installed_venv() -> Path:
    """The cached environment with the current tree's wheel installed; built or updated as needed."""
    with tempfile.TemporaryDirectory(prefix=f"meshtool-wheel-{os.getpid()}-") as tmp:
        wheel = build_wheel(Path(tmp))
        key = hashlib.sha256("\n".join([platform.python_version(), sys.base_prefix,
                                        *requirements(wheel)]).encode()).hexdigest()[:16]
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        venv = root / key
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ready, stamp = venv / ".ready", venv / ".meshtool-wheel"
            pip = [bin_path(venv, "python"), "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check"]
            if not ready.exists():  # a half-built one from an interrupted run is rebuilt
                shutil.rmtree(venv, ignore_errors=True)
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
                subprocess.run([*pip, str(wheel)], check=True)
                stamp.write_text(content_hash(wheel))
                ready.touch()
            if not stamp.exists() or stamp.read_text() != content_hash(wheel):
                subprocess.run([*pip, "--no-deps", "--force-reinstall", str(wheel)], check=True)
                stamp.write_text(content_hash(wheel))
    return venv
