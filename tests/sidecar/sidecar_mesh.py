"""Helpers of the sidecar tests: snapshot documents and real processes on loopback.

Imported by conftest.py (which puts this directory on sys.path) and by the end-to-end tests.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from meshtool.ports import free_port  # noqa: F401 - tests import it from here


def rule(kind: str, name: str, spec: dict, namespace: str = "default") -> dict:
    return {"apiVersion": "config.meshtool.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def canary_doc(v1: int = 90, v2: int = 10, version: str = "1", extra_rules=(), v1_port=5001,
               v2_port=5002) -> dict:
    return {
        "version": version,
        "services": [{"name": "benigno", "namespace": "default", "ports": [5000], "endpoints": [
            {"address": "127.0.0.1", "port": v1_port, "labels": {"version": "v1"}},
            {"address": "127.0.0.1", "port": v2_port, "labels": {"version": "v2"}}]}],
        "rules": [rule("RouteRule", "benigno-canary", {
            "destination": {"name": "benigno"},
            "route": [{"labels": {"version": "v1"}, "weight": v1},
                      {"labels": {"version": "v2"}, "weight": v2}]}), *extra_rules],
    }




@contextmanager
def serving(handler) -> Iterator[int]:
    """A threaded HTTP server in this process on a free loopback port (yields the port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "services"
MESHTOOL = [sys.executable, "-m", "meshtool"]


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def stop_all(procs: list[subprocess.Popen], timeout: float = 5.0) -> None:
    """SIGTERM every process, then wait for each (SIGKILL if it outstays `timeout`)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()


class ProxyClient:
    """A keep-alive HTTP client that sends absolute-form requests to an explicit proxy."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port, self.timeout, self.conn = port, timeout, None

    def get(self, url: str, headers: dict | None = None, method: str = "GET"):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, url, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, dict(r.getheaders()), r.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def close(self):
        if self.conn is not None:
            self.conn.close()


class Sidecar:
    def __init__(self, mesh, name: str, doc: dict, args: list[str], env: dict | None = None):
        self.name = name
        self.snapshot = mesh.tmp / f"{name}.json"
        self.write(doc)
        self.inbound, self.outbound, self.admin = free_port(), free_port(), free_port()
        self.log = open(mesh.tmp / f"{name}.log", "wb")
        self.proc = subprocess.Popen(
            [*MESHTOOL, "proxy", "run", "--snapshot", str(self.snapshot),
             "--inbound-port", str(self.inbound), "--outbound-port", str(self.outbound),
             "--admin-port", str(self.admin), *args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})

    def write(self, doc: dict) -> None:
        tmp = self.snapshot.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.snapshot)  # a new inode: the watcher sees the change at once

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar {self.name} exited: {self.output()}")
            try:
                if http_get(self.admin, "/ready", 1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"sidecar {self.name} not ready: {self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def config_dump(self) -> dict:
        return json.loads(http_get(self.admin, "/config_dump")[1])

    def metrics(self) -> str:
        return http_get(self.admin, "/stats/prometheus")[1].decode()

    def apply(self, doc: dict, timeout: float = 5.0) -> None:
        """Write a new snapshot and wait until it is in force (or was rejected)."""
        self.write(doc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dump = self.config_dump()
            rejected = (dump.get("lastRejected") or {}).get("version")
            if dump["version"] == str(doc.get("version")) or rejected == doc.get("version"):
                return
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not take snapshot {doc.get('version')}")


class Mesh:
    """Processes of one test topology; everything is stopped by close()."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.sidecars: list[Sidecar] = []

    def app(self, script: str, *args: str, proxy: Sidecar | None = None,
            port: int | None = None) -> int:
        port = port or free_port()
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
        for k in ("HTTP_PROXY", "http_proxy"):
            env.pop(k, None)
        if proxy is not None:
            env["HTTP_PROXY"] = f"http://127.0.0.1:{proxy.outbound}"
        self.procs.append(subprocess.Popen([sys.executable, str(SAMPLES / script), "--port",
                                            str(port), *args], env=env))
        return port

    def sidecar(self, name: str, doc: dict, *args: str, env: dict | None = None) -> Sidecar:
        sc = Sidecar(self, name, doc, list(args), env)
        self.procs.append(sc.proc)
        self.sidecars.append(sc)
        return sc

    def close(self) -> None:
        stop_all(self.procs)
        for sc in self.sidecars:
            sc.log.close()
