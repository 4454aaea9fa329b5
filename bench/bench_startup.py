"""CLI start-up: meshtool --version and --help against bare Python start-up"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.harness import Figure, command, interleaved, python


def _meshtool() -> list[str]:
    exe = Path(python()).with_name("meshtool")
    return [str(exe)] if exe.exists() else [shutil.which("meshtool") or "meshtool"]


def run(quick: bool = False) -> list[Figure]:
    py = python()
    mt = _meshtool()
    times = interleaved({
        "pass": command([py, "-c", "pass"]),
        "click": command([py, "-c", "import click"]),
        "version": command([*mt, "--version"]),
        "help": command([*mt, "--help"]),
    }, repeat=5 if quick else 25)
    ratio_help = times["help"] / times["click"]
    return [
        Figure('python -c "import click"', times["click"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --version", times["version"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --help", times["help"], "s", "python -c pass", times["pass"]),
        Figure("meshtool --help vs import click", times["help"], "s", 'python -c "import click"',
               times["click"], target="<= 1.5x", met=ratio_help <= 1.5,
               notes="medians of interleaved runs; the console script adds its own wrapper start-up"),
    ]
