"""Suppressions: `-S "MT0103=Deployment name*"` on the command line, and the annotation
`analysis.meshtool.io/suppress: "MT0103,MT0300"` on the resource itself.

A command-line suppression is CODE[=KIND NAME]: CODE and NAME are shell-style patterns
(`MT01*`, `reviews-*`), KIND is a kind name or `*`, and NAME matches either `name` or
`name.namespace`. Without `=KIND NAME` the code is suppressed everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

ANNOTATION = "analysis.meshtool.io/suppress"

_CODE = re.compile(r"^[A-Za-z0-9*?\[\]]+$")


@dataclass(frozen=True)
class Suppression:
    code: str  # pattern, upper case
    kind: str = "*"  # lower case, or "*"
    name: str = "*"  # pattern

    def matches(self, code: str, kind: str | None, name: str | None, namespace: str | None) -> bool:
        if not fnmatchcase(code, self.code):
            return False
        if self.kind != "*" and (kind or "").lower() != self.kind:
            return False
        if self.name == "*":
            return True
        if name is None:
            return False
        return fnmatchcase(name, self.name) or (
            namespace is not None and fnmatchcase(f"{name}.{namespace}", self.name))


def parse_suppression(text: str) -> Suppression:
    """'MT0103=Deployment name*' -> Suppression; ValueError with a usable sentence otherwise."""
    code, sep, target = text.partition("=")
    code = code.strip().upper()
    if not code or not _CODE.match(code):
        raise ValueError(f"bad suppression {text!r}: expected CODE or CODE=KIND NAME, "
                         f"e.g. \"MT0103=Deployment reviews*\"")
    if not sep:
        return Suppression(code)
    parts = target.split()
    if len(parts) != 2:
        raise ValueError(f"bad suppression {text!r}: after '=' give a kind and a name, "
                         f"e.g. \"{code}=Deployment reviews*\"")
    return Suppression(code, parts[0].lower(), parts[1])


def annotation_patterns(annotations: dict[str, str]) -> list[str]:
    """The code patterns listed in a resource's suppression annotation."""
    value = annotations.get(ANNOTATION, "")
    return [p.strip().upper() for p in re.split(r"[,\s]+", value) if p.strip()]
