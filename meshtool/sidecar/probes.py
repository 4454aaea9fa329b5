"""Rewritten Kubernetes probes: the health (and admin) port runs the app's original probe on localhost.

MESHTOOL_APP_PROBES maps "/app-health/<container>/readyz" to the probe action the injector
took out of the pod spec ({"httpGet": ...} | {"tcpSocket": ...} | {"grpc": ...}).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


def parse_probes(text: str | None) -> dict[str, dict[str, Any]]:
    """ValueError when MESHTOOL_APP_PROBES is not a JSON object of path -> probe action."""
    if not text:
        return {}
    try:
        probes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"MESHTOOL_APP_PROBES is not valid JSON: {exc}") from exc
    if not isinstance(probes, dict) or not all(isinstance(v, dict) for v in probes.values()):
        raise ValueError("MESHTOOL_APP_PROBES must be a JSON object mapping paths to probe actions")
    return probes


async def run_probe(action: dict[str, Any], timeout: float = 1.0) -> tuple[int, str]:
    """(HTTP status for the kubelet, a short explanation)."""
    try:
        if "httpGet" in action:
            return await asyncio.wait_for(_http_get(action["httpGet"]), timeout)
        spec = action.get("tcpSocket") or action.get("grpc")  # grpc: a connect check only
        if spec is None:
            return 500, f"unsupported probe action {sorted(action)}"
        port = _port(spec)
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(spec.get("host") or "127.0.0.1", port), timeout)
        writer.close()
        return 200, f"tcp port {port} open"
    except (OSError, asyncio.TimeoutError, ValueError) as exc:
        return 503, f"probe failed: {type(exc).__name__} {exc}"


def _port(spec: dict[str, Any]) -> int:
    port = spec.get("port")
    if not isinstance(port, int):
        raise ValueError(f"named probe port {port!r} cannot be resolved by the sidecar")
    return port


async def _http_get(spec: dict[str, Any]) -> tuple[int, str]:
    import h11

    port, path = _port(spec), spec.get("path") or "/"
    host = spec.get("host") or "127.0.0.1"
    reader, writer = await asyncio.open_connection(host, port)
    headers = [("host", f"{host}:{port}"), ("connection", "close"),
               ("user-agent", "meshtool-probe")]
    headers += [(h["name"], h["value"]) for h in spec.get("httpHeaders") or []]
    conn = h11.Connection(h11.CLIENT)
    try:
        writer.write(conn.send(h11.Request(method="GET", target=path, headers=headers)))
        writer.write(conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                return event.status_code, f"app answered {event.status_code}"
            if event is h11.NEED_DATA:
                data = await reader.read(4096)
                if not data:
                    raise ConnectionResetError("the app closed the connection")
                conn.receive_data(data)
    except h11.ProtocolError as exc:
        raise ValueError(f"not an HTTP answer: {exc}") from exc
    finally:
        writer.close()
