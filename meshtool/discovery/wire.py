"""Frames of the push stream: a per-proxy envelope around bytes shared by every proxy.

An update (a full snapshot or a delta) is encoded once per version (`Payload`); each proxy's
frame is that payload behind its own small envelope (type, version, base, nonce), so sending
one update to ten thousand proxies costs one encoding, not ten thousand.

A sidecar that accepts `zlib` (its hello) gets a payload above COMPRESS_ABOVE as one binary
frame: the envelope as a JSON line, a newline, then the payload compressed once with zlib.
Every other message is one JSON object in one text frame, as the protocol always had.
Standard library only.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from meshtool.discovery.protocol import DELTA, SNAPSHOT

COMPRESS_ABOVE = 16 * 1024  # smaller payloads gain little and cost a decompression each
MAX_PAYLOAD = 64 * 1024 * 1024  # decompressed size a sidecar accepts (a zip bomb stops here)
ENCODING_ZLIB = "zlib"

_FIELD = {SNAPSHOT: "snapshot", DELTA: "update"}  # where each type carries its payload
_NONCE = "\x00nonce\x00"  # a placeholder no real nonce can be: where each proxy's goes
_NONCE_JSON = json.dumps(_NONCE).encode()
_PLAIN = re.compile(r"[A-Za-z0-9._-]*")  # a JSON string of these is the text in quotes


@dataclass(frozen=True, eq=False)
class Payload:
    """The shared part of an update: `utf8` is the JSON of the snapshot or the delta's update."""

    kind: str  # SNAPSHOT | DELTA
    version: str
    base: str | None  # DELTA: the version it applies to (None: to nothing, the full state)
    utf8: bytes

    @cached_property
    def compressed(self) -> bytes | None:
        """zlib of the payload, made on first use and shared; None when not worth it."""
        if len(self.utf8) <= COMPRESS_ABOVE:
            return None
        return zlib.compress(self.utf8, 6)

    def envelope(self, nonce: str, **extra: Any) -> dict[str, Any]:
        env: dict[str, Any] = {"type": self.kind, "version": self.version, "nonce": nonce}
        if self.kind == DELTA:
            env["base"] = self.base
        env.update(extra)
        return env

    @cached_property
    def _text_parts(self) -> tuple[bytes, bytes]:
        """The text frame around the nonce: encoded once, so that a proxy's frame is a join."""
        return self._parts(self.envelope(_NONCE), b',"%s":%s}' % (_FIELD[self.kind].encode(),
                                                                   self.utf8), closing=True)

    @cached_property
    def _binary_parts(self) -> tuple[bytes, bytes]:
        return self._parts(self.envelope(_NONCE, encoding=ENCODING_ZLIB),
                           b"\n" + (self.compressed or b""), closing=False)

    @staticmethod
    def _parts(env: dict, tail: bytes, closing: bool) -> tuple[bytes, bytes]:
        head = json.dumps(env, separators=(",", ":")).encode()
        if closing:  # the payload goes in last: before the envelope's closing brace
            head = head[:-1]
        before, after = head.split(_NONCE_JSON)
        return before, after + tail

    def frame(self, nonce: str, compress: bool) -> tuple[bytes, bool]:
        """(the frame's bytes, whether it is binary) for one proxy."""
        binary = compress and self.compressed is not None
        before, after = self._binary_parts if binary else self._text_parts
        quoted = (b'"%s"' % nonce.encode() if _PLAIN.fullmatch(nonce)  # a control plane's own
                  else json.dumps(nonce).encode())
        return b"".join((before, quoted, after)), binary


def inflate(data: bytes, limit: int = MAX_PAYLOAD) -> bytes:
    """zlib-decompress at most `limit` bytes; ValueError when corrupt or larger."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error as exc:
        raise ValueError(f"compressed payload does not decompress: {exc}") from None
    if d.unconsumed_tail or not d.eof:
        raise ValueError(f"compressed payload is truncated or larger than {limit} bytes")
    return out


def split_binary(data: bytes, loads: Callable[[str], Any] = json.loads) -> tuple[dict, bytes]:
    """A binary frame -> (its envelope, the compressed payload); ValueError when malformed."""
    head, sep, body = data.partition(b"\n")
    if not sep:
        raise ValueError("binary frame without an envelope line")
    try:
        env = loads(head.decode())
    except UnicodeDecodeError as exc:
        raise ValueError(f"binary frame envelope is not UTF-8: {exc}") from None
    if not isinstance(env, dict) or env.get("encoding") != ENCODING_ZLIB:
        raise ValueError("binary frame: envelope must be a JSON object with encoding zlib")
    if env.get("type") not in _FIELD:
        raise ValueError(f"binary frame: type {env.get('type')!r} carries no payload")
    return env, body


def decode_message(data: str | bytes, loads: Callable[[str], Any] = json.loads) -> Any:
    """A frame (text, or binary with a compressed payload) -> the message as one JSON value."""
    if isinstance(data, str):
        return loads(data)
    env, body = split_binary(data, loads)
    env = dict(env)
    env.pop("encoding")
    env[_FIELD[env["type"]]] = loads(inflate(body).decode())
    return env
