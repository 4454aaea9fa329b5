"""Text: one line per message, the level coloured when writing to a terminal."""

from __future__ import annotations

from meshtool.analysis.messages import Level

_COLORS = {Level.ERROR: "\033[1;31m", Level.WARNING: "\033[1;33m", Level.INFO: "\033[1;36m"}
_RESET = "\033[0m"


def render(report, messages, options) -> str:
    lines = []
    for m in messages:
        line = str(m)
        if options.color:
            title = m.level.title
            line = f"{_COLORS[m.level]}{title}{_RESET}{line[len(title):]}"
        lines.append(line + "\n")
    return "".join(lines)
