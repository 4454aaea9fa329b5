"""Schema checks of native rule manifests against the JSON Schemas in schemas/.

The schemas are read and compiled once per process. A valid manifest is recognised by a
compiled yes/no check (meshtool.rules.schemafast) without jsonschema, which is imported only to
describe what is wrong with an invalid one, so neither `meshtool --help` nor a clean
validation run pays for importing it. Every error
is reported with its field path and a message written for people ("unknown field
'wieght' (did you mean 'weight'?)"), not jsonschema's wording.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from meshtool.model.kinds import DESTINATION_POLICY, EGRESS_RULE, GATEWAY_ROUTE, ROUTE_RULE

FieldPath = tuple[str | int, ...]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILES = {ROUTE_RULE: "routerule.json", EGRESS_RULE: "egressrule.json",
                GATEWAY_ROUTE: "gatewayroute.json",
                DESTINATION_POLICY: "destinationpolicy.json"}

_JSON_TYPES = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def load_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a rule kind (a fresh copy; KeyError for an unknown kind)."""
    return json.loads(_schema_text(kind))


@lru_cache(maxsize=None)
def _schema_text(kind: str) -> str:
    return (SCHEMA_DIR / SCHEMA_FILES[kind]).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _validator(kind: str):
    from jsonschema import Draft202012Validator, ValidationError, validators

    from meshtool.rules.schemafast import pattern_regex

    def pattern(validator, value, instance, schema):  # `$` means end of text, as on the API server
        if validator.is_type(instance, "string") and not pattern_regex(value).search(instance):
            yield ValidationError(f"{instance!r} does not match {value!r}")

    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return validators.extend(Draft202012Validator, {"pattern": pattern})(schema)


@lru_cache(maxsize=None)
def _fast_check(kind: str):
    """The compiled yes/no check (meshtool.rules.schemafast), or None if the schema needs more."""
    from meshtool.rules.schemafast import NotCompilable, compile_schema

    try:
        return compile_schema(load_schema(kind))
    except NotCompilable:
        return None


def validate(kind: str, manifest: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """Problems of a native manifest, as (field path from the manifest root, message),
    sorted by path. Empty when the manifest conforms."""
    fast = _fast_check(kind)
    if fast is not None and fast(manifest):  # the common case: no jsonschema at all
        return []
    validator = _validator(kind)
    if fast is None and validator.is_valid(manifest):
        return []
    out: list[tuple[FieldPath, str]] = []
    for error in validator.iter_errors(manifest):
        out.extend(_describe(error))
    return sorted(dict.fromkeys(out), key=lambda p: tuple((1, x) if isinstance(x, int) else (0, str(x))
                                              for x in p[0]))


def _describe(error) -> list[tuple[FieldPath, str]]:
    path: FieldPath = tuple(error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    schema = error.schema
    inst = error.instance
    if keyword == "additionalProperties" and isinstance(inst, dict):
        known = list(schema.get("properties") or {})
        return [(path + (key,), _unknown(key, known)) for key in inst
                if key not in known]
    if keyword == "required":
        missing = [k for k in value if isinstance(inst, dict) and k not in inst]
        return [(path + (k,), "required field is missing") for k in missing]
    if keyword == "type":
        msg = f"must be {_JSON_TYPES.get(value, value)}, got {_show(inst)}"
        if value == "string" and isinstance(inst, (bool, int, float)) and inst is not None:
            # YAML 1.1 reads unquoted yes/no/on/off, 1.10 or 0777 as booleans and numbers
            msg += " (YAML reads this unquoted value as a " \
                   f"{'boolean' if isinstance(inst, bool) else 'number'}: put it in quotes)"
        return [(path, msg)]
    if keyword == "enum":
        return [(path, f"must be one of {', '.join(map(str, value))}; got {_show(inst)}")]
    if keyword == "const":
        return [(path, f"must be {value!r}, got {_show(inst)}")]
    if keyword == "pattern":
        if path[-1:] in (("name",), ("namespace",)):
            return [(path, f"{inst!r} is not a valid name: use lowercase letters, digits, '-' "
                           f"and '.', starting and ending with a letter or digit")]
        return [(path, f"{inst!r} does not match the pattern {value}")]
    if keyword == "maxLength":
        return [(path, f"must be at most {value} characters long")]
    if keyword == "minLength":
        return [(path, "must not be empty")]
    if keyword == "minimum":
        return [(path, f"must be at least {value}, got {inst}")]
    if keyword == "maximum":
        return [(path, f"must be at most {value}, got {inst}")]
    if keyword == "minItems":
        return [(path, f"must have at least {value} item{'s' if value != 1 else ''}")]
    if keyword in ("minProperties", "maxProperties"):
        names = list(schema.get("properties") or {})
        if schema.get("maxProperties") == 1 and names:
            return [(path, f"set exactly one of {', '.join(names)}")]
        if names:
            return [(path, f"set at least one of {', '.join(names)}")]
        return [(path, "must not be empty")]
    return [(path, error.message)]


def _unknown(key: Any, known: list[str]) -> str:
    msg = f"unknown field {str(key)!r}"
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    return msg


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    return repr(value)
