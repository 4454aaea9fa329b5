"""GitHub Actions workflow commands: each message becomes an annotation on the file and line."""

from __future__ import annotations

from meshtool.analysis.messages import Level

COMMANDS = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(report, messages, options) -> str:
    out = []
    for m in messages:
        props = []
        if m.file and m.file != "<stdin>":
            props.append(f"file={_prop(m.file)}")
            if m.line:
                props.append(f"line={m.line}")
        props.append(f"title={_prop(f'{m.code} {m.type.name}')}")
        about = f"{m.resource}: " if m.resource else ""
        out.append(f"::{COMMANDS[m.level]} {','.join(props)}::{_data(about + m.text)}\n")
    return "".join(out)
