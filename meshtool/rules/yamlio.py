"""Reading and writing YAML: the only module that touches ruamel.yaml.

Two ways in, each for its job:
- `load_documents` (PyYAML's C loader when present): fast, for validation and the store.
  Line numbers of a field are looked up afterwards, only for the documents that have
  a finding, with `locate` (a ruamel round-trip parse keeps line and column of every node).
- `roundtrip_load`/`roundtrip_dump` (ruamel): keeps comments, key order and quoting, for
  rewriting a user's manifests.
`split_documents` cuts a stream into its raw documents so that a rewriter can leave every
document it does not change byte for byte as it was.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Iterable

import yaml

from meshtool.errors import DataError
from meshtool.model.paths import format_path  # noqa: F401 - re-exported for readers of rules
from meshtool.rules.sources import Source

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    _FastLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _FastLoader = yaml.SafeLoader



class _ManifestLoader(_FastLoader):
    """Safe loading without implicit timestamps: an unquoted 2024-01-01 stays a string, as it does
    for Kubernetes (whose YAML goes through JSON), and an impossible date is no crash. A key
    given twice in one mapping is an error at the second (YAML forbids it; PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = (key_node.tag, key_node.value)
                if key in first:
                    raise yaml.constructor.ConstructorError(
                        "first given here", first[key].start_mark,
                        f"duplicate key {key_node.value!r}", key_node.start_mark)
                first[key] = key_node
        return super().construct_mapping(node, deep=deep)


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _FastLoader.yaml_implicit_resolvers.items()
}

FieldPath = tuple[str | int, ...]

# A line starting a new document: "---" alone or followed by a space/tab and content.
_DOC_START = re.compile(r"^---(?:[ \t].*)?$")
_DOC_END = re.compile(r"^\.\.\.[ \t]*$")


class RawDocument:
    """One document of a stream, as written: `text` includes its own leading
    separator line (if any), so that "".join(d.text for d in docs) == stream."""

    # a plain class, not a dataclass: cheaper to define on every command's start-up (errors.Finding)
    __slots__ = ("text", "start_line", "index")

    def __init__(self, text: str, start_line: int, index: int):
        self.text = text
        self.start_line = start_line  # 1-based line in the file of the first line of `text`
        self.index = index  # position in the stream, from 0

    @property
    def body_line(self) -> int:
        """The first line of the document's content (after a '---' line)."""
        first = self.text.split("\n", 1)[0]
        return self.start_line + 1 if _DOC_START.match(first) and first.strip() == "---" else self.start_line

    @property
    def is_blank(self) -> bool:
        """Only separators, comments and whitespace: no data."""
        for line in self.text.splitlines():
            if _DOC_START.match(line):
                line = line[3:]
            s = line.strip()
            if s and not s.startswith("#") and not _DOC_END.match(s) and not s.startswith("%"):
                return False
        return True


class Document:
    """A parsed document: plain Python data plus where it came from."""

    # a plain class, not a dataclass: cheaper to define on every command's start-up (errors.Finding)
    __slots__ = ("data", "source", "raw", "_rt")

    def __init__(self, data: Any, source: Source, raw: RawDocument, _rt: Any = None):
        self.data = data
        self.source = source
        self.raw = raw
        self._rt = _rt  # ruamel's round-trip tree, parsed only when a line must be located

    @property
    def line(self) -> int:
        return self.raw.body_line

    @property
    def content_line(self) -> int:
        """The first line with data, past a '---', leading comments and directives."""
        for offset, text in enumerate(self.raw.text.split("\n")):
            s = text.strip()
            if s.startswith("---"):
                s = s[3:].strip()
            if s and not s.startswith(("#", "%")):
                return self.raw.start_line + offset
        return self.line

    def locate(self, path: Iterable[str | int]) -> int:
        """The 1-based line of the deepest node of `path` that exists in the file."""
        if self._rt is None:
            try:
                self._rt = _rt_yaml().load(self.raw.text)
            except Exception:  # the fast loader accepted it; never fail a report over a line number
                return self.line
        line = _node_line(self._rt, list(path))
        return self.line if line is None else self.raw.start_line + line


def split_documents(text: str) -> list[RawDocument]:
    """Cut a YAML stream at its '---' lines (and after '...' lines), losslessly."""
    lines = text.splitlines(keepends=True)
    docs: list[RawDocument] = []
    start = 0
    seen_content = False
    for i, line in enumerate(lines):
        bare = line.rstrip("\r\n")
        if _DOC_START.match(bare) and (seen_content or i > start):
            if i > start:
                docs.append(RawDocument("".join(lines[start:i]), start + 1, len(docs)))
            start = i
            seen_content = bool(bare[3:].strip()) and not bare[3:].strip().startswith("#")
            continue
        if _DOC_END.match(bare):
            docs.append(RawDocument("".join(lines[start:i + 1]), start + 1, len(docs)))
            start = i + 1
            seen_content = False
            continue
        if bare.strip() and not bare.lstrip().startswith("#"):
            seen_content = True
    if start < len(lines) or not docs:
        docs.append(RawDocument("".join(lines[start:]), start + 1, len(docs)))
    return docs


class _DuplicateJSONKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJSONKey(key)
        out[key] = value
    return out


def _json_key_line(text: str, key: str) -> int | None:
    """The line of the second occurrence of `"key":` (json reports no position for it)."""
    found = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    return text.count("\n", 0, found[1]) + 1 if len(found) > 1 else None


def load_documents(source: Source) -> list[Document]:
    """Parse every document of a source. Empty documents are dropped.

    Raises DataError naming file:line for text that is not YAML (or JSON).
    """
    if source.is_json:
        raw = RawDocument(source.text, 1, 0)
        try:
            data = json.loads(source.text, object_pairs_hook=_unique_keys)
        except _DuplicateJSONKey as exc:
            raise DataError.at(f"invalid JSON: duplicate key {exc.key!r}", source.name,
                               _json_key_line(source.text, exc.key)) from None
        except json.JSONDecodeError as exc:
            raise DataError.at(f"invalid JSON: {exc.msg}", source.name, exc.lineno) from None
        except RecursionError:
            raise DataError.at("invalid JSON: nested too deeply", source.name, 1) from None
        return [Document(data, source, raw)]
    out = []
    for raw in split_documents(source.text):
        if raw.is_blank:
            continue
        try:
            data = yaml.load(raw.text, Loader=_ManifestLoader)  # noqa: S506 - a safe loader
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = raw.start_line + mark.line if mark else raw.start_line
            problem = exc.problem or exc.context or "cannot parse"
            if exc.problem_mark and exc.context_mark and problem.startswith("duplicate key"):
                problem += f" (first at line {raw.start_line + exc.context_mark.line})"
            raise DataError.at(f"invalid YAML: {problem}", source.name, line) from None
        except yaml.YAMLError as exc:
            raise DataError.at(f"invalid YAML: {exc}", source.name, raw.start_line) from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. an explicit !!timestamp 2020-02-30
            raise DataError.at(f"invalid YAML value: {exc}", source.name, raw.body_line) from None
        except RecursionError:
            raise DataError.at("invalid YAML: nested too deeply", source.name,
                               raw.start_line) from None
        if data is None:
            continue
        out.append(Document(data, source, raw))
    return out


# --- round trip (ruamel) -------------------------------------------------------------

def _rt_yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a user's long lines
    return y


def roundtrip_yaml(*, mapping: int = 2, sequence: int = 2, offset: int = 0,
                   explicit_start: bool = False):
    """A round-trip YAML instance that writes in a given indentation style
    (kubectl's by default: dashes under their key)."""
    y = _rt_yaml()
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    y.explicit_start = explicit_start
    return y


def roundtrip_load(text: str) -> Any:
    """Load one document keeping comments, order and quoting."""
    return _rt_yaml().load(text)


def roundtrip_dump(data: Any, *, yaml=None) -> str:
    buf = io.StringIO()
    (yaml or _rt_yaml()).dump(data, buf)
    return buf.getvalue()


def _node_line(node: Any, path: list[str | int]) -> int | None:
    """0-based line of the deepest existing node along `path` in a ruamel tree."""
    line = None
    for part in path:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                line = lc.item(part)[0]
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                line = lc.key(part)[0]
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return line
