"""End to end: behind the gateway's route, the Service's own RouteRules apply in full (issue 14:
"routes to mesh services keep every routing feature"): a header match chooses the version,
retries recover a flaky instance, a timeout cuts a slow answer short, and the split is by
weight; a snapshot with a bad gateway route is refused whole (NACKed) and the last good one
keeps serving. A real `meshtool gateway run` reads a snapshot file; the two instances are
scripted servers in this process.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest

from sidecar_mesh import MESHTOOL, ROOT, free_port, http_get, rule, serving

pytestmark = pytest.mark.timeout(120)


def instance(version: str):
    """An instance of `shop` answering its version; /flaky fails (503) 2 of every 3 calls."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        calls: Counter = Counter()
        lock = threading.Lock()

        def do_GET(self):
            with self.lock:
                self.calls[self.path] += 1
                n = self.calls[self.path]
            if self.path == "/slow":
                time.sleep(2)
            status = 503 if self.path == "/flaky" and n % 3 else 200
            body = f"{version} {self.path}".encode()
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # /slow: the gateway gave up on it (the timeout test)

        def log_message(self, *args):
            pass

    return Handler


SHOP_ROUTE = rule("GatewayRoute", "shop", {
    "hosts": ["shop.example.com"], "path": {"prefix": "/shop"}, "rewrite": {"prefix": "/"},
    "backends": [{"service": {"name": "shop"}, "port": 80}]})


def snapshot(version: str, v1: int, v2: int, shop_rules: list[dict],
             gateway_routes: list[dict] | None = None) -> dict:
    return {
        "version": version,
        "services": [{"name": "shop", "namespace": "default", "ports": [80], "endpoints": [
            {"address": "127.0.0.1", "port": v1, "labels": {"version": "v1"}},
            {"address": "127.0.0.1", "port": v2, "labels": {"version": "v2"}}]}],
        "rules": [*(gateway_routes or [SHOP_ROUTE]), *shop_rules],
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gwrouting")
    with serving(instance("v1")) as v1, serving(instance("v2")) as v2:
        file = tmp / "snapshot.json"
        broken = {"version": "broken", "rules": "not a list"}
        file.write_text(json.dumps(broken))
        http_port, admin, health = free_port(), free_port(), free_port()
        proc = subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--snapshot", str(file), "--http-port", str(http_port),
             "--admin-port", str(admin), "--health-port", str(health),
             "--https-redirect-port", "9443"], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))

        def apply(doc: dict) -> None:
            part = file.with_suffix(".tmp")
            part.write_text(json.dumps(doc))
            os.replace(part, file)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    dump = json.loads(http_get(admin, "/config_dump")[1])
                    if doc["version"] in (dump["version"],
                                          (dump.get("lastRejected") or {}).get("version")):
                        return dump
                except (OSError, ValueError, KeyError):
                    pass
                time.sleep(0.05)
            raise TimeoutError(f"the gateway did not take snapshot {doc['version']}: "
                               f"{(tmp / 'gateway.log').read_text()}")

        try:
            apply(broken)  # refused: no routes yet, so not ready
            not_ready = http_get(health, "/ready")
            apply(snapshot("first", v1, v2, []))
            readiness = (not_ready, http_get(health, "/ready"))
            yield http_port, lambda version, rules, routes=None: apply(
                snapshot(version, v1, v2, rules, routes)), (readiness, admin)
        finally:
            proc.terminate()
            proc.wait(10)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "shop.example.com", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def test_the_health_port_says_ready_once_the_first_routes_are_in_force(gateway):
    _, _, ((before, after), _) = gateway
    assert before == (503, b"not ready: no valid snapshot yet\n")
    assert after == (200, b"ready: snapshot first\n")


def to(version: str) -> list[dict]:
    return [{"labels": {"version": version}}]


def test_a_header_match_of_the_service_chooses_the_version_behind_the_gateway(gateway):
    port, apply, _ = gateway
    apply("headers", [
        rule("RouteRule", "shop-canary", {"destination": {"name": "shop"}, "precedence": 2,
                                          "match": {"request": {"headers": {
                                              "x-canary": {"exact": "yes"}}}},
                                          "route": to("v2")}),
        rule("RouteRule", "shop-default", {"destination": {"name": "shop"}, "precedence": 1,
                                           "route": to("v1")})])
    assert {get(port, "/shop/hello")[2] for _ in range(5)} == {"v1 /hello"}
    assert {get(port, "/shop/hello", {"x-canary": "yes"})[2] for _ in range(5)} == {"v2 /hello"}
    assert get(port, "/shop/hello", {"x-canary": "no"})[2] == "v1 /hello"


def test_retries_of_the_service_recover_a_flaky_instance_behind_the_gateway(gateway):
    port, apply, _ = gateway
    route = {"destination": {"name": "shop"}, "route": to("v1")}
    apply("no-retries", [rule("RouteRule", "shop", route)])
    assert Counter(get(port, "/shop/flaky")[0] for _ in range(6)) == {503: 4, 200: 2}
    apply("retries", [rule("RouteRule", "shop", {**route, "httpReqRetries": {
        "simpleRetry": {"attempts": 2, "perTryTimeout": "2s"}}})])
    for _ in range(6):
        status, headers, body = get(port, "/shop/flaky")
        assert (status, headers["x-meshtool-attempts"], body) == (200, "3", "v1 /flaky")


def test_a_timeout_of_the_service_answers_504_fast_behind_the_gateway(gateway):
    port, apply, _ = gateway
    apply("timeout", [rule("RouteRule", "shop", {"destination": {"name": "shop"}, "route": to("v1"),
                                                 "httpReqTimeout": {"simpleTimeout": {
                                                     "timeout": "300ms"}}})])
    started = time.monotonic()
    status, headers, _ = get(port, "/shop/slow")
    took = time.monotonic() - started
    assert (status, headers["x-meshtool-error"]) == (504, "upstream request timeout")
    assert 0.25 < took < 1.5  # the instance takes 2 s: the gateway did not wait for it
    assert get(port, "/shop/fast")[:1] == (200,)  # only the slow path is cut short


def test_the_weights_of_the_service_split_exactly_behind_the_gateway(gateway):
    port, apply, _ = gateway
    apply("weights", [rule("RouteRule", "shop", {"destination": {"name": "shop"}, "route": [
        {"labels": {"version": "v1"}, "weight": 70}, {"labels": {"version": "v2"}, "weight": 30}]})])
    seen = Counter(get(port, "/shop/x")[2].split()[0] for _ in range(50))
    assert seen == {"v1": 35, "v2": 15}
    # the metrics addon counts them as a sidecar does, by the version that answered
    text = http_get(gateway[2][1], "/stats/prometheus")[1].decode()
    counts = Counter()
    for m in re.finditer(r'^meshtool_requests_total\{([^}]*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("destination_service") == "shop" and labels.get("response_code") == "200":
            counts[labels.get("destination_version")] += float(m.group(2))
    assert counts["v2"] >= 15 and counts["v1"] >= 35, text


def test_a_bad_gateway_route_is_refused_whole_and_the_last_good_one_keeps_serving(gateway):
    port, apply, _ = gateway
    good = [rule("RouteRule", "shop", {"destination": {"name": "shop"}, "route": to("v1")})]
    apply("good", good)
    bad = rule("GatewayRoute", "bad", {"path": {"prefix": "nope"},
                                       "backends": [{"service": {"name": "shop"}}]})
    dump = apply("bad", good, [SHOP_ROUTE, bad])
    assert dump["version"] == "good" and dump["lastRejected"]["version"] == "bad"
    assert "spec.path.prefix: 'nope' must start with /" in str(dump["lastRejected"])
    assert get(port, "/shop/x")[2] == "v1 /x"  # the NACKed snapshot changed nothing


def test_a_redirect_to_https_names_the_port_clients_reach(gateway):
    """--https-redirect-port: the port in front of the gateway's own (`install --gateway`:
    its Service's 443, which a Location then leaves out)."""
    port, apply, _ = gateway
    secure = rule("GatewayRoute", "shop", {**SHOP_ROUTE["spec"], "httpsRedirect": True})
    apply("redirect", [], [secure])
    status, headers, _ = get(port, "/shop/cart?x=1")
    assert (status, headers["location"]) == (301, "https://shop.example.com:9443/shop/cart?x=1")
