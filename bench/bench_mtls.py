"""mTLS: two sidecars with mutual TLS against the same two in plaintext, and certificate issuance

One control plane with the mesh CA, one client sidecar and two server sidecars in front of the
same nginx backend: `benigno` (auto mTLS) and `plain` (a DestinationPolicy with tls DISABLE).
wrk sends absolute-form requests to the client sidecar, alternating the two paths round by
round. Requests per CPU-second count the CPU of both sidecars (client + server); p50 is wrk's.
Keep-alive connections measure the steady cost of TLS records; `Connection: close` makes every
request a new connection, so a new TLS handshake between the sidecars (handshakes per
CPU-second). Issuance: 1,000 simulated proxies each open a discovery stream, say hello and send
a CSR; the time until all hold a certificate, and the control plane's CPU per CSR. Each figure
is the median of 3 rounds.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_sidecar import NGINX_CONF, _cpu_seconds, _port, _wait, _wrk
from bench.harness import Figure

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3
ISSUE = 1000


def _sidecar(cp: str, service: str, app: int, tmp: Path) -> tuple[subprocess.Popen, dict]:
    ports = {"inbound": _port(), "outbound": _port(), "admin": _port()}
    log = open(tmp / f"{service}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshtool", "proxy", "run", "--control-plane", cp,
         "--service", service, "--proxy-id", f"{service}.bench", "--app-port", str(app),
         "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
         "--admin-port", str(ports["admin"])], stdout=log, stderr=log, cwd=ROOT)
    _wait(f"http://127.0.0.1:{ports['admin']}/ready")
    return proc, ports


def _ready_to_route(admin: int) -> bool:
    import urllib.request

    dump = json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin}/config_dump", timeout=2))
    snap = dump.get("snapshot") or {}
    services = {s["name"]: s for s in snap.get("services") or []}
    return (all(services.get(n, {}).get("endpoints") for n in ("benigno", "plain"))
            and any(r["kind"] == "DestinationPolicy" for r in snap.get("rules") or []))


def run(quick: bool = False) -> list[Figure]:
    missing = [t for t in ("wrk", "nginx") if not shutil.which(t)]
    if missing:
        return [Figure("mTLS benchmark skipped", 0, "", notes=f"missing: {', '.join(missing)} "
                       "(scripts/system-deps.sh installs them)")]
    from meshtool.testing.processes import ControlPlaneProcess
    from meshtool.model.resource import Resource
    from meshtool.store import open_store
    from meshtool.testing.wait import wait_for

    seconds = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-mtls-"))
    backend = _port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, backend=backend, proxy=_port()))
    procs: list[subprocess.Popen] = []
    cp = ControlPlaneProcess(tmp / "store.db", log=tmp / "cp.log",
                             args=("--ca-dir", str(tmp / "ca")))
    try:
        procs.append(subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(backend)
        cp.start()
        with open_store(str(tmp / "store.db")) as store:
            store.create([Resource("DestinationPolicy", "plain", "default", {
                "destination": {"name": "plain"}, "tls": {"mode": "DISABLE"}})])
        servers, admins = {}, {}
        for name in ("benigno", "plain"):
            proc, sports = _sidecar(cp.address, name, backend, tmp)
            procs.append(proc)
            servers[name], admins[name] = proc, sports["admin"]
        client, ports = _sidecar(cp.address, "client", _port(), tmp)
        procs.append(client)
        wait_for(lambda: _ready_to_route(ports["admin"]), 20, what="client sidecar routes")
        scripts = {}
        for name, close in (("benigno", False), ("plain", False), ("benigno-new", True),
                            ("plain-new", True)):
            host = name.split("-")[0]
            lua = tmp / f"{name}.lua"
            lua.write_text(f'wrk.path = "http://{host}:5000/"\n'
                           + ('wrk.headers["Connection"] = "close"\n' if close else ""))
            scripts[name] = str(lua)
        for lua in scripts.values():  # warm-up, and a check that both paths answer
            r = _wrk(ports["outbound"], 4, 1, lua)
            if r["errors"] or not r["requests"]:
                raise RuntimeError(f"{lua}: {r}")
        samples: dict[str, list[dict]] = {k: [] for k in scripts}
        for _ in range(1 if quick else ROUNDS):
            for name, lua in scripts.items():
                server = servers[name.split("-")[0]]
                conns0 = _mtls_connections(admins["benigno"])
                cpu0 = _cpu_seconds(client.pid) + _cpu_seconds(server.pid)
                r = _wrk(ports["outbound"], 10, seconds, lua)
                used = _cpu_seconds(client.pid) + _cpu_seconds(server.pid) - cpu0
                r["per_cpu_s"] = r["requests"] / used if used > 0 else 0.0
                r["handshakes"] = _mtls_connections(admins["benigno"]) - conns0
                samples[name].append(r)
        issue = _issuance(cp, 100 if quick else ISSUE)
        return _figures(samples, issue)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cp.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _mtls_connections(admin: int) -> float:
    """mTLS connections the server sidecar accepted so far (one handshake each)."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus",
                                  timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('meshtool_inbound_connections_total{security="mutual_tls"'))


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows if r.get(key) is not None)


def _figures(s: dict[str, list[dict]], issue: dict) -> list[Figure]:
    keep_tls, keep_plain = _median(s["benigno"], "per_cpu_s"), _median(s["plain"], "per_cpu_s")
    new_tls, new_plain = _median(s["benigno-new"], "per_cpu_s"), _median(s["plain-new"], "per_cpu_s")
    p50_tls, p50_plain = _median(s["benigno"], "p50"), _median(s["plain"], "p50")
    cost = 1 - keep_tls / keep_plain if keep_plain else 0.0
    errors = sum(r["errors"] for rows in s.values() for r in rows)
    return [
        Figure("mTLS, keep-alive: requests per CPU-second (both sidecars)", keep_tls, "req/cpu-s",
               "plaintext, same two sidecars", keep_plain, "mTLS costs <= 25%", cost <= 0.25,
               notes=f"mTLS costs {cost:.0%} of plaintext throughput per CPU-second; wrk "
                     f"throughput {_median(s['benigno'], 'rps'):,.0f} vs "
                     f"{_median(s['plain'], 'rps'):,.0f} req/s (10 connections, "
                     f"{_median(s['benigno'], 'handshakes'):.0f} mTLS handshakes for "
                     f"{_median(s['benigno'], 'requests'):,.0f} requests: connections are "
                     f"reused); {errors} non-2xx answers in all runs"),
        Figure("mTLS, keep-alive: p50 latency", p50_tls, "ms", "plaintext p50", p50_plain,
               notes=f"added p50: {p50_tls - p50_plain:+.2f} ms"),
        Figure("mTLS, a new connection per request: handshakes per CPU-second", new_tls,
               "conn/cpu-s", "plaintext, new connections", new_plain,
               notes=f"each request opens a client connection, so the client sidecar opens a new "
                     f"(TLS) connection to the server sidecar: "
                     f"{_median(s['benigno-new'], 'handshakes'):,.0f} handshakes for "
                     f"{_median(s['benigno-new'], 'requests'):,.0f} requests"),
        Figure(f"issuing {issue['count']:,} certificates over {issue['count']:,} discovery "
               f"streams", issue["seconds"], "s", f"signing {issue['count']:,} CSRs in process",
               issue["sign_seconds"], "< 10 s", issue["seconds"] < 10,
               notes=f"control plane CPU {issue['cpu_per_csr'] * 1000:.2f} ms per CSR (stream, "
                     f"hello, signing, answer); every stream got a certificate: "
                     f"{issue['ok']}"),
    ]


def _issuance(cp, count: int) -> dict:
    """`count` streams say hello and send a CSR at once; seconds until every one holds a
    certificate, and the control plane's CPU per CSR. Keys and CSRs are made beforehand (that
    is the proxies' work, not the CA's)."""
    from meshtool.security import workload
    from meshtool.security.ca import MeshCA

    csrs = [workload.csr_pem(workload.new_key()) for _ in range(count)]
    ca = MeshCA.load(Path(cp.args[1]))
    t0 = time.perf_counter()
    for pem in csrs:
        ca.sign(pem, "spiffe://cluster.local/ns/bench/sa/sim")
    sign_seconds = time.perf_counter() - t0
    cpu0 = _cpu_seconds(cp.proc.pid)
    seconds, got = asyncio.run(_streams(cp.address, csrs))
    cpu = _cpu_seconds(cp.proc.pid) - cpu0
    return {"count": count, "seconds": seconds, "sign_seconds": sign_seconds,
            "cpu_per_csr": cpu / count, "ok": got == count}


async def _streams(address: str, csrs: list[str]) -> tuple[float, int]:
    import aiohttp

    from meshtool.discovery.protocol import csr_message, stream_url

    got = 0

    async def one(session, i: int, pem: str) -> None:
        nonlocal got
        async with session.ws_connect(stream_url(address), max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"type": "hello", "proxyId": f"sim-{i}.bench",
                                          "service": f"sim-{i % 10}", "namespace": "bench"}))
            await ws.send_str(json.dumps(csr_message(f"r{i}", pem)))
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "certificate":
                    got += "certChain" in data
                    return
                await ws.send_str(json.dumps({"type": "ack", "version": data["version"],
                                              "nonce": data["nonce"]}))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(session, i, pem) for i, pem in enumerate(csrs)))
        return time.perf_counter() - t0, got
