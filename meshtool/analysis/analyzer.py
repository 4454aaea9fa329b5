"""What an analyzer is: a name, a sentence, the kinds it reads, its codes and one function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from meshtool.analysis.context import Context


@dataclass(frozen=True)
class Analyzer:
    name: str  # e.g. "route.subset-no-workload"
    description: str
    kinds: tuple[str, ...]  # the kinds it reads
    codes: tuple[str, ...]  # the message codes it may report
    run: Callable[["Context"], None]
