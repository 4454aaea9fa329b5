"""`kind: List` documents: the objects one document stands for.

Apart from kinds.py (and its table of foreign kinds) so that kube-inject, which needs only this,
does not build that table at start-up.
"""

from __future__ import annotations

from typing import Any


def list_items(data: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """The objects a document stands for, each with its path in the document: a `kind: List`
    gives its items one by one (path ("items", i)), anything else itself (path ())."""
    if is_list(data):
        return [(("items", i), item) for i, item in enumerate(data["items"])]
    return [((), data)]


def is_list(data: Any) -> bool:
    """A `kind: List` (or any ...List) document: it stands for its `items`."""
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and \
        data["kind"].endswith("List") and isinstance(data.get("items"), list)
