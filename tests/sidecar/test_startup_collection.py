"""A real `proxy run` starts with the cyclic collector off (start-up only builds objects that
live for ever) and must have it back on, with start-up's objects frozen, once it is ready:
a proxy that ran for days without collection would leak every reference cycle it made."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sidecar_mesh import ROOT, free_port

REPORT = ("import atexit, gc, sys\n"
          "atexit.register(lambda: print('collector', gc.isenabled(), gc.get_freeze_count() > 0,"
          " file=sys.stderr, flush=True))\n"
          "sys.argv = ['meshtool', *sys.argv[1:]]\n"
          "from meshtool.cli.main import entry\n"
          "entry()\n")


def test_collector_is_on_and_startup_frozen_once_the_proxy_is_ready(tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text('{"version": "1"}')
    log = tmp_path / "sidecar.log"
    ports = [str(free_port()) for _ in range(3)]
    proc = subprocess.Popen(
        [sys.executable, "-c", REPORT, "proxy", "run", "--snapshot", str(snap),
         "--inbound-port", ports[0], "--outbound-port", ports[1], "--admin-port", ports[2],
         "--app-port", "1"], stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "ready in" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "collector True True" in log.read_text(), log.read_text()
