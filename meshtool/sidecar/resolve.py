"""--resolve overrides, in curl's spirit: HOST[:PORT]=ADDR[:PORT].

A local mesh or a test gives an external host (msgd.example.com:9997) a real address on this
machine (127.0.0.1:41234) without DNS. The egress policy still decides on the name and port the
app asked for; only the connection goes elsewhere.
"""

from __future__ import annotations

Target = tuple[str, int | None]


def _split(text: str, what: str) -> Target:
    """"host", "host:80", "[::1]:80" -> (host, port or None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"--resolve {what} {text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"--resolve {what} {text!r}: the host is empty")
    if not port_text:
        return host.lower(), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--resolve {what} {text!r}: the port must be 1..65535")
    return host.lower(), int(port_text)


class Resolver:
    """Maps (host, port) as the app asked to (address, port) to connect to."""

    def __init__(self, overrides: dict[str, str] | None = None):
        self.table: dict[Target, Target] = {}
        for key, value in (overrides or {}).items():
            self.table[_split(key, "host")] = _split(value, "address")

    def __call__(self, host: str, port: int) -> tuple[str, int]:
        host = host.lower()
        hit = self.table.get((host, port)) or self.table.get((host, None))
        if hit is None:
            return host, port
        addr, new_port = hit
        return addr, new_port or port

    def __bool__(self) -> bool:
        return bool(self.table)
