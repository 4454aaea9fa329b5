"""CLI start-up: meshtool --version and --help against bare Python start-up"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.harness import Figure, command, interleaved, python


def _meshtool() -> list[str]:
    exe = Path(python()).with_name("meshtool")
    return [str(exe)] if exe.exists() else [shutil.which("meshtool") or "meshtool"]


ONE_FILE = Path(__file__).resolve().parents[1] / "samples" / "canary" / "kubernetes.yaml"


def run(quick: bool = False) -> list[Figure]:
    py = python()
    mt = _meshtool()
    # what a user installing the wheel has: bytecode compiled at install (pip does), so the
    # figures do not count compiling meshtool's own sources when PYTHONDONTWRITEBYTECODE is set
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "meshtool"), quiet=1)
    times = interleaved({
        "pass": command([py, "-c", "pass"]),
        "click": command([py, "-c", "import click"]),
        "yaml": command([py, "-c", f"import yaml; list(yaml.safe_load_all(open({str(ONE_FILE)!r})))"]),
        "version": command([*mt, "--version"]),
        "help": command([*mt, "--help"]),
        "inject": command([*mt, "kube-inject", "-q", "-f", str(ONE_FILE)]),
    }, repeat=5 if quick else 25)
    ratio_help = times["help"] / times["click"]
    return [
        Figure("meshtool kube-inject -f ONE_FILE", times["inject"], "s", "python -c pass",
               times["pass"], target="< 80 ms", met=times["inject"] < 0.080,
               notes="a fresh process per call, samples/canary/kubernetes.yaml; medians"),
        Figure("meshtool kube-inject -f ONE_FILE vs yaml.safe_load", times["inject"], "s",
               "python: yaml.safe_load_all of the same file", times["yaml"]),
        Figure('python -c "import click"', times["click"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --version", times["version"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --help", times["help"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --help vs import click", times["help"], "s", 'python -c "import click"',
               times["click"], target="<= 1.5x", met=ratio_help <= 1.5,
               notes="medians of interleaved runs; the console script adds its own wrapper start-up"),
    ]
