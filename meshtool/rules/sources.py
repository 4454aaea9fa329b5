"""Turn `-f` arguments (files, directories, `-`) into named texts.

Directories are walked recursively for .yaml/.yml/.json files, in sorted order so
that every command sees inputs in the same, reproducible order.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from meshtool.errors import DataError, UsageError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN_NAME = "<stdin>"


@dataclass(frozen=True)
class Source:
    """One input: its display name, the path on disk (None for stdin) and its text."""

    name: str
    text: str
    path: Path | None = None

    @property
    def is_json(self) -> bool:
        """JSON in, JSON out: decided by extension, or by the first character for stdin."""
        if self.path is not None and self.path.suffix == ".json":
            return True
        if self.path is None:
            return self.text.lstrip()[:1] in ("{", "[")
        return False


def expand_paths(args: list[str] | tuple[str, ...]) -> list[str | Path]:
    """Expand -f arguments into file paths (and "-"), without reading them."""
    if not args:
        raise UsageError("no input: give at least one -f FILE, DIR or -")
    out: list[str | Path] = []
    for arg in args:
        if arg == "-":
            out.append("-")
            continue
        path = Path(arg)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix in MANIFEST_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif path.exists():  # a FIFO or a device: reading it may block for ever, or never end
            raise UsageError(f"{arg}: not a regular file; to read a pipe, give -f - and pipe "
                             f"it to standard input")
        else:
            raise UsageError(f"{arg}: no such file or directory")
    if out.count("-") > 1:
        raise UsageError("'-' (standard input) may be given only once")
    return out


def read_source(item: str | Path) -> Source:
    if item == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream handed in by a caller: already decoded
            return Source(STDIN_NAME, sys.stdin.read(), None)
        data = stream.read()
        try:
            return Source(STDIN_NAME, data.decode("utf-8"), None)
        except UnicodeDecodeError as exc:
            raise DataError.at(f"not UTF-8 text (byte {exc.start})", file=STDIN_NAME) from None
    path = Path(item)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError.at(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError.at(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    return Source(display_name(path), text, path)


def read_sources(args: list[str] | tuple[str, ...]) -> list[Source]:
    return [read_source(item) for item in expand_paths(args)]


def display_name(path: Path) -> str:
    """Paths under the working directory are shown relative to it."""
    try:
        return os.path.relpath(path) if not path.is_absolute() else str(path)
    except ValueError:
        return str(path)
