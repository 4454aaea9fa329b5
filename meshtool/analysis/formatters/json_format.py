"""JSON: a list of message objects (code, level, name, message, resource, file, line, ...)."""

from __future__ import annotations

import json


def render(report, messages, options) -> str:
    return json.dumps([m.to_dict() for m in messages], indent=2) + "\n"
