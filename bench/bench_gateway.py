"""Gateway: requests and TLS handshakes per CPU-second, meshtool gateway vs nginx, both terminating TLS

Both proxies terminate TLS (the same ECDSA P-256 certificate, TLS 1.3) in front of the same
backend (an nginx answering a small body over plain HTTP with keep-alive), on loopback, pinned
to the same core: `meshtool gateway run --https-port --tls-cert` with one GatewayRoute (from a
snapshot file, the form the control plane pushes), and nginx `listen ssl` + `proxy_pass`.
wrk drives them alternately, round by round: keep-alive connections for requests per
CPU-second, `Connection: close` for handshakes per CPU-second (one full handshake per request).
CPU time is the proxy's own user + system time over the run (/proc); the figure is the median
of the rounds.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_sidecar import _children, _cpu_seconds, _pin, _port, _wait
from bench.harness import Figure

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{ listen 127.0.0.1:{backend}; location / {{ return 200 "Hello World, Benigno\\n"; }} }}
  server {{ listen 127.0.0.1:{tls} ssl; ssl_certificate {cert}; ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; ssl_session_tickets off;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1;
                  proxy_set_header Connection ""; }} }}
}}
"""


def _snapshot(backend: int) -> dict:
    return {"version": "bench", "services": [
        {"name": "benigno", "ports": [5000],
         "endpoints": [{"address": "127.0.0.1", "port": backend, "labels": {}}]}],
        "rules": [{"apiVersion": "config.meshtool.io/v1alpha1", "kind": "GatewayRoute",
                   "metadata": {"name": "bench"},
                   "spec": {"backends": [{"service": {"name": "benigno"}, "port": 5000}]}}]}


def _wrk(port: int, conns: int, seconds: float, close: bool) -> tuple[int, int]:
    """(requests completed, non-2xx or socket errors) for https://127.0.0.1:PORT/hw2."""
    argv = [*_pin(0), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://127.0.0.1:{port}/hw2")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    bad = (int(errors.group(1)) if errors else 0) + (sum(map(int, sockets.groups())) if sockets
                                                      else 0)
    return (int(total.group(1)) if total else 0), bad


def _cpu(pid: int) -> float:
    return sum(_cpu_seconds(p) for p in [pid] + [int(c) for c in _children(pid)])


def run(quick: bool = False) -> list[Figure]:
    missing = [t for t in ("wrk", "nginx") if not shutil.which(t)]
    if missing:
        return [Figure("gateway benchmark", 0, "", notes=f"skipped: {', '.join(missing)} not "
                                                          f"installed (scripts/system-deps.sh)")]
    from meshtool.testing.certs import self_signed

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-gateway-{__import__('os').getpid()}-"))
    cert, key = self_signed(tmp, "bench.example.com")
    backend, nginx_tls, gw_http, gw_tls, admin = (_port() for _ in range(5))
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, backend=backend, tls=nginx_tls,
                                                      cert=cert, key=key))
    (tmp / "snapshot.json").write_text(json.dumps(_snapshot(backend)))
    procs = []
    try:
        nginx = subprocess.Popen([*_pin(1), "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                 stderr=subprocess.DEVNULL)
        procs.append(nginx)
        gateway = subprocess.Popen(
            [*_pin(1), sys.executable, "-m", "meshtool", "gateway", "run", "--snapshot",
             str(tmp / "snapshot.json"), "--http-port", str(gw_http), "--https-port", str(gw_tls),
             "--admin-port", str(admin), "--tls-cert", f"{cert},{key}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))
        procs.append(gateway)
        _wait(nginx_tls)
        _wait(f"http://127.0.0.1:{admin}/ready")
        targets = {"gateway": (gw_tls, gateway.pid), "nginx": (nginx_tls, nginx.pid)}
        seconds, rounds = (2, 1) if quick else (5, 3)
        results: dict[tuple[str, str], list[float]] = {}
        errors = 0
        for name, (port, _) in targets.items():  # warm-up: imports, pools, session state
            _wrk(port, 10, 1, False)
        for _ in range(rounds):
            for mode, conns, close in (("requests", 10, False), ("handshakes", 10, True)):
                for name, (port, pid) in targets.items():
                    cpu0 = _cpu(pid)
                    done, bad = _wrk(port, conns, seconds, close)
                    used = _cpu(pid) - cpu0
                    errors += bad
                    results.setdefault((name, mode), []).append(done / used if used else 0.0)
        med = {k: statistics.median(v) for k, v in results.items()}
        note = (f"median of {rounds} rounds of {seconds}s, wrk -c10 keep-alive / -c10 "
                f"Connection: close; proxies pinned to one core; {errors} errors (non-2xx or "
                f"socket)")
        return [
            Figure("gateway requests per CPU-second (TLS terminated, keep-alive)",
                   med[("gateway", "requests")], "req/CPU-s", "nginx (TLS, proxy_pass)",
                   med[("nginx", "requests")], notes=note),
            Figure("gateway TLS handshakes per CPU-second (one request per connection)",
                   med[("gateway", "handshakes")], "hs/CPU-s", "nginx (TLS, proxy_pass)",
                   med[("nginx", "handshakes")],
                   notes="ECDSA P-256, TLS 1.3, no session resumption on either side"),
        ]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
