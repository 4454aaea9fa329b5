"""Durations as rules write them: "10s", "1.5s", "250ms", "2m", "1h", "100us"."""

from __future__ import annotations

import re

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")


def parse_duration(text: str) -> float:
    """Seconds in a duration string; ValueError naming the problem when it does not parse.

    A sequence of parts is allowed ("1m30s"); a bare number is refused because its unit
    would be a guess.
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string such as \"10s\", got {text!r}")
    s = text.strip()
    if not s:
        raise ValueError("duration is empty")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {text!r}: use a number with a unit, "
                         f"e.g. \"10s\", \"1.5s\", \"250ms\", \"2m\"")
    return total

