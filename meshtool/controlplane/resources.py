"""The control plane's state resource by resource, the views proxies get, and the updates
between views, each encoded once.

A resource (one service with its endpoints, one compiled rule) is re-encoded only when its
content changes; its JSON and a digest are kept (`Entry`). A `View` is the set of resources one
proxy receives (every proxy, until scopes narrow it) with a content-named version. An update
from view A to view B (a delta: what changed or went; or the whole of B for old sidecars) is
encoded once and shared by every proxy that moves from A to B (`Updates`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from meshtool.discovery import snapshot as document
from meshtool.discovery.protocol import DELTA, SNAPSHOT
from meshtool.discovery.wire import Payload


@dataclass(frozen=True, eq=False)
class Entry:
    id: str
    doc: dict
    utf8: bytes  # its JSON (sorted keys), encoded once
    digest: bytes


def _entry(rid: str, doc: dict) -> Entry:
    utf8 = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return Entry(rid, doc, utf8, hashlib.sha256(utf8).digest()[:12])


class Kind:
    """The entries of one kind of resource (services, or rules), kept across changes."""

    def __init__(self, name: str, ident: Callable[[dict], str]):
        self.name = name
        self._ident = ident
        self.entries: dict[str, Entry] = {}

    def replace(self, docs: Iterable[dict]) -> bool:
        """Take the new set of resources; True when anything changed. An unchanged resource
        keeps its entry (compared as data, which is cheaper than encoding it again)."""
        old, new = self.entries, {}
        for doc in docs:
            rid = self._ident(doc)
            prev = old.get(rid)
            new[rid] = prev if prev is not None and prev.doc == doc else _entry(rid, doc)
        changed = new.keys() != old.keys() or any(new[k] is not old[k] for k in new)
        self.entries = new
        return changed


@dataclass(frozen=True, eq=False)
class View:
    """What one proxy receives: resources by id, and a version naming that content."""

    version: str
    services: Mapping[str, Entry]
    rules: Mapping[str, Entry]
    complete: bool
    digest: str

    def document(self) -> dict:
        return document.document(self.version, {k: e.doc for k, e in self.services.items()},
                                 {k: e.doc for k, e in self.rules.items()}, self.complete)


def make_view(revision: int, services: Mapping[str, Entry], rules: Mapping[str, Entry],
              complete: bool, previous: View | None = None) -> View:
    """A view of these entries; `previous` is returned as is when the content is the same, so
    a change elsewhere does not give an unchanged view a new version (nothing to send)."""
    h = hashlib.sha256()
    for part in (services, rules):
        for rid in sorted(part):
            h.update(rid.encode())
            h.update(part[rid].digest)
        h.update(b"\0")
    h.update(b"c" if complete else b"i")
    digest = h.hexdigest()[:8]
    if previous is not None and previous.digest == digest:
        return previous
    return View(f"{revision}.{digest}", services, rules, complete, digest)


def _object(entries: Iterable[Entry]) -> bytes:
    return b"{%s}" % b",".join(b"%s:%s" % (json.dumps(e.id).encode(), e.utf8) for e in entries)


def full_snapshot(view: View) -> bytes:
    """The whole document of a view (docs/snapshot.md), from the entries' bytes."""
    parts = [b'"version":' + json.dumps(view.version).encode(),
             b'"services":[' + b",".join(view.services[k].utf8 for k in sorted(view.services))
             + b"]",
             b'"rules":[' + b",".join(view.rules[k].utf8 for k in sorted(view.rules)) + b"]"]
    if not view.complete:
        parts.append(b'"complete":false')
    return b"{" + b",".join(parts) + b"}"


def delta(base: View | None, target: View) -> bytes:
    """The update taking a proxy from `base` (None: nothing) to `target`."""
    parts = []
    for name in ("services", "rules"):
        old: Mapping[str, Entry] = getattr(base, name) if base is not None else {}
        new: Mapping[str, Entry] = getattr(target, name)
        changed = [new[k] for k in sorted(new) if old.get(k) is not new[k]
                   and (k not in old or old[k].digest != new[k].digest)]
        gone = sorted(k for k in old if k not in new)
        parts.append(b'"%s":{"set":%s,"remove":%s}' % (name.encode(), _object(changed),
                                                      json.dumps(gone).encode()))
    parts.append(b'"complete":%s' % (b"true" if target.complete else b"false"))
    return b"{" + b",".join(parts) + b"}"


class Updates:
    """Encoded updates, shared by every proxy making the same move; the newest `keep` kept."""

    def __init__(self, keep: int = 256):
        self.keep = keep
        self._cache: OrderedDict[tuple, Payload] = OrderedDict()
        self.encoded = 0  # payloads encoded (not found in the cache), for tests and metrics
        self._last_delta: tuple | None = None  # (base, target, payload) of the last delta asked

    def _get(self, key: tuple, make: Callable[[], Payload]) -> Payload:
        payload = self._cache.get(key)
        if payload is None:
            payload = make()
            self.encoded += 1
            self._cache[key] = payload
            if len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return payload

    def snapshot(self, view: View) -> Payload:
        return self._get((SNAPSHOT, view.version),
                         lambda: Payload(SNAPSHOT, view.version, None, full_snapshot(view)))

    def delta(self, base: View | None, target: View) -> Payload:
        last = self._last_delta  # thousands of proxies in a row make the same move
        if last is not None and last[0] is base and last[1] is target:
            return last[2]
        key = (DELTA, base.version if base else None, target.version)
        payload = self._delta(key, base, target)
        self._last_delta = (base, target, payload)
        return payload

    def _delta(self, key: tuple, base: View | None, target: View) -> Payload:
        return self._get(key, lambda: Payload(DELTA, target.version,
                                              base.version if base else None,
                                              delta(base, target)))
