"""Edit a YAML (or JSON) document as text, at positions taken from its parse tree.

Every change is an insertion, removal or replacement of whole lines (block style) or of
exact character spans (flow style and JSON), so every byte the injector does not mean to
change stays as it was: comments, quoting, blank lines, key order. Removal spans are
computed exactly as insertion spans were, which is what makes uninject(inject(x)) == x.

PyYAML's composer (the C one when present) gives each node its start and end character
index; the edits are collected and applied at the end, last position first.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshtool.inject import emit
from meshtool.inject.emit import Style

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[str | int, ...]


class Unsupported(Exception):
    """A shape the text editor does not handle (e.g. a null where a collection must go)."""


class PathError(Unsupported):
    """The document has no node at the path, or not of the expected type."""


def compose(text: str) -> Node | None:
    """Parse one document into nodes with positions (yaml.YAMLError on broken input).

    Plain scalars are left untyped here (the base loader skips tag resolution);
    `construct` types the few that are not strings."""
    return yaml.compose(text, Loader=_BASE_LOADER)


_BASE_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_RESOLVER = yaml.resolver.Resolver()
_TYPED_START = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)
_SAFE = yaml.constructor.SafeConstructor()


def scalar_tag(node: ScalarNode) -> str:
    """The type YAML 1.1 (as Kubernetes reads it) gives a scalar: str, int, bool, null, ..."""
    if node.tag != _STR or node.style:  # quoted or block scalars are strings; "" or None is plain
        return node.tag
    value = node.value
    if value and value[0] not in _TYPED_START:
        return _STR
    return _RESOLVER.resolve(ScalarNode, value, (True, False))


def construct(node: Node) -> Any:
    """Plain Python data from nodes (the same tree the edits refer to).

    Strings, maps and sequences, nearly all of a manifest, are built directly; anything
    else (numbers, booleans, merge keys, ...) by PyYAML's safe constructor."""
    if isinstance(node, ScalarNode):
        tag = scalar_tag(node)
        if tag == _STR:
            return node.value
        constructor = _SAFE.yaml_constructors.get(tag)
        if constructor is not None:
            return constructor(_SAFE, ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style))
    elif isinstance(node, MappingNode) and node.tag == _MAP and not any(
            k.value == "<<" and isinstance(k, ScalarNode) and not k.style for k, _ in node.value):
        return {construct(k): construct(v) for k, v in node.value}
    elif isinstance(node, SequenceNode) and node.tag == _SEQ:
        return [construct(v) for v in node.value]
    return _construct_slowly(node)


def _construct_slowly(node: Node) -> Any:
    """Merge keys, explicit tags: resolve the tree fully, then let PyYAML build it."""
    def retag(n: Node) -> None:
        if isinstance(n, ScalarNode):
            n.tag = scalar_tag(n)
        elif isinstance(n, MappingNode):
            for k, v in n.value:
                if isinstance(k, ScalarNode) and k.value == "<<" and not k.style:
                    k.tag = "tag:yaml.org,2002:merge"
                else:
                    retag(k)
                retag(v)
        else:
            for v in n.value:
                retag(v)

    retag(node)
    loader = _LOADER("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


class TextDoc:
    def __init__(self, text: str, root: Node):
        self.text = text
        self.root = root
        self.style = detect_style(text, root)
        self._edits: list[tuple[int, int, str, tuple[int, int]]] = []
        self._nodes: dict[Path, Node] = {}

    # --- reading -------------------------------------------------------------------

    def node(self, path: Path) -> Node:
        found = self._nodes.get(path)
        if found is None:
            found = self._nodes[path] = self._walk(path)
        return found

    def _walk(self, path: Path) -> Node:
        node = self.root
        for part in path:
            if isinstance(node, MappingNode) and isinstance(part, str):
                node = _value(node, part)
                if node is None:
                    raise PathError(path)
            elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                raise PathError(path)
        return node

    def line(self, path: Path) -> int:
        """0-based line of the deepest node along `path` that exists."""
        node, line = self.root, self.root.start_mark.line
        for part in path:
            if isinstance(node, MappingNode) and isinstance(part, str):
                pair = _pair(node, part)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line, pair[1]
            elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return line

    def raw(self, path: Path, key: str) -> str:
        """The exact text of `key: value` in the mapping at `path`."""
        start, end = self._key_span(path, key)
        return self.text[start:end]

    # --- editing -------------------------------------------------------------------

    def append_item(self, path: Path, value: Any) -> None:
        seq = self._collection(path, SequenceNode)
        if seq.flow_style:
            self._flow_insert(seq, emit.json_text, value)
            return
        pos = self._eol(_end(seq))
        self._insert_lines(pos, emit.block_sequence([value], seq.start_mark.column, self.style))

    def add_key(self, path: Path, key: str, value: Any) -> None:
        mapping = self._collection(path, MappingNode)
        if _pair(mapping, key) is not None:
            raise Unsupported(f"{key} is present but null")
        if mapping.flow_style:
            self._flow_insert(mapping, lambda v, col, st, ml: emit.json_key_value(key, v, col, st, ml), value)
            return
        pos = self._eol(_end(mapping))
        col = mapping.value[0][0].start_mark.column
        self._insert_lines(pos, emit.block_key_value(key, value, col, self.style))

    def replace_key(self, path: Path, key: str, new_key: str | None = None, value: Any = None,
                    raw: str | None = None) -> None:
        """Replace `key: value` in place, by a new key and value or by raw text from `raw()`."""
        mapping = self._collection(path, MappingNode)
        start, end = self._key_span(path, key)
        if raw is None:
            key_node = _pair(mapping, key)[0]
            col = key_node.start_mark.column
            if mapping.flow_style:
                multiline = mapping.start_mark.line != mapping.end_mark.line
                raw = emit.json_key_value(new_key, value, col, self.style, multiline)
            else:
                lines = emit.block_key_value(new_key, value, col, self.style)
                lines[0] = lines[0][col:]
                raw = self.style.newline.join(lines)
                if self.text[end - 1:end] == "\n":
                    raw += self.style.newline
        self._edit(start, end, raw)

    def remove_key(self, path: Path, key: str) -> None:
        mapping = self._collection(path, MappingNode)
        index = next(i for i, (k, _) in enumerate(mapping.value) if _is_key(k, key))
        if mapping.flow_style:
            self._flow_remove(mapping, [k for k, _ in mapping.value], [v for _, v in mapping.value], index)
            return
        key_node, value = mapping.value[index]
        start = self._line_start(key_node.start_mark.index)
        if self.text[start:key_node.start_mark.index].strip():
            raise Unsupported("key shares its line with a sequence dash")
        self._remove_lines(start, self._eol(_end(value)))

    def remove_item(self, path: Path, index: int) -> None:
        seq = self._collection(path, SequenceNode)
        if seq.flow_style:
            self._flow_remove(seq, seq.value, seq.value, index)
            return
        item = seq.value[index]
        self._remove_lines(self._line_start(item.start_mark.index), self._eol(_end(item)))

    def result(self) -> str:
        edits: list[list] = []
        for start, end, new, seq in sorted(self._edits, key=lambda e: (e[0], e[1], e[3])):
            if edits and not new and not edits[-1][2] and start <= edits[-1][1]:
                edits[-1][1] = max(end, edits[-1][1])  # adjacent removals become one
                continue
            if edits and start < edits[-1][1]:
                raise Unsupported("overlapping edits")
            edits.append([start, end, new, seq])
        text, nl = self.text, self.style.newline
        if edits and not edits[-1][2] and edits[-1][1] == len(text) and text and not text.endswith("\n") \
                and text[:edits[-1][0]].endswith(nl):
            edits[-1][0] -= len(nl)  # mirror _insert_lines: the last line keeps having no newline
        parts, pos = [], 0
        for start, end, new, _ in edits:
            parts += [self.text[pos:start], new]
            pos = end
        parts.append(self.text[pos:])
        return "".join(parts)

    # --- internals -----------------------------------------------------------------

    def _edit(self, start: int, end: int, new: str, depth: int = 0) -> None:
        # At one position, deeper lines go first: an item appended to a nested sequence
        # must precede a key added to the mapping that contains it.
        self._edits.append((start, end, new, (-depth, len(self._edits))))

    def _collection(self, path: Path, cls: type) -> Node:
        node = self.node(path)
        if not isinstance(node, cls):
            if isinstance(node, ScalarNode) and scalar_tag(node).endswith(":null"):
                raise Unsupported(f"null at {path}")
            raise PathError(path)
        return node

    def _line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def _eol(self, index: int) -> int:
        """The start of the line after `index` (or the end of the text)."""
        if index > 0 and self.text[index - 1] == "\n":
            return index
        nl = self.text.find("\n", index)
        return len(self.text) if nl < 0 else nl + 1

    def _insert_lines(self, pos: int, lines: list[str]) -> None:
        nl = self.style.newline
        body = nl.join(lines)
        first = lines[0].lstrip(" ")
        # a dash under its key (kubectl style) is as deep as the key but belongs inside it
        depth = 2 * (len(lines[0]) - len(first)) + first.startswith("-")
        if pos == len(self.text) and self.text and not self.text.endswith("\n"):
            self._edit(pos, pos, nl + body, depth)  # a last line without newline keeps having none
        else:
            self._edit(pos, pos, body + nl, depth)

    def _remove_lines(self, start: int, end: int) -> None:
        self._edit(start, end, "")

    def _key_span(self, path: Path, key: str) -> tuple[int, int]:
        mapping = self._collection(path, MappingNode)
        pair = _pair(mapping, key)
        if pair is None:
            raise PathError(path + (key,))
        start = pair[0].start_mark.index
        end = _end(pair[1])
        return (start, end) if mapping.flow_style else (start, self._eol(end))

    def _flow_insert(self, coll: Node, render, value: Any) -> None:
        if not coll.value:
            open_, close = self.text[coll.start_mark.index], self.text[coll.end_mark.index - 1]
            self._edit(coll.start_mark.index, coll.end_mark.index,
                       open_ + render(value, 0, self.style, False) + close)
            return
        last = coll.value[-1]
        last_start = (last[0] if isinstance(last, tuple) else last).start_mark
        last_end = _end(last[1] if isinstance(last, tuple) else last)
        multiline = coll.start_mark.line != coll.end_mark.line
        if multiline:
            col = last_start.column
            sep = "," + self.style.newline + " " * col
        else:
            col, sep = 0, ("," if self.style.json_compact else ", ")
        self._edit(last_end, last_end, sep + render(value, col, self.style, multiline))

    def _flow_remove(self, coll: Node, starts: list[Node], ends: list[Node], index: int) -> None:
        if len(ends) == 1:
            open_, close = self.text[coll.start_mark.index], self.text[coll.end_mark.index - 1]
            self._edit(coll.start_mark.index, coll.end_mark.index, open_ + close)
        elif index > 0:
            self._edit(_end(ends[index - 1]), _end(ends[index]), "")
        else:
            self._edit(starts[0].start_mark.index, starts[1].start_mark.index, "")


def _is_key(node: Node, key: str) -> bool:
    return isinstance(node, ScalarNode) and node.value == key


def _pair(mapping: MappingNode, key: str):
    for pair in mapping.value:
        if _is_key(pair[0], key):
            return pair
    return None


def _value(mapping: MappingNode, key: str) -> Node | None:
    pair = _pair(mapping, key)
    return None if pair is None else pair[1]


def _end(node: Node) -> int:
    """Character index just after the node's last character."""
    while not isinstance(node, ScalarNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node.end_mark.index


def detect_style(text: str, root: Node | None) -> Style:
    """The document's own indentation and newline, with kubectl's as the default."""
    mapping = sequence = gap = None
    json_step = None
    stack = [root] if root is not None else []
    while stack and (mapping is None or sequence is None) and json_step is None:
        node = stack.pop()
        if isinstance(node, MappingNode):
            if node.flow_style:
                if json_step is None and node.value and node.value[0][0].start_mark.line != node.start_mark.line:
                    line_start = text.rfind("\n", 0, node.start_mark.index) + 1
                    indent = len(text[line_start:node.start_mark.index]) - len(
                        text[line_start:node.start_mark.index].lstrip(" "))
                    json_step = node.value[0][0].start_mark.column - indent
            else:
                for key, value in node.value:
                    if isinstance(value, MappingNode) and not value.flow_style and mapping is None \
                            and value.start_mark.line != key.start_mark.line:
                        mapping = value.value[0][0].start_mark.column - key.start_mark.column
                    elif isinstance(value, SequenceNode) and not value.flow_style and sequence is None:
                        first = value.value[0]
                        if first.start_mark.line == value.start_mark.line:
                            sequence = value.start_mark.column - key.start_mark.column
                            gap = first.start_mark.column - value.start_mark.column
            stack.extend(reversed([v for _, v in node.value]))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
    newline = "\r\n" if "\r\n" in text else "\n"
    compact = '":' in text and '": ' not in text
    return Style(mapping=mapping if mapping and mapping > 0 else 2,
                 sequence=sequence if sequence is not None and sequence >= 0 else 0,
                 gap=gap if gap and gap > 0 else 2, newline=newline,
                 json_step=json_step if json_step and json_step > 0 else 2, json_compact=compact)
