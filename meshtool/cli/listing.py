"""What `get` prints: targets from its arguments, label selectors, and every output format
(table, wide, yaml, json, name, jsonpath=, custom-columns=), as kubectl spells them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from meshtool.errors import UsageError

Key = tuple[str, "str | None", str]


@dataclass(frozen=True)
class OutputFormat:
    kind: str  # table | wide | yaml | json | name | jsonpath | custom-columns
    template: str = ""


_PLAIN = ("table", "wide", "yaml", "json", "name")


def parse_output(text: str) -> OutputFormat:
    if text in _PLAIN:
        return OutputFormat(text)
    kind, sep, template = text.partition("=")
    if sep and kind in ("jsonpath", "custom-columns") and template:
        fmt = OutputFormat(kind, template)
        if kind == "jsonpath":
            _jsonpath_parts(template)  # refuse a bad template before touching the store
        else:
            _columns(template)
        return fmt
    raise UsageError(f'unknown output format "{text}"; use one of table, wide, yaml, json, name, '
                     f'jsonpath=TEMPLATE, custom-columns=HEADER:.path,...')


def parse_targets(args: tuple[str, ...]) -> tuple[list[str] | None, list[Key]]:
    """`KIND [NAME...]`, `all`, `KIND,KIND` or `KIND/NAME...` -> (kinds to list, or keys to get).
    kinds None means every kind; a key's namespace None means the one of -n."""
    from meshtool.cli.storecmd import kind_of

    if not args:
        raise UsageError("give a KIND (routerule, rr, egressrule, er, destinationpolicy, dp, all), "
                         "optionally with NAMEs, or KIND/NAME")
    if all("/" in a for a in args):
        keys: list[Key] = []
        for a in args:
            parts = a.split("/")
            if len(parts) > 3 or not all(parts):
                raise UsageError(f'"{a}" is not KIND/NAME or KIND/NAMESPACE/NAME')
            kind, ns, name = (parts[0], None, parts[1]) if len(parts) == 2 else parts
            keys.append((kind_of(kind), ns, name))
        return None, keys
    if any("/" in a for a in args):
        raise UsageError("give either KIND NAME... or KIND/NAME..., not both")
    words = args[0].split(",")
    if len(words) == 1 and words[0].lower() == "all":
        if len(args) > 1:
            raise UsageError('give a kind, not "all", to get rules by name')
        return None, []
    kinds = list(dict.fromkeys(kind_of(w) for w in words))
    if len(args) > 1:
        if len(kinds) > 1:
            raise UsageError("give one kind to get rules by name")
        return None, [(kinds[0], None, n) for n in args[1:]]
    return kinds, []


# -- label selectors (the equality- and set-based forms of kubectl -l) --------------------------

_REQ = re.compile(r"\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|"
                  r"\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """'app=x,tier!=db,env in (a,b),!legacy' -> a predicate over a rule's labels."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for req in _split_requirements(text):
        m = _REQ.match(req)
        if not m or (m.group(1) and (m.group(3) or m.group(5))):
            raise UsageError(f'invalid label selector "{text}": cannot read "{req.strip()}"')
        neg, key, op, value, setop, values = m.groups()
        if op in ("=", "=="):
            tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif op == "!=":
            tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
        elif setop:
            vs = {v.strip() for v in values.split(",") if v.strip()}
            tests.append((lambda lb, k=key, vs=vs: lb.get(k) in vs) if setop == "in"
                         else (lambda lb, k=key, vs=vs: lb.get(k) not in vs))
        elif neg:
            tests.append(lambda lb, k=key: k not in lb)
        else:
            tests.append(lambda lb, k=key: k in lb)
    if not tests:
        raise UsageError(f'invalid label selector "{text}": it selects nothing')
    return lambda labels: all(t(labels or {}) for t in tests)


def _split_requirements(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [r for r in out if r.strip()]


# -- rendering -----------------------------------------------------------------------------

def render(items: list, fmt: OutputFormat, *, single: bool, status: dict | None = None) -> str:
    """`status`: key -> the status block of a rule of another API (see model.compile)."""
    from meshtool.cli import render as out
    from meshtool.cli.storecmd import name_form

    manifests = [r.to_manifest() for r in items]
    for r, m in zip(items, manifests):
        if status and r.key in status:
            m["status"] = status[r.key]
    if fmt.kind == "name":
        return "".join(f"{name_form(r)}\n" for r in items)
    if fmt.kind == "yaml":
        # kubectl prints an empty List rather than nothing, so a pipe always gets a document
        return out.dump_yaml(_as_list(manifests)) if not items else out.dump_yaml_stream(manifests)
    if fmt.kind == "json":
        return out.dump_manifests_json(manifests, single=single)
    if fmt.kind == "jsonpath":
        return jsonpath(manifests[0] if single else _as_list(manifests), fmt.template) + "\n"
    if fmt.kind == "custom-columns":
        columns = _columns(fmt.template)
        rows = [[_cell(m, path) for _, path in columns] for m in manifests]
        return text_table([h for h, _ in columns], rows)
    return table(items, wide=fmt.kind == "wide")


def _as_list(manifests: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": manifests}


_TABLE = ("NAME", "KIND", "NAMESPACE", "REVISION", "AGE")
_WIDE = ("NAME", "KIND", "NAMESPACE", "DESTINATION", "ROUTES", "PRECEDENCE", "REVISION", "AGE")


def table(items: list, *, wide: bool = False, now: float | None = None) -> str:
    now = time.time() if now is None else now
    rows = []
    for r in items:
        created = getattr(r, "created", None)
        row = {"NAME": r.name, "KIND": r.kind, "NAMESPACE": r.namespace,
               "REVISION": str(r.revision), "AGE": age(now - created) if created else "-"}
        if wide:
            row.update(DESTINATION=destination(r.spec), ROUTES=routes(r.spec),
                       PRECEDENCE=str(r.spec.get("precedence", "-")) if r.kind == "RouteRule"
                       else "-")
        rows.append([row[c] for c in (_WIDE if wide else _TABLE)])
    return text_table(list(_WIDE if wide else _TABLE), rows)


def destination(spec: dict) -> str:
    dest = spec.get("destination") or {}
    if not isinstance(dest, dict):
        return "-"
    name = dest.get("name") or dest.get("service") or "-"
    ports = spec.get("ports")
    if isinstance(ports, list) and ports:
        name += ":" + ",".join(str(p.get("port")) for p in ports if isinstance(p, dict))
    return name + (f".{dest['namespace']}" if dest.get("namespace") else "")


def routes(spec: dict) -> str:
    """'version=v1:90,version=v2:10' for a weighted split; '-' when the rule routes nowhere."""
    parts = []
    for route in spec.get("route") or []:
        if not isinstance(route, dict):
            continue
        labels = ",".join(f"{k}={v}" for k, v in (route.get("labels") or {}).items()) or "*"
        weight = route.get("weight")
        parts.append(f"{labels}:{weight}" if weight is not None else labels)
    return " ".join(parts) or "-"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns as wide as their content, three spaces apart, bold headers only on a terminal."""
    from meshtool.cli.render import styled

    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "   ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n"

    head = line(headers)
    return (styled(head.rstrip("\n"), "bold") + "\n") + "".join(line(r) for r in rows)


def age(seconds: float) -> str:
    """kubectl-style age: 45s, 12m, 5h, 3d."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 120 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


# -- jsonpath and custom-columns (kubectl's template form over jsonpath-ng) ---------------------

_EXPR = re.compile(r"\{([^{}]*)\}")


def _jsonpath_parts(template: str) -> list[tuple[str, Any]]:
    """'names: {.items[*].metadata.name}' -> [('text', 'names: '), ('path', compiled)]."""
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    parts: list[tuple[str, Any]] = []
    pos = 0
    for m in _EXPR.finditer(template):
        parts.append(("text", template[pos:m.start()]))
        expr = m.group(1).strip()
        if not expr.startswith((".", "$", "[")):
            raise UsageError(f'jsonpath "{template}": "{{{expr}}}" must start with "." (e.g. '
                             f'{{.metadata.name}})')
        try:
            parts.append(("path", parse(expr if expr.startswith("$") else "$" + expr)))
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # noqa: BLE001
            raise UsageError(f'jsonpath "{template}": cannot parse "{{{expr}}}": '
                             f'{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}') from None
        pos = m.end()
    parts.append(("text", template[pos:]))
    if not any(kind == "path" for kind, _ in parts):
        raise UsageError(f'jsonpath "{template}" has no {{.path}} in it')
    return parts


def jsonpath(data: Any, template: str) -> str:
    out = []
    for kind, part in _jsonpath_parts(template):
        if kind == "text":
            out.append(part.replace("\\n", "\n").replace("\\t", "\t"))
        else:
            out.append(" ".join(_scalar(m.value) for m in part.find(data)))
    return "".join(out)


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _columns(spec: str) -> list[tuple[str, Any]]:
    columns = []
    for col in spec.split(","):
        header, sep, path = col.partition(":")
        if not sep or not header or not path.startswith("."):
            raise UsageError(f'custom-columns "{spec}": each column is HEADER:.json.path, '
                             f'got "{col}"')
        columns.append((header, _jsonpath_parts("{" + path + "}")[1][1]))
    return columns


def _cell(manifest: dict, path) -> str:
    values = [_scalar(m.value) for m in path.find(manifest)]
    return ",".join(values) if values else "<none>"


# -- --watch ---------------------------------------------------------------------------------

def watch(store, kinds: list[str] | None, namespace: str | None, match, fmt: OutputFormat) -> int:
    """Print every change after the listing, one row (or document) per changed rule, until Ctrl-C."""
    import click

    revision = store.revision()
    while True:
        for change in store.watch(revision, timeout=1.0):
            revision = max(revision, change.revision)
            r = change.resource
            if (kinds and r.kind not in kinds) or (namespace and r.namespace != namespace) or \
                    (match is not None and not match(r.labels)):
                continue
            if fmt.kind in ("table", "wide"):
                text = table([r], wide=fmt.kind == "wide").split("\n", 1)[1]
                click.echo(f"{change.type:<9}{text}", nl=False)
            else:
                click.echo(render([r], fmt, single=True), nl=False)
