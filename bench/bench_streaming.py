"""Sidecar streaming: 1 GiB through nginx / HAProxy / the sidecar, and a 1 GiB upload (curl)

One nginx serves a 1 GiB file (and swallows uploads); curl downloads it directly, through
nginx and HAProxy as reverse proxies, and through `meshtool proxy run` as the outbound sidecar
(routing and metrics on), in one run; each transfer three times, the median kept. The sidecar's
peak RSS (VmHWM) after all transfers shows that bodies stream instead of being held.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_sidecar import NGINX_CONF, _pin, _port, _wait
from bench.harness import Figure

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30

NGINX_STREAM = NGINX_CONF.replace(
    'location / {{ return 200 "Hello World, Benigno\\n"; }}',
    'location / {{ return 200 "Hello World, Benigno\\n"; }} '
    'location /big {{ alias {tmp}/big; }} '
    'location /upload {{ client_max_body_size 0; return 200 "ok\\n"; }}').replace(
    "proxy_set_header Connection \"\"; }}",
    "proxy_set_header Connection \"\"; proxy_buffering off; proxy_request_buffering off; "
    "client_max_body_size 0; }}")

HAPROXY_CONF = """
global
  maxconn 1024
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  server s 127.0.0.1:{backend}
"""


def _curl(argv: list[str]) -> float:
    """Bytes per second of one curl transfer."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} "
                          "%{size_upload} %{time_total}", *argv], capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    size = max(float(out[0]), float(out[1]))
    assert size >= GIB, f"short transfer: {out}"
    return size / float(out[2])


def _vmhwm_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in text.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def run(quick: bool = False) -> list[Figure]:
    missing = [t for t in ("nginx", "curl") if not shutil.which(t)]
    if missing:
        return [Figure("streaming benchmark skipped", 0, "", notes=f"missing: {', '.join(missing)}")]
    runs = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    tmp.chmod(0o755)  # nginx's workers read the file
    with open(tmp / "big", "wb") as fh:
        fh.truncate(GIB)  # sparse: nginx sends it from the page cache
    (tmp / "big").chmod(0o644)
    upload = tmp / "big"
    backend, nginx_proxy, haproxy_port, sidecar_out, admin = (_port() for _ in range(5))
    (tmp / "nginx.conf").write_text(NGINX_STREAM.format(tmp=tmp, backend=backend, proxy=nginx_proxy))
    (tmp / "haproxy.cfg").write_text(HAPROXY_CONF.format(port=haproxy_port, backend=backend))
    snapshot = tmp / "snapshot.json"
    snapshot.write_text(
        '{"version": "bench", "services": [{"name": "benigno", "ports": [5000], "endpoints": '
        f'[{{"address": "127.0.0.1", "port": {backend}, "labels": {{"version": "v1"}}}}]}}]}}')
    procs = []
    devnull = subprocess.DEVNULL
    try:
        procs.append(subprocess.Popen([*_pin(1), "nginx", "-c", str(tmp / "nginx.conf"), "-p",
                                       str(tmp)], stdout=devnull, stderr=devnull))
        _wait(backend)
        _wait(nginx_proxy)
        if shutil.which("haproxy"):
            procs.append(subprocess.Popen([*_pin(0), "haproxy", "-f", str(tmp / "haproxy.cfg")],
                                          stdout=devnull, stderr=devnull))
            _wait(haproxy_port)
        sidecar = subprocess.Popen(
            [*_pin(0), sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot",
             str(snapshot), "--outbound-port", str(sidecar_out), "--inbound-port", str(_port()),
             "--admin-port", str(admin), "--service", "bench"],
            stdout=devnull, stderr=devnull, cwd=ROOT)
        procs.append(sidecar)
        _wait(f"http://127.0.0.1:{admin}/ready")
        targets = {"direct": [f"http://127.0.0.1:{backend}"],
                   "nginx": [f"http://127.0.0.1:{nginx_proxy}"],
                   "sidecar": ["-x", f"http://127.0.0.1:{sidecar_out}", "http://benigno:5000"]}
        if shutil.which("haproxy"):
            targets["haproxy"] = [f"http://127.0.0.1:{haproxy_port}"]
        down: dict[str, list[float]] = {k: [] for k in targets}
        up: dict[str, list[float]] = {k: [] for k in targets}
        for _ in range(runs):  # rounds alternate the targets: noise hits all alike
            for name, base in targets.items():
                down[name].append(_curl([*base[:-1], base[-1] + "/big"]))
                up[name].append(_curl(["-T", str(upload), *base[:-1], base[-1] + "/upload"]))
        rss = _vmhwm_mb(sidecar.pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) / 1e6 for k, v in down.items()}
    med_up = {k: statistics.median(v) / 1e6 for k, v in up.items()}
    others = ", ".join(f"{k} {v:,.0f} MB/s" for k, v in med.items() if k not in ("sidecar", "nginx"))
    others_up = ", ".join(f"{k} {v:,.0f} MB/s" for k, v in med_up.items() if k != "sidecar")
    return [
        Figure("sidecar 1 GiB download", med["sidecar"], "MB/s", "nginx reverse proxy",
               med["nginx"], target=">= 0.5x nginx", met=med["sidecar"] >= 0.5 * med["nginx"],
               notes=f"median of {runs}; {others}"),
        Figure("sidecar 1 GiB upload", med_up["sidecar"], "MB/s", "nginx reverse proxy",
               med_up["nginx"], notes=f"median of {runs}; {others_up}"),
        Figure("sidecar peak RSS after 1 GiB transfers", rss, "MB", target="< 100 MB",
               met=rss < 100, notes="VmHWM of the sidecar process, start-up included"),
    ]
