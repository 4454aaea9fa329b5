"""Output helpers: data to stdout, reports to stderr, colour only on a TTY without NO_COLOR."""

from __future__ import annotations

import json
import sys
from typing import Any


def stderr_console():
    """A rich console on stderr. rich itself honours NO_COLOR and non-TTY output."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def report(line: str, quiet: bool = False) -> None:
    """One report line on stderr (never stdout, which carries data for pipes)."""
    if not quiet:
        print(line, file=sys.stderr, flush=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def dump_manifests_json(manifests: list[dict], *, single: bool) -> str:
    """One manifest as itself when `single`, else all of them as a Kubernetes List (as kubectl)."""
    data = manifests[0] if single else {"apiVersion": "v1", "kind": "List", "items": manifests}
    return dump_json(data)


def dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_yaml_stream(items: list[Any]) -> str:
    return "---\n".join(dump_yaml(i) for i in items)
