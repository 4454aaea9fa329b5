"""No traffic lost when the control plane restarts (issue 13): the canary local mesh under load,
the control plane killed with SIGKILL and started again on the same store and port.

Real processes throughout: the control plane, three apps and their mitmproxy sidecars; the load
is 10 keep-alive connections into magnanimo's sidecar, whose app calls benigno through it.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

from meshtool.controlplane.inspect import fetch_replica_tables, fetch_sync_table
from meshtool.errors import MeshtoolError
from meshtool.localmesh.meshfile import load_meshfile
from meshtool.localmesh.processes import spawn, stop
from meshtool.localmesh.scenarios import samples_dir
from meshtool.localmesh.supervisor import down, up
from meshtool.ports import free_ports
from meshtool.store import open_store


class Load:
    """`connections` threads, each sending GET requests over its own keep-alive connection."""

    def __init__(self, port: int, path: str, connections: int = 10):
        self.port, self.path = port, path
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: list[str] = []  # the last answers
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(connections)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                with self._lock:
                    if resp.status == 200:
                        self.ok += 1
                        self.bodies = self.bodies[-50:] + [body.decode(errors="replace")]
                    else:
                        self.failures.append(f"{resp.status} {body[:80]!r}")
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.close()

    def wait_requests(self, more: int, timeout: float = 90.0) -> None:
        """Wait until `more` further requests have succeeded."""
        target = self.ok + more
        deadline = time.monotonic() + timeout
        while self.ok < target:
            assert time.monotonic() < deadline, f"load stalled at {self.ok} (failures: " \
                                                f"{self.failures[:3]})"
            time.sleep(0.01)


def wait_table(address: str, predicate, timeout: float) -> float:
    """Poll the sync table until predicate(table); the monotonic time it held."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            table = fetch_sync_table(address, timeout=2.0)
            if predicate(table):
                return time.monotonic()
            last = [(p["proxyId"], p["status"]) for p in table["proxies"]]
        except MeshtoolError as exc:
            last = str(exc)
        time.sleep(0.01)
    raise AssertionError(f"sync table of {address}: condition not met in {timeout}s: {last}")


def all_synced(count: int):
    return lambda t: len(t["proxies"]) == count and \
        all(p["status"] == "SYNCED" for p in t["proxies"])


def test_kill_and_restart_the_control_plane_under_load_loses_no_request(tmp_path):
    state_dir, store = tmp_path / "mesh", str(tmp_path / "store.db")
    cp_port = free_ports(1)[0]
    cp_addr = f"127.0.0.1:{cp_port}"
    state = up(load_meshfile(samples_dir() / "canary" / "mesh.yaml"), state_dir, store=store,
               control_plane_port=cp_port)
    restarted = None
    try:
        wait_table(cp_addr, all_synced(3), 15)
        cp = state.find("control-plane", "control-plane")
        entry = state.find("magnanimo-v1", "sidecar").ports["inbound"]
        with Load(entry, "/hw2") as load:
            load.wait_requests(200)
            os.kill(cp.pid, signal.SIGKILL)
            os.waitpid(cp.pid, 0)
            load.wait_requests(1000)  # the outage: sidecars serve their last snapshot, back off
            restarted = spawn("control-plane", "control-plane", cp.command,
                              tmp_path / "control-plane-2.log", ports=cp.ports)
            serving = wait_table(cp_addr, lambda t: True, 30)
            synced = wait_table(cp_addr, all_synced(3), 30)
            load.wait_requests(1000)  # past the grace period
        assert load.failures == [], f"{len(load.failures)} failed requests, e.g. {load.failures[:5]}"
        assert synced - serving < 2.0, f"all SYNCED {synced - serving:.2f}s after the restarted " \
                                       f"control plane began serving"
    finally:
        down(state_dir)
        if restarted is not None:
            stop([restarted])



def test_two_replicas_serve_the_mesh_and_one_killed_under_load_loses_no_request(tmp_path):
    state_dir, store = tmp_path / "mesh", str(tmp_path / "store.db")
    state = up(load_meshfile(samples_dir() / "canary" / "mesh.yaml"), state_dir, store=store,
               control_plane_port=free_ports(1)[0], control_plane_replicas=2)
    first, second = state.control_plane.split(",")
    try:
        merged = lambda: fetch_replica_tables(state.control_plane)  # noqa: E731
        wait_until(lambda: all_synced(3)(merged()), 15)
        serving = {p["proxyId"]: p["controlPlane"] for p in merged()["proxies"]}
        assert len(set(serving.values())) == 2, serving  # spread over both replicas
        # a rule written to the store reaches the sidecars of both replicas
        r = subprocess.run([sys.executable, "-m", "meshtool", "create", "-f",
                            str(samples_dir() / "canary/rules/route-100-v2.yaml"), "--store", store],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        with open_store(store) as s:
            revision = s.revision()
        wait_until(lambda: all_synced(3)(merged()) and all(
            (p["acked"] or {}).get("version", "").startswith(f"{revision}.")
            for p in merged()["proxies"]), 15)
        entry = state.find("magnanimo-v1", "sidecar").ports["inbound"]
        with Load(entry, "/hw2") as load:
            load.wait_requests(200)
            cp = state.find("control-plane", "control-plane")  # serves magnanimo (first address)
            os.kill(cp.pid, signal.SIGKILL)
            os.waitpid(cp.pid, 0)
            wait_table(second, all_synced(3), 15)  # every sidecar resynced on the other replica
            load.wait_requests(1000)
        assert load.failures == [], f"{len(load.failures)} failed requests, e.g. {load.failures[:5]}"
        assert load.ok and all("Canary Release" in b for b in load.bodies[-20:])
    finally:
        down(state_dir)


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
