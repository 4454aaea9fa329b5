"""`python -m bench [--quick] [NAME...]`: run the benchmarks and rewrite bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import pkgutil
import sys
from pathlib import Path

import bench
from bench.harness import Figure

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){mem}, "
            f"Python {platform.python_version()}")


def fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "s" and v < 1:
        return f"{v * 1000:.1f} ms"
    text = f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return f"{text} {unit}".strip()


def render(sections: dict[str, list[Figure]]) -> str:
    out = ["# Benchmark results", "",
           f"Written by `python -m bench` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.",
           f"Machine: {machine()}.", "",
           "Every figure is compared with a reference measured side by side in the same run; "
           "the ratio is the figure to read on a shared, noisy machine.", ""]
    for name, figures in sections.items():
        out += [f"## {name}", "",
                "| measured | value | reference | reference value | ratio | target | met |",
                "|---|---|---|---|---|---|---|"]
        for f in figures:
            ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
            met = {True: "yes", False: "**no**", None: "-"}[f.met]
            out.append(f"| {f.name} | {fmt(f.value, f.unit)} | {f.reference or '-'} | "
                       f"{fmt(f.reference_value, f.unit)} | {ratio} | {f.target or '-'} | {met} |")
        notes = [f"- {f.name}: {f.notes}" for f in figures if f.notes]
        out += [""] + (notes + [""] if notes else [])
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. startup")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = ap.parse_args()
    mods = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(bench.__path__)
                  if m.name.startswith("bench_"))
    chosen = args.names or mods
    sections: dict[str, list[Figure]] = {}
    for name in chosen:
        if name not in mods:
            print(f"unknown benchmark {name!r}; have: {', '.join(mods)}", file=sys.stderr)
            return 64
        mod = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", file=sys.stderr, flush=True)
        figures = mod.run(quick=args.quick)
        title = (mod.__doc__ or name).strip().splitlines()[0]
        sections[title] = figures
        for f in figures:
            ratio = f" ({f.ratio:.2f}x {f.reference})" if f.ratio is not None else ""
            print(f"   {f.name}: {fmt(f.value, f.unit)}{ratio}", file=sys.stderr)
    text = render(sections)
    if not args.no_write and not args.names:
        RESULTS.write_text(text + "\n")
    elif not args.no_write:  # partial run: replace just these sections, keep the others
        RESULTS.write_text(merge(RESULTS.read_text() if RESULTS.exists() else "", text) + "\n")
    print(text)
    return 0


def merge(old: str, new: str) -> str:
    """Replace the sections of `new` in `old`, keeping old sections not re-run."""
    def split(text: str) -> tuple[str, dict[str, str]]:
        head, *parts = text.split("\n## ")
        return head, {p.split("\n", 1)[0]: "## " + p.rstrip() for p in parts}

    _, old_sections = split(old)
    head, new_sections = split(new)
    merged = {**old_sections, **new_sections}
    return head.rstrip() + "\n\n" + "\n\n".join(merged.values())


if __name__ == "__main__":
    sys.exit(main())
