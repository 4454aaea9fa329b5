"""Reasoning about RouteRule matches without traffic: does one match cover another (every
request matching the second matches the first), and can two matches ever both apply?

Conservative both ways: `covers` says True only when it can prove it, `disjoint` likewise,
so that a message is never based on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshtool.model import native

Condition = tuple[str, str]  # (exact|prefix|regex, value)


@dataclass(frozen=True)
class Match:
    source: str | None
    source_labels: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, Condition], ...]

    @property
    def header_map(self) -> dict[str, Condition]:
        return dict(self.headers)


def match_of(spec: dict) -> Match:
    """The match of a RouteRule spec, read by the model's one parser."""
    source, headers = native.request_match(spec)
    return Match(source.name.lower() if source else None,
                 tuple(sorted(source.labels.items())) if source else (),
                 tuple(sorted((h.name, (h.kind, h.value)) for h in headers)))


def _full(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return False


def _implies(narrow: Condition, broad: Condition) -> bool:
    """Every value satisfying `narrow` satisfies `broad`."""
    (op_n, v_n), (op_b, v_b) = narrow, broad
    if narrow == broad:
        return True
    if op_b == "prefix" and op_n in ("exact", "prefix"):
        return v_n.startswith(v_b)
    if op_b == "regex" and op_n == "exact":
        return _full(v_b, v_n)
    return False


def _conflict(a: Condition, b: Condition) -> bool:
    """No value satisfies both."""
    (op_a, v_a), (op_b, v_b) = a, b
    if op_a == "exact" and op_b == "exact":
        return v_a != v_b
    if {op_a, op_b} == {"exact", "prefix"}:
        exact, prefix = (v_a, v_b) if op_a == "exact" else (v_b, v_a)
        return not exact.startswith(prefix)
    if op_a == "prefix" and op_b == "prefix":
        return not (v_a.startswith(v_b) or v_b.startswith(v_a))
    if {op_a, op_b} == {"exact", "regex"}:
        exact, regex = (v_a, v_b) if op_a == "exact" else (v_b, v_a)
        try:
            re.compile(regex)
        except re.error:
            return False
        return not _full(regex, exact)
    return False


def covers(broad: Match, narrow: Match) -> bool:
    """Every request that `narrow` matches is matched by `broad`."""
    if broad.source is not None:
        if narrow.source != broad.source:
            return False
        if not set(broad.source_labels) <= set(narrow.source_labels):
            return False
    narrow_headers = narrow.header_map
    for header, cond in broad.headers:
        have = narrow_headers.get(header)
        if have is None or not _implies(have, cond):
            return False
    return True


def disjoint(a: Match, b: Match) -> bool:
    """No request can match both."""
    if a.source is not None and b.source is not None:
        if a.source != b.source:
            return True
        la, lb = dict(a.source_labels), dict(b.source_labels)
        if any(k in lb and lb[k] != v for k, v in la.items()):
            return True
    hb = b.header_map
    return any(h in hb and _conflict(cond, hb[h]) for h, cond in a.headers)
