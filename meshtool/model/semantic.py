"""Checks of rule specs that a JSON Schema cannot express: the problems of the one parser.

`check(kind, spec)` expects a spec that already passed the schema (the loader runs the
schema first) and never raises on an odd shape. Paths are from the manifest root, e.g.
("spec", "route", 1, "weight"), like those of `meshtool.rules.schema.validate`. The sidecar
runs the same parser on what it receives, so validate and the sidecar cannot disagree.
"""

from __future__ import annotations

from typing import Any

from meshtool.model import native
from meshtool.model.kinds import NATIVE_KINDS
from meshtool.model.native import valid_host_pattern
from meshtool.model.paths import FieldPath, Problem


def check(kind: str, spec: Any, namespace: str = "", name: str = "") -> list[Problem]:
    """Every semantic problem of one rule spec; empty when there is none."""
    if kind not in NATIVE_KINDS or not isinstance(spec, dict):
        return []
    return native.parse(kind, namespace, name, spec).problems


__all__ = ["FieldPath", "Problem", "check", "valid_host_pattern"]
