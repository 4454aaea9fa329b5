"""The benchmark harness: figures, side-by-side timing, and bench/RESULTS.md.

A benchmark is a module `bench/bench_<topic>.py` with a function `run(quick: bool) -> list[Figure]`.
Each Figure carries its own reference measured in the same run, so RESULTS.md shows ratios,
which survive a noisy shared machine far better than absolute times.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass
class Figure:
    name: str  # what was measured, e.g. "meshtool --help"
    value: float  # the measurement
    unit: str  # "s", "ms", "req/s", "MB", "docs/s"
    reference: str | None = None  # what it is compared with, e.g. 'python -c "import click"'
    reference_value: float | None = None
    target: str | None = None  # the target in words, e.g. "<= 1.5x"
    met: bool | None = None  # whether the target was met (None: no target)
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Minimum wall time of `fn` over `repeat` runs: the least noisy estimate."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(fns: dict[str, Callable[[], object]], repeat: int = 10) -> dict[str, float]:
    """Time several candidates alternately (A B A B ...) so drift hits them equally; medians."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def command(argv: list[str], env: dict | None = None) -> Callable[[], None]:
    """A callable that runs a command to completion, output discarded."""
    full_env = {**os.environ, **(env or {})}

    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env,
                       check=True)

    return run


def timed_process(argv: list[str], ok: tuple[int, ...] | None = (0,)) -> tuple[float, float]:
    """CPU seconds (user + system, as the kernel accounts them to the child) and wall seconds of
    one run of `argv`, output discarded. CPU time is the steadier figure on a loaded machine: it
    does not count the time the process waits for a core. `ok`: the exit codes that are not a
    failure of the benchmark (None: any)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    if ok is not None and proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def python() -> str:
    return sys.executable


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (Linux /proc); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
