"""A real Zipkin server for the tracing tests and the tracing benchmark.

The jar is the zipkin-server executable jar from Maven Central, which scripts/zipkin-server.sh
downloads once into ~/.cache/meshtool/zipkin/ (`make test` runs it); it runs on the machine's
Java 17 with in-memory storage, on a free loopback port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from meshtool.ports import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "zipkin-server.sh"


def jar_path() -> Path | None:
    """The cached jar, or None (then the caller skips, naming the script to run)."""
    try:
        out = subprocess.run([str(SCRIPT), "--print-path"], capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(out)
    return path if path.is_file() and shutil.which("java") else None


class Zipkin:
    def __init__(self, jar: Path, log: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            ["java", "-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
             "-jar", str(jar), f"--server.port={self.port}", "--server.address=127.0.0.1",
             "--logging.level.root=WARN"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "STORAGE_TYPE": "mem", "QUERY_PORT": str(self.port),
                 "SELF_TRACING_ENABLED": "false", "COLLECTOR_SCRIBE_ENABLED": "false"})

    @property
    def spans_endpoint(self) -> str:
        return f"{self.url}/api/v2/spans"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zipkin exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200 and b"UP" in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"zipkin not healthy after {timeout}s; see {self.log.name}")

    def get(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.loads(r.read())

    def traces(self, service: str, limit: int = 100) -> list[list[dict]]:
        return self.get(f"/api/v2/traces?serviceName={service}&limit={limit}&lookback=3600000")

    def trace(self, trace_id: str) -> list[dict]:
        return self.get(f"/api/v2/trace/{trace_id}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
