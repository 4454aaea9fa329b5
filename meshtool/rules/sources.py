"""Turn `-f` arguments (files, directories, `-`) into named texts.

Directories are walked recursively for .yaml/.yml/.json files, in sorted order so
that every command sees inputs in the same, reproducible order.

Plain os.path, not pathlib: every command that reads files starts here, and pathlib (with the
urllib.parse and ipaddress it imports) is a tenth of kube-inject's own start-up.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple, Union

from meshtool.errors import DataError, UsageError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN_NAME = "<stdin>"
StrPath = Union[str, "os.PathLike[str]"]  # what callers hand in; read_source gives str


class Source(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    """One input: its display name, the path on disk (None for stdin) and its text."""

    name: str
    text: str
    path: StrPath | None = None

    @property
    def is_json(self) -> bool:
        """JSON in, JSON out: decided by extension, or by the first character for stdin."""
        if self.path is not None and os.path.splitext(self.path)[1] == ".json":
            return True
        if self.path is None:
            return self.text.lstrip()[:1] in ("{", "[")
        return False


def expand_paths(args: list[str] | tuple[str, ...]) -> list[str]:
    """Expand -f arguments into file paths (and "-"), without reading them."""
    if not args:
        raise UsageError("no input: give at least one -f FILE, DIR or -")
    out: list[str] = []
    for arg in args:
        if arg == "-":
            out.append("-")
            continue
        path = os.fspath(arg)
        if os.path.isdir(path):
            out.extend(_walk(path))
        elif os.path.isfile(path):
            out.append(path)
        elif os.path.exists(path):  # a FIFO or a device: reading it may block for ever, or never end
            raise UsageError(f"{arg}: not a regular file; to read a pipe, give -f - and pipe "
                             f"it to standard input")
        else:
            raise UsageError(f"{arg}: no such file or directory")
    if out.count("-") > 1:
        raise UsageError("'-' (standard input) may be given only once")
    return out


def _walk(top: str) -> list[str]:
    """The manifest files under `top`, hidden files and folders left out, sorted by path
    component (a/x before a-b/x); symlinked folders are not followed, symlinked files are read."""
    found: list[tuple[list[str], str]] = []
    for directory, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(directory, top)
        parts = [] if rel == os.curdir else rel.split(os.sep)
        for name in files:
            path = os.path.normpath(os.path.join(directory, name))
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES) \
                    and os.path.isfile(path):
                found.append(([*parts, name], path))
    return [path for _, path in sorted(found)]


def read_source(item: StrPath) -> Source:
    if item == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream handed in by a caller: already decoded
            return Source(STDIN_NAME, sys.stdin.read(), None)
        data = stream.read()
        try:
            return Source(STDIN_NAME, data.decode("utf-8"), None)
        except UnicodeDecodeError as exc:
            raise DataError.at(f"not UTF-8 text (byte {exc.start})", file=STDIN_NAME) from None
    path = os.fspath(item)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError.at(f"cannot read: {exc.strerror}", file=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError.at(f"not UTF-8 text (byte {exc.start})", file=path) from None
    return Source(display_name(path), text, path)


def read_sources(args: list[str] | tuple[str, ...]) -> list[Source]:
    return [read_source(item) for item in expand_paths(args)]


def display_name(path: str) -> str:
    """Paths under the working directory are shown relative to it."""
    try:
        return os.path.relpath(path) if not os.path.isabs(path) else os.path.normpath(path)
    except ValueError:
        return path
