"""The table of analysis cases: tests/analysis/cases/<analyzer>/<fires|clean>*.yaml.

Each case file starts with header comments:
  # expect: MT0101 MT0101      the codes the whole input must produce (a multiset; empty: none)
  # with: _base/reviews.yaml   other files analysed with it (paths relative to cases/)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CASES = Path(__file__).with_name("cases")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: tuple[str, ...]
    with_files: tuple[Path, ...]

    @property
    def analyzer(self) -> str:
        return self.path.parent.name

    @property
    def id(self) -> str:
        return f"{self.analyzer}/{self.path.stem}"

    @property
    def files(self) -> list[str]:
        return [str(p) for p in self.with_files + (self.path,)]


def read_case(path: Path) -> Case:
    expect: tuple[str, ...] | None = None
    with_files: list[Path] = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        if key == "expect":
            expect = tuple(sorted(value.split()))
        elif key == "with":
            with_files += [CASES / v for v in value.split()]
    assert expect is not None, f"{path}: no '# expect:' header"
    return Case(path, expect, tuple(with_files))


def all_cases() -> list[Case]:
    return [read_case(p) for p in sorted(CASES.glob("*/*.yaml")) if p.parent.name != "_base"]
