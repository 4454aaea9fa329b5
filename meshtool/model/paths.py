"""Field paths as every message writes them."""

from __future__ import annotations

from typing import Iterable

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


def format_path(path: Iterable[str | int]) -> str:
    """("spec", "route", 1, "weight") -> "spec.route[1].weight"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
