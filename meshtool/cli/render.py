"""Output helpers: data to stdout, reports to stderr, colour only on a TTY without NO_COLOR."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, TextIO


def no_styling() -> bool:
    """NO_COLOR (any non-empty value, as no-color.org says) turns off every style, bold included."""
    return bool(os.environ.get("NO_COLOR"))


def stderr_console():
    """A rich console on stderr: plain when not a TTY; without any style under NO_COLOR
    (rich's own NO_COLOR handling drops colours but keeps bold and dim)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, **_plain())


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, **_plain())


def _plain() -> dict:
    return {"color_system": None} if no_styling() else {}


_SGR = {"bold": "1", "dim": "2"}


def styled(text: str, style: str, stream: TextIO | None = None) -> str:
    """`text` in bold (or dim) when `stream` (stdout) is a terminal and NO_COLOR is not set."""
    stream = stream or sys.stdout
    if no_styling() or not stream.isatty():
        return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


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


# A YAML 1.2 reader (ruamel, and others that follow 1.2) takes these plain scalars for numbers where
# PyYAML's YAML 1.1 resolver sees strings: an exponent without a sign ("3.02364e34", a snapshot
# version whose hash happens to look so) and octal "0o17". PyYAML quotes only what 1.1 misreads.
_NUMBER_IN_YAML_12 = r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+"


@functools.lru_cache(maxsize=None)  # one class for every dump (get -o yaml dumps per item)
def _dumper():
    import re

    import yaml

    number = re.compile(_NUMBER_IN_YAML_12)

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = "'" if number.fullmatch(value) else None  # the quotes PyYAML uses itself
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def dump_yaml(data: Any) -> str:
    """YAML that a YAML 1.1 and a YAML 1.2 reader both read back as `data`."""
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                     allow_unicode=True)


def dump_yaml_stream(items: list[Any]) -> str:
    return "---\n".join(dump_yaml(i) for i in items)
