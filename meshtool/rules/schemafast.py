"""A yes/no check of a manifest against a rule schema, compiled into plain Python closures.

The happy path of validation only needs "is this valid?", and answering that with
jsonschema costs more than parsing the YAML. Our schemas use a small, fixed subset of
JSON Schema; `compile_schema` turns exactly that subset into nested closures, once, and
refuses (NotCompilable) any keyword outside it, so that a schema that grows a new
keyword falls back to jsonschema instead of being checked wrongly. The messages for
invalid manifests always come from jsonschema (meshtool.rules.schema); a test checks that both
agree on valid/invalid for fuzzed manifests.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

Check = Callable[[Any], bool]

# keywords that carry no constraint
_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples",
                "format"}  # int64 and the like: documented by the bounds beside it
_KNOWN = _ANNOTATIONS | {"type", "properties", "additionalProperties", "required", "const",
                         "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
                         "minItems", "maxItems", "items", "minProperties", "maxProperties"}


class NotCompilable(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    # JSON Schema counts 1.0 as an integer
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def compile_schema(schema: Any) -> Check:
    """A predicate equivalent to Draft 2020-12 validation for the supported keywords."""
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict):
        raise NotCompilable(f"not a schema: {schema!r}")
    unknown = set(schema) - _KNOWN
    if unknown:
        raise NotCompilable(f"unsupported keywords: {sorted(unknown)}")
    checks: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        if not isinstance(kind, str) or kind not in _TYPES:
            raise NotCompilable(f"unsupported type: {kind!r}")
        checks.append(_TYPES[kind])
    if "const" in schema:
        const = schema["const"]
        if not isinstance(const, str):
            raise NotCompilable("const other than a string")
        checks.append(lambda v: isinstance(v, str) and v == const)
    if "enum" in schema:
        values = schema["enum"]
        if not all(isinstance(e, str) for e in values):
            raise NotCompilable("enum other than strings")
        allowed = frozenset(values)
        checks.append(lambda v: isinstance(v, str) and v in allowed)
    checks += _string_checks(schema) + _number_checks(schema) + _array_checks(schema)
    if any(k in schema for k in ("properties", "additionalProperties", "required",
                                 "minProperties", "maxProperties")):
        checks.append(_object_check(schema))
    if len(checks) == 1:
        return checks[0]

    def check(v: Any) -> bool:
        for c in checks:
            if not c(v):
                return False
        return True

    return check


@lru_cache(maxsize=None)
def pattern_regex(pattern: str) -> re.Pattern:
    """A schema pattern compiled with the meaning it has for the API server.

    In ECMA-262 and Go's RE2 (which Kubernetes uses for CRD patterns) a bare `$` is the end of
    the text; in Python it also matches before a final newline, which would let "name\\n" pass
    "^[a-z]+$". So every bare `$` (not escaped, not in a class) becomes `\\Z`.
    """
    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "]":
            in_class = False
            out.append(ch)
        elif ch == "$" and not in_class:
            out.append("\\Z")
        else:
            out.append(ch)
    return re.compile("".join(out))


def _string_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "pattern" in schema:
        search = pattern_regex(schema["pattern"]).search
        out.append(lambda v: not isinstance(v, str) or search(v) is not None)
    if "minLength" in schema:
        n = schema["minLength"]
        out.append(lambda v: not isinstance(v, str) or len(v) >= n)
    if "maxLength" in schema:
        m = schema["maxLength"]
        out.append(lambda v: not isinstance(v, str) or len(v) <= m)
    return out


def _number_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "minimum" in schema:
        lo = schema["minimum"]
        out.append(lambda v: not _is_number(v) or not v < lo)  # NaN passes, as in jsonschema
    if "maximum" in schema:
        hi = schema["maximum"]
        out.append(lambda v: not _is_number(v) or not v > hi)
    return out


def _array_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "minItems" in schema:
        n = schema["minItems"]
        out.append(lambda v: not isinstance(v, list) or len(v) >= n)
    if "maxItems" in schema:
        m = schema["maxItems"]
        out.append(lambda v: not isinstance(v, list) or len(v) <= m)
    if "items" in schema:
        item = compile_schema(schema["items"])
        out.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    return out


def _object_check(schema: dict) -> Check:
    props = {k: compile_schema(s) for k, s in (schema.get("properties") or {}).items()}
    extra_schema = schema.get("additionalProperties", True)
    extra = None if extra_schema is True else compile_schema(extra_schema)
    required = tuple(schema.get("required") or ())
    lo = schema.get("minProperties", 0)
    hi = schema.get("maxProperties")

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key in required:
            if key not in v:
                return False
        if len(v) < lo or (hi is not None and len(v) > hi):
            return False
        for key, value in v.items():
            sub = props.get(key) if isinstance(key, str) else None
            if sub is None:
                if extra is not None and not extra(value):
                    return False
            elif not sub(value):
                return False
        return True

    return check
