"""End to end, resilience: retries, fault injection and the circuit breaker against a real,
scripted upstream (a threaded HTTP server in this process) behind a real sidecar."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest

from meshtool.ports import free_port
from sidecar_mesh import ProxyClient, rule, serving

pytestmark = pytest.mark.timeout(120)


class Scripted(BaseHTTPRequestHandler):
    """/flaky and /backoff fail (503) 2 of every 3 calls, /down always fails (500), /slow takes
    300 ms, else 200. When each call arrived is kept per path."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls: Counter = Counter()
    arrivals: dict = {}
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            self.calls[self.path] += 1
            n = self.calls[self.path]
            self.arrivals.setdefault(self.path, []).append(time.monotonic())
        status = 200
        if self.path in ("/flaky", "/backoff") and n % 3:
            status = 503
        elif self.path == "/down":
            status = 500
        elif self.path == "/slow":
            time.sleep(0.3)
        body = f"{status} {self.path} #{n}\n".encode()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream():
    with serving(Scripted) as port:
        yield port


def _doc(version, port, spec=None, policy=None):
    rules = []
    if spec is not None:
        rules.append(rule("RouteRule", "flaky", {"destination": {"name": "flaky"}, **spec}))
    if policy is not None:
        rules.append(rule("DestinationPolicy", "flaky-cb", {"destination": {"name": "flaky"},
                                                            "circuitBreaker": {"simpleCb": policy}}))
    return {"version": version, "services": [{"name": "flaky", "endpoints": [
        {"address": "127.0.0.1", "port": port, "labels": {"version": "v1"}}]}], "rules": rules}


@pytest.fixture(scope="module")
def sidecar(mesh, upstream):
    sc = mesh.sidecar("resilience", _doc("0", upstream), "--service", "client")
    sc.wait_ready()
    return sc


def test_retries_recover_a_flaky_upstream(sidecar, upstream):
    sidecar.apply(_doc("retry", upstream, {"httpReqRetries": {"simpleRetry": {
        "attempts": 2, "perTryTimeout": "1s"}}}))
    client = ProxyClient(sidecar.outbound)
    attempts = Counter()
    for _ in range(30):
        status, headers, _ = client.get("http://flaky/flaky")
        assert status == 200
        attempts[headers["x-meshtool-attempts"]] += 1
    assert attempts == {"3": 30}  # fail, fail, succeed: every time
    assert 'meshtool_retries_total{destination_service="flaky",destination_namespace="default"} 60' in sidecar.metrics()
    client.close()


def test_without_retries_the_flaky_upstream_shows(sidecar, upstream):
    sidecar.apply(_doc("no-retry", upstream))
    client = ProxyClient(sidecar.outbound)
    codes = Counter(client.get("http://flaky/flaky")[0] for _ in range(30))
    assert codes == {503: 20, 200: 10}
    client.close()


def test_only_the_retry_codes_are_retried_and_backoff_spaces_the_tries(sidecar, upstream):
    sidecar.apply(_doc("codes-backoff", upstream, {"httpReqRetries": {"simpleRetry": {
        "attempts": 2, "codes": [503], "backoff": "100ms"}}}))
    client = ProxyClient(sidecar.outbound)
    status, headers, _ = client.get("http://flaky/down")  # 500 is not in codes
    assert (status, headers["x-meshtool-attempts"]) == (500, "1")
    status, headers, _ = client.get("http://flaky/backoff")  # 503, 503, then 200
    assert (status, headers["x-meshtool-attempts"]) == (200, "3")
    first, second, third = Scripted.arrivals["/backoff"][-3:]
    # 100 ms before the first retry, doubled before the second (each plus up to half again)
    assert second - first >= 0.1 and third - second >= 0.2, (second - first, third - second)
    client.close()


def test_backoff_also_spaces_retries_of_failed_connects(sidecar):
    dead = free_port()  # nothing listens there: every connect is refused
    sidecar.apply(_doc("dead-backoff", dead, {"httpReqRetries": {"simpleRetry": {
        "attempts": 2, "backoff": "100ms"}}}))
    client = ProxyClient(sidecar.outbound)
    start = time.monotonic()
    status, headers, _ = client.get("http://flaky/anything")
    elapsed = time.monotonic() - start
    assert (status, headers["x-meshtool-attempts"]) == (503, "3")
    assert elapsed >= 0.3, elapsed  # 100 ms, then 200 ms
    client.close()


def test_fault_injection_rates_are_exact(sidecar, upstream):
    sidecar.apply(_doc("fault", upstream, {"httpFault": {
        "abort": {"percent": 20, "httpStatus": 418},
        "delay": {"percent": 10, "fixedDelay": "20ms"}}}))
    client = ProxyClient(sidecar.outbound)
    codes, delayed = Counter(), 0
    for _ in range(200):
        status, headers, _ = client.get("http://flaky/ok")
        codes[status] += 1
        delayed += "delay" in headers.get("x-meshtool-fault", "")
    assert codes == {200: 160, 418: 40}
    assert delayed == 20
    client.close()


def test_timeout_answers_504(sidecar, upstream):
    sidecar.apply(_doc("timeout", upstream, {"httpReqTimeout": {"simpleTimeout": {
        "timeout": "100ms"}}}))
    status, headers, _ = ProxyClient(sidecar.outbound).get("http://flaky/slow")
    assert status == 504 and headers["x-meshtool-error"] == "upstream request timeout"


def test_circuit_breaker_opens_on_errors_and_closes_after_the_sleep_window(sidecar, upstream):
    sidecar.apply(_doc("cb-eject", upstream, policy={"httpConsecutiveErrors": 3,
                                                      "sleepWindow": "500ms"}))
    client = ProxyClient(sidecar.outbound)
    codes = [client.get("http://flaky/down")[0] for _ in range(3)]
    assert codes == [500, 500, 500]
    status, headers, _ = client.get("http://flaky/ok")
    assert status == 503 and headers["x-meshtool-overflow"] == "ejected"  # open
    time.sleep(0.6)
    assert client.get("http://flaky/ok")[0] == 200  # closed again
    text = sidecar.metrics()
    assert 'meshtool_circuit_breaker_ejections_total{destination_service="flaky",' \
           'destination_namespace="default"} 1' in text
    client.close()


def test_circuit_breaker_limits_requests_in_flight(sidecar, upstream):
    sidecar.apply(_doc("cb-limit", upstream, policy={"maxConnections": 1,
                                                      "httpMaxPendingRequests": 0}))

    def one(_):
        client = ProxyClient(sidecar.outbound)
        try:
            status, headers, _ = client.get("http://flaky/slow")
            return status, headers.get("x-meshtool-overflow")
        finally:
            client.close()

    with ThreadPoolExecutor(4) as pool:
        results = Counter(pool.map(one, range(4)))
    assert results[(200, None)] >= 1
    assert results[(503, "maxConnections")] >= 1
    assert sum(results.values()) == 4
