"""bench/core_only.py, the sidecar with no policy that `bench core` measures beside the real one:
a real process that must keep forwarding as the Sidecar class changes under it."""

import http.server
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from meshtool.ports import free_ports
from meshtool.testing.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_core_only_forwards_absolute_form_requests_with_no_policy():
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port, admin = free_ports(2)
    proc = subprocess.Popen([sys.executable, "-m", "bench.core_only", str(port), str(admin)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"}))
        url = f"http://127.0.0.1:{backend.server_address[1]}/hw2"
        body = wait_for(lambda: opener.open(url, timeout=5).read(), timeout=10)
        assert body == b"hello from /hw2"
        # no policy ran: nothing marked the answer
        with opener.open(url, timeout=5) as resp:
            assert resp.status == 200 and "x-meshtool-error" not in resp.headers
    finally:
        proc.terminate()
        proc.wait(10)
        backend.shutdown()
