"""Active health checks: real probes against real sockets; thresholds and forgetting."""

import asyncio
from http.server import BaseHTTPRequestHandler

import pytest

from sidecar_mesh import serving

from meshtool.discovery.snapshot import Endpoint
from meshtool.model.types import HealthCheck
from meshtool.ports import free_port
from meshtool.sidecar.addons.healthcheck import HealthChecks, probe
from meshtool.sidecar.state import SidecarState


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    with serving(Handler) as port:
        yield port


def test_probes_over_real_sockets(server):
    def run(port, check):
        return asyncio.run(probe("127.0.0.1", port, check, f"127.0.0.1:{port}"))

    assert run(server, HealthCheck())  # TCP connect
    assert not run(free_port(), HealthCheck(timeout=0.5))  # nobody listens
    assert run(server, HealthCheck(http_path="/ok"))
    assert not run(server, HealthCheck(http_path="/failing"))
    assert run(server, HealthCheck(http_path="/failing", expected_statuses=(503,)))


def test_thresholds_take_out_and_bring_back():
    state = SidecarState()
    checks = HealthChecks(state)
    check = HealthCheck(unhealthy_threshold=2, healthy_threshold=2)
    checks.record("a", check, False)
    assert state.unhealthy == set()  # one failure is not yet two
    checks.record("a", check, False)
    assert state.unhealthy == {"a"}
    checks.record("a", check, True)
    assert state.unhealthy == {"a"}
    checks.record("a", check, False)  # a failure resets the passes
    checks.record("a", check, True)
    checks.record("a", check, True)
    assert state.unhealthy == set()


def test_an_endpoint_leaving_the_snapshot_is_forgotten():
    from types import SimpleNamespace

    state = SidecarState()
    checks = HealthChecks(state, prober=lambda *a: asyncio.sleep(0, result=True))
    ep = Endpoint("127.0.0.1", 1, {}, "127.0.0.1:1")
    state.snapshot = SimpleNamespace(health_checks={ep.key: (HealthCheck(), ep)})

    async def main():
        checks.tick(0.0)
        await asyncio.sleep(0.01)
        state.unhealthy.add(ep.key)  # as if it had failed
        state.snapshot = SimpleNamespace(health_checks={})
        checks.tick(1.0)

    asyncio.run(main())
    assert state.unhealthy == set() and checks.due == {}
