"""The same edits as TextDoc, applied to data (plain dicts, or ruamel's round-trip maps).

Used where text editing cannot go (a null where a collection must be added, JSON that
YAML cannot parse) and by callers that hold objects rather than text (the webhook).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

Path = tuple[str | int, ...]


class DataDoc:
    def __init__(self, data: Any):
        self.data = data

    def node(self, path: Path) -> Any:
        node = self.data
        for part in path:
            node = node[part]
        return node

    def line(self, path: Path) -> int:
        return 0

    def raw(self, path: Path, key: str) -> str:
        return json.dumps({key: _plain(self.node(path)[key])})

    def append_item(self, path: Path, value: Any) -> None:
        self.node(path).append(value)

    def add_key(self, path: Path, key: str, value: Any) -> None:
        mapping = self.node(path)
        if key in mapping and mapping[key] is not None:
            raise KeyError(key)
        mapping[key] = value

    def replace_key(self, path: Path, key: str, new_key: str | None = None, value: Any = None,
                    raw: str | None = None) -> None:
        mapping = self.node(path)
        if raw is not None:
            loaded = yaml.safe_load(raw)
            (new_key, value), = loaded.items()
        position = list(mapping).index(key)
        if hasattr(mapping, "insert"):  # ruamel's CommentedMap keeps comments attached this way
            del mapping[key]
            mapping.insert(position, new_key, value)
            return
        items = list(mapping.items())
        mapping.clear()
        for k, v in items:
            if k == key:
                mapping[new_key] = value
            else:
                mapping[k] = v

    def remove_key(self, path: Path, key: str) -> None:
        del self.node(path)[key]

    def remove_item(self, path: Path, index: int) -> None:
        del self.node(path)[index]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
