"""Run a control plane, or a fleet of simulated proxies, as child processes.

For tests and benchmarks that need the real thing: a separate process on a real port,
killed and restarted at will. Standard library only.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from meshtool.controlplane.inspect import fetch_sync_table
from meshtool.errors import MeshtoolError
from meshtool.ports import free_port  # noqa: F401 - tests and benchmarks import it from here


class _Child:
    proc: subprocess.Popen | None = None

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ControlPlaneProcess(_Child):
    """`meshtool control-plane --store STORE --listen 127.0.0.1:PORT` as a child process."""

    def __init__(self, store: str | os.PathLike, port: int | None = None, *,
                 args: tuple[str, ...] = (), log: str | os.PathLike | None = None,
                 env: dict[str, str] | None = None):
        self.store = str(store)
        self.env = env  # extra environment variables (e.g. POD_NAMESPACE)
        self.port = port or free_port()
        self.args = args
        self.log = Path(log) if log else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "ControlPlaneProcess":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "meshtool", "control-plane", "--store", self.store,
             "--listen", self.address, "--log-level", "info", *self.args],
            stdout=out, stderr=out, env={**os.environ, **self.env} if self.env else None)
        self.wait_for(lambda t: t.get("storeLoaded"), timeout)
        return self

    def sync_table(self) -> dict:
        return fetch_sync_table(self.address, timeout=5.0)

    def summary(self) -> dict:
        return fetch_sync_table(self.address, timeout=5.0, summary=True)

    def wait_for(self, predicate: Callable[[dict], object], timeout: float = 10.0,
                 interval: float = 0.02, summary: bool = False) -> dict:
        """Poll /debug/syncz until predicate(table) is true; the table, or TimeoutError.
        With `summary`, poll the cheap summary form instead."""
        deadline = time.monotonic() + timeout
        last: dict | str = "never answered"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"control plane exited with {self.proc.returncode}"
                                   + (f"; log: {self.log}" if self.log else ""))
            try:
                table = self.summary() if summary else self.sync_table()
                if predicate(table):
                    return table
                last = table
            except MeshtoolError as exc:
                last = str(exc)
            time.sleep(interval)
        raise TimeoutError(f"control plane {self.address}: condition not met in {timeout}s; "
                           f"last: {last}")


class SimulatedFleet(_Child):
    """`python -m meshtool.testing.simulate ...` as a child process; `start` returns once
    every simulated proxy has answered its first snapshot."""

    def __init__(self, address: str, count: int, *, prefix: str = "sim", services: int = 10,
                 inbound_base: int = 20000, nack_rule: str | None = None,
                 admin_base: int | str | None = None, log: str | os.PathLike | None = None,
                 sotw: bool = False, namespace: str | None = None,
                 trace: str | os.PathLike | None = None, trace_every: int = 1):
        self.address = address
        self.count = count
        self.argv = [sys.executable, "-P", "-m", "meshtool.testing.simulate", "--control-plane",
                     address, "--count", str(count), "--prefix", prefix, "--services",
                     str(services), "--inbound-base", str(inbound_base)]
        if nack_rule:
            self.argv += ["--nack-rule", nack_rule]
        if admin_base:
            self.argv += ["--admin-base", str(admin_base)]
        if sotw:  # the old protocol: whole snapshots
            self.argv.append("--sotw")
        if namespace:
            self.argv += ["--namespace", namespace]
        if trace:  # when each proxy applied which version (simulate.ApplyTrace)
            self.argv += ["--trace", str(trace), "--trace-every", str(trace_every)]
        self.log = Path(log) if log else None

    def start(self, timeout: float = 60.0, wait: bool = True) -> "SimulatedFleet":
        err = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=err)
        if not wait:
            return self
        deadline = time.monotonic() + timeout
        fd, buf = self.proc.stdout.fileno(), b""
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.05)[0]:
                buf += os.read(fd, 4096)
                if b"ready" in buf:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulated proxies exited with {self.proc.returncode}")
        self.kill()
        raise TimeoutError(f"{self.count} simulated proxies not ready in {timeout}s")
