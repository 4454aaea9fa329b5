import asyncio
import json

from meshtool.sidecar.admin import AdminServer
from meshtool.sidecar.probes import parse_probes, run_probe
from meshtool.sidecar.state import SidecarState


def test_routes(canary):
    st = SidecarState()
    admin = AdminServer(st, lambda: "metric 1\n", {"/app-health/app/livez": {"tcpSocket": {
        "port": 1}}})

    async def scenario():
        assert (await admin.route("GET", "/ready"))[0] == 503
        st.apply_snapshot(canary(version="9"))
        st.listening = True
        status, _, body = await admin.route("GET", "/ready")
        assert status == 200 and b"9" in body
        assert (await admin.route("GET", "/stats/prometheus"))[2] == b"metric 1\n"
        dump = json.loads((await admin.route("GET", "/config_dump"))[2])
        assert dump["version"] == "9"
        assert (await admin.route("GET", "/app-health/app/livez"))[0] == 503
        assert (await admin.route("GET", "/nope"))[0] == 404
        assert (await admin.route("POST", "/ready"))[0] == 405
        # the health port (what the kubelet calls in a pod): probes and readiness only
        health = AdminServer(st, lambda: "metric 1\n", admin.probes, health_only=True)
        assert (await health.route("GET", "/ready"))[0] == 200
        assert (await health.route("GET", "/app-health/app/livez"))[0] == 503
        assert (await health.route("GET", "/config_dump"))[0] == 404
        assert (await health.route("GET", "/stats/prometheus"))[0] == 200  # the cluster's Prometheus

    asyncio.run(scenario())


def test_probes_run_against_the_app():
    async def scenario():
        async def app(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(app, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        assert (await run_probe({"httpGet": {"path": "/healthz", "port": port}}))[0] == 204
        assert (await run_probe({"tcpSocket": {"port": port}}))[0] == 200
        assert (await run_probe({"httpGet": {"port": "http"}}))[0] == 503  # named port
        server.close()

    asyncio.run(scenario())
    assert parse_probes('{"/app-health/a/readyz": {"tcpSocket": {"port": 80}}}')
    for bad in ("{", "[1]", '{"/x": 1}'):
        try:
            parse_probes(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
