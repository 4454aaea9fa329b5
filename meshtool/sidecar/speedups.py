"""Cheaper versions of a few mitmproxy functions on the request path, computing the same values.

Profiled under `python -m bench sidecar` (py-spy): header lookups went through four generic
layers (Mapping.get -> MultiDict.__getitem__ -> Headers.get_all -> MultiDict.get_all, each
lower-casing every field name through a staticmethod), about a tenth of the sidecar's CPU
time with the HTTP/1 reader asking for Content-Length, Transfer-Encoding and Connection
several times per message; and every flow and connection drew its id from uuid.uuid4()
(an os.urandom system call and a UUID object each).

Applied once, in the sidecar process only (meshtool.sidecar.master); tests/sidecar/
test_speedups.py checks each against mitmproxy's own implementation.
"""

from __future__ import annotations

from random import getrandbits


def random_uuid() -> str:
    """A random (version 4) UUID string: identifiers, not secrets (the Mersenne Twister is
    reseeded in forked workers)."""
    n = getrandbits(128) & ~(0xF000 << 64) & ~(0xC << 60) | (0x4000 << 64) | (0x8 << 60)
    h = "%032x" % n
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _FastUuid:
    """Stands in for the `uuid` module inside mitmproxy.flow and mitmproxy.connection, which
    only call str(uuid.uuid4())."""

    @staticmethod
    def uuid4() -> str:
        return random_uuid()


def _key(name) -> bytes:
    return (name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name).lower()


def _get(self, name, default=None):
    key = _key(name)
    values = [v for n, v in self.fields if n.lower() == key]
    if not values:
        return default
    return ", ".join([v.decode("utf-8", "surrogateescape") for v in values])


def _getitem(self, name):
    key = _key(name)
    values = [v for n, v in self.fields if n.lower() == key]
    if not values:
        raise KeyError(name)
    return ", ".join([v.decode("utf-8", "surrogateescape") for v in values])


def _contains(self, name) -> bool:
    key = _key(name)
    for n, _ in self.fields:
        if n.lower() == key:
            return True
    return False


def install() -> None:
    """Idempotent."""
    from mitmproxy import connection, flow, http

    if getattr(http.Headers, "_meshtool_fast", False):
        return
    http.Headers.get = _get  # type: ignore[method-assign]
    http.Headers.__getitem__ = _getitem  # type: ignore[method-assign]
    http.Headers.__contains__ = _contains  # type: ignore[method-assign]
    http.Headers._meshtool_fast = True  # type: ignore[attr-defined]
    flow.uuid = _FastUuid  # type: ignore[attr-defined]
    connection.uuid = _FastUuid  # type: ignore[attr-defined]
