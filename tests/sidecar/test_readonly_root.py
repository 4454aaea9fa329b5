"""The injected sidecar runs with a read-only root filesystem: it must never need to write its
home directory (stock mitmproxy writes a CA into ~/.mitmproxy; our Master loads no TLS addon)."""

import json
import os
import subprocess
import sys
import time
import urllib.request

from meshtool.ports import free_ports


def test_sidecar_starts_and_serves_with_an_unwritable_home(tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"version": "1", "services": [], "rules": []}))
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    inbound, outbound, admin, app = free_ports(4)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot", str(snap),
                             "--inbound-port", str(inbound), "--outbound-port", str(outbound),
                             "--admin-port", str(admin), "--app-port", str(app)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.monotonic() + 20, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.05)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "not ready"
        assert list(home.iterdir()) == []
    finally:
        proc.terminate()
        proc.wait(10)
        home.chmod(0o700)
