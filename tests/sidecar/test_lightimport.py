"""The deferred imports of the sidecar: what is skipped at start, and that it still works.

Each check runs in a fresh interpreter: the test process itself has imported most of mitmproxy.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sidecar_mesh import ROOT

pytestmark = pytest.mark.timeout(60)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                         capture_output=True, text=True, timeout=50)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quic_stand_ins_behave_like_the_real_names_once_used():
    out = _run("""
        import sys
        from meshtool.sidecar.lightimport import defer_unused_modules, skip_default_addons
        skip_default_addons()
        defer_unused_modules()
        loaded = lambda m: m in sys.modules and not type(sys.modules[m]).__name__.startswith("_")
        from mitmproxy.proxy import layers
        from mitmproxy.proxy.layers import http
        from mitmproxy.addons import next_layer
        assert not loaded("aioquic") and not loaded("pyparsing")
        # nothing can be an instance of a class whose module never ran
        assert not isinstance(object(), layers.ClientQuicLayer)
        assert not isinstance(object(), http.QuicStreamEvent)
        assert not issubclass(int, layers.RawQuicLayer)
        assert not loaded("aioquic")
        # a name not on the list imports the real module
        from mitmproxy.proxy.layers.quic import QuicConnectionClosed, QuicStreamDataReceived
        assert "aioquic" in sys.modules
        real = sys.modules["mitmproxy.proxy.layers.quic"]
        assert real.QuicStreamEvent is not http.QuicStreamEvent  # the stand-in stays...
        event = QuicStreamDataReceived(None, 1, b"x", False)
        assert isinstance(event, http.QuicStreamEvent)          # ...and now answers truly
        assert issubclass(real.ClientQuicLayer, layers.ClientQuicLayer)
        assert layers.quic is real
        # calling a stand-in calls the real thing
        try:
            next_layer.quic_parse_client_hello_from_datagrams([b"not quic"])
        except ValueError:
            pass
        from mitmproxy.command_lexer import unquote
        assert unquote("'a b'") == "a b"
        print("ok")
    """)
    assert out.strip() == "ok"


def test_sidecar_serves_http1_and_admin_without_quic_or_command_parser(tmp_path):
    """A sidecar in a fresh interpreter proxies HTTP/1 and answers its admin port, and never
    imported aioquic, mitmproxy's HTTP/3 layer or pyparsing to do so."""
    out = _run(f"""
        import asyncio, json, socket, sys, urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        class Hello(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hello " + self.path.encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body)))
                self.end_headers(); self.wfile.write(body)
            def log_message(self, *a): pass

        backend = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        threading.Thread(target=backend.serve_forever, daemon=True).start()

        def port():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

        snap = {{"version": "t1", "services": [{{"name": "benigno", "ports": [5000],
                 "endpoints": [{{"address": "127.0.0.1", "port": backend.server_port}}]}}],
                 "rules": []}}
        path = {str(tmp_path / "snap.json")!r}
        open(path, "w").write(json.dumps(snap))
        from meshtool.sidecar.master import Sidecar, SidecarConfig
        from meshtool.sidecar.snapshot import Identity
        out_port, admin = port(), port()
        cfg = SidecarConfig(inbound_port=None, outbound_port=out_port, admin_port=admin,
                            snapshot_file=path, identity=Identity(service="t", proxy_id="client"))

        def fetch(url, proxy=None):
            handlers = [urllib.request.ProxyHandler({{"http": proxy}} if proxy else {{}})]
            with urllib.request.build_opener(*handlers).open(url, timeout=10) as r:
                return r.status, r.read().decode()

        async def main():
            sc = Sidecar(cfg)
            await sc.start()
            loop = asyncio.get_running_loop()
            ready = await loop.run_in_executor(None, fetch, f"http://127.0.0.1:{{admin}}/ready")
            proxied = await loop.run_in_executor(
                None, fetch, "http://benigno:5000/hw2", f"http://127.0.0.1:{{out_port}}")
            print(ready[0], proxied)
            print(sorted(m for m in ("aioquic", "pyparsing",
                                     "mitmproxy.proxy.layers.http._http_h3")
                         if m in sys.modules and not type(sys.modules[m]).__name__.startswith("_")))

        asyncio.run(main())
    """)
    lines = out.strip().splitlines()
    assert lines[0] == "200 (200, 'hello /hw2')"
    assert lines[1] == "[]"
