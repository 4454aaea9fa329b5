"""Report formats, one small module each: render(report, messages, options) -> str."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from meshtool.analysis.messages import Level

FORMATS = ("text", "json", "sarif", "junit", "github")


@dataclass(frozen=True)
class Options:
    color: bool = False
    failure_threshold: Level = Level.ERROR


def render(fmt: str, report, messages, options: Options = Options()) -> str:
    """`messages` are the report's messages at or above the output threshold."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    module = importlib.import_module(f"meshtool.analysis.formatters.{fmt}_format")
    return module.render(report, messages, options)
