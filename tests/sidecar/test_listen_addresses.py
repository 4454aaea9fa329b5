"""Which address each port of a real sidecar process is bound to, read back from the kernel
(ss), and the start-up line saying the same: admin on loopback in every mode, the health port
and the proxy listeners on --listen-host (default 0.0.0.0 in transparent mode)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from sidecar_mesh import MESHTOOL, ROOT, free_port, http_get, stop_all

pytestmark = pytest.mark.skipif(not shutil.which("ss"), reason="needs ss (iproute2)")


def _listening(pid: int) -> set[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def _start(tmp_path, *args):
    snap = tmp_path / "snap.json"
    snap.write_text('{"version": "1"}')
    ports = {k: free_port() for k in ("inbound", "outbound", "admin", "health")}
    log = tmp_path / f"sidecar-{ports['admin']}.log"
    proc = subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--snapshot", str(snap), "--inbound-port",
         str(ports["inbound"]), "--outbound-port", str(ports["outbound"]), "--admin-port",
         str(ports["admin"]), "--health-port", str(ports["health"]), *args],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=ROOT)
    deadline = time.monotonic() + 30
    while "ready in" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, ports, log.read_text()


@pytest.mark.parametrize("args, host", [
    (("--mode", "transparent"), "0.0.0.0"),
    (("--mode", "transparent", "--listen-host", "127.0.0.1"), "127.0.0.1"),
    (("--mode", "explicit", "--app-port", "1"), "127.0.0.1"),
])
def test_admin_stays_on_loopback_and_the_rest_follows_the_listen_host(tmp_path, args, host):
    proc, ports, line = _start(tmp_path, *args)
    try:
        bound = _listening(proc.pid)
        assert bound == {f"127.0.0.1:{ports['admin']}", f"{host}:{ports['health']}",
                         f"{host}:{ports['inbound']}", f"{host}:{ports['outbound']}"}
        assert f"health {host}:{ports['health']}; admin 127.0.0.1:{ports['admin']}" in line
        assert re.search(rf"{re.escape(host)}:{ports['outbound']}\b", line)
        # the health port answers /ready and metrics, nothing that reveals configuration
        assert http_get(ports["health"], "/ready")[0] == 200
        assert http_get(ports["health"], "/config_dump")[0] == 404
        assert http_get(ports["health"], "/stats/prometheus")[0] == 200  # for Prometheus
        assert http_get(ports["admin"], "/config_dump")[0] == 200
    finally:
        stop_all([proc])
