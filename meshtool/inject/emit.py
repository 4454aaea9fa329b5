"""Write the injected fragments in the style of the document they go into.

Block YAML follows the document's own indentation (mapping indent, where a sequence's
dash sits under its key, the gap after the dash); flow collections and JSON get JSON text
with the document's indent step. Scalars are plain when that reads back as the same
string, else quoted, so the fragment loads back exactly as the injector built it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9/_.-][A-Za-z0-9/_.:=,@+-]*\Z")


class Style(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    mapping: int = 2  # child keys are this many columns right of their parent key
    sequence: int = 0  # a sequence's dash sits this many columns right of its key (0: kubectl style)
    gap: int = 2  # the item's content starts this many columns right of its dash
    newline: str = "\n"
    json_step: int = 2  # indent step of multi-line JSON / flow collections
    json_compact: bool = False  # "a":1 rather than "a": 1


_NUMBERISH = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?0[xXoObB][0-9a-fA-F_]+$")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


@lru_cache(maxsize=4096)
def _plain_ok(text: str) -> bool:
    """Written plain, would `text` read back as this same string (in PyYAML and in Kubernetes)?"""
    if not _PLAIN.match(text) or text.endswith(":") or text in ("-", "---", "..."):
        return False
    if _NUMBERISH.match(text) or text.lower() in ("y", "n"):
        return False  # what Go's YAML reads as a number or a bool, whatever PyYAML says
    return _RESOLVER.resolve(yaml.nodes.ScalarNode, text, (True, False)) == _STR_TAG


def scalar(value: Any) -> str:
    """One scalar in block context."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if _plain_ok(text):
        return text
    if '"' in text and "'" not in text and text.isprintable():
        return f"'{text}'"  # JSON inside an annotation reads best single-quoted
    return double_quoted(text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _yaml_printable(ch: str) -> bool:
    c = ord(ch)
    # printable and no line break (YAML 1.1 also breaks lines at U+0085, U+2028, U+2029)
    return (0x20 <= c <= 0x7E or 0xA0 <= c <= 0xD7FF and c not in (0x2028, 0x2029)
            or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF)


def double_quoted(text: str) -> str:
    """A YAML double-quoted scalar; escapes only what YAML cannot hold as it is."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _yaml_printable(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def block_key_value(key: str, value: Any, col: int, style: Style, cache: int = 2) -> list[str]:
    """`key: value` at column `col`, with nested collections below it."""
    if cache and isinstance(value, (dict, list)) and value:
        # Most of a sidecar is the same in every workload (resources, securityContext, ...):
        # its parts, and the parts of those, are written once.
        cache_key = (key, repr(value), col, style)
        lines = _CACHE.get(cache_key)
        if lines is None:
            if len(_CACHE) > 4096:
                _CACHE.clear()
            lines = _CACHE[cache_key] = tuple(block_key_value(key, value, col, style, cache - 1))
        return list(lines)
    head = f"{' ' * col}{scalar(key)}:"
    if isinstance(value, dict) and value:
        return [head, *block_mapping(value, col + style.mapping, style, cache)]
    if isinstance(value, list) and value:
        return [head, *block_sequence(value, col + style.sequence, style, cache)]
    return [f"{head} {_empty_or_scalar(value)}"]


_CACHE: dict[tuple, tuple[str, ...]] = {}


def block_mapping(mapping: dict, col: int, style: Style, cache: int = 2) -> list[str]:
    lines: list[str] = []
    for key, value in mapping.items():
        lines.extend(block_key_value(key, value, col, style, cache))
    return lines


def block_sequence(items: list, dash_col: int, style: Style, cache: int = 2) -> list[str]:
    lines: list[str] = []
    content_col = dash_col + style.gap
    lead = " " * dash_col + "-" + " " * (style.gap - 1)
    for item in items:
        if isinstance(item, dict) and item:
            inner = block_mapping(item, content_col, style, cache)
        elif isinstance(item, list) and item:
            inner = block_sequence(item, content_col, style, cache)
        else:
            inner = [" " * content_col + _empty_or_scalar(item)]
        lines.append(lead + inner[0][content_col:])
        lines.extend(inner[1:])
    return lines


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def json_text(value: Any, col: int, style: Style, multiline: bool) -> str:
    """JSON for a flow context; continuation lines start at `col` plus their own indent."""
    if not multiline:
        seps = (",", ":") if style.json_compact else (", ", ": ")
        return json.dumps(value, separators=seps)
    seps = (",", ":") if style.json_compact else (",", ": ")
    text = json.dumps(value, indent=style.json_step, separators=seps)
    return text.replace("\n", style.newline + " " * col)


def json_key_value(key: str, value: Any, col: int, style: Style, multiline: bool) -> str:
    colon = ":" if style.json_compact else ": "
    return json.dumps(key) + colon + json_text(value, col, style, multiline)
