"""`meshtool proxy-status` against a real control plane and simulated proxies."""

import json
import subprocess
import sys

import pytest
import yaml

from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet, free_port
from meshtool.model.resource import Resource
from meshtool.store import open_store


def meshtool(*args):
    return subprocess.run([sys.executable, "-m", "meshtool", *args], capture_output=True,
                          text=True, timeout=60)


def rule(name):
    return Resource("RouteRule", name, "default",
                    {"destination": {"name": "ps-svc0"}, "route": [{"labels": {"version": "v1"}}]})


def synced(count):
    return lambda t: (len(t["proxies"]) == count
                      and {p["status"] for p in t["proxies"]} == {"SYNCED"})


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("proxy-status")
    store = tmp_path / "store.db"
    with ControlPlaneProcess(store, log=tmp_path / "cp.log") as cp, \
            SimulatedFleet(cp.address, 2, prefix="ps", nack_rule="bad", admin_base="auto",
                           log=tmp_path / "fleet.log"):
        cp.wait_for(synced(2))
        yield cp, store


def test_table_has_the_columns_and_one_row_per_proxy(mesh):
    cp, _ = mesh
    r = meshtool("proxy-status", "--control-plane", cp.address)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SERVICE", "VERSION", "CLUSTER", "CONTROL", "PLANE",
                                "SENT", "ACKED", "STATUS", "MTLS", "LAST", "PUSH"]
    version = cp.sync_table()["version"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ["ps-0.default", "ps-1.default"]
    assert [row[1] for row in rows] == ["sidecar", "sidecar"]
    assert [row[3] for row in rows] == ["v1", "v2"]
    for row in rows:
        assert row[4] == "-"  # the simulated proxies name no cluster
        assert row[6:9] == [version, version, "SYNCED"]
        assert row[9] == "off:no-CA"  # this control plane runs no CA: plaintext everywhere
        assert row[-1] == "ago"


def test_json_and_yaml_carry_the_sync_table(mesh):
    cp, _ = mesh
    as_json = json.loads(meshtool("proxy-status", "--control-plane", cp.address, "-o",
                                  "json").stdout)
    as_yaml = yaml.safe_load(meshtool("proxy-status", "--control-plane", cp.address, "-o",
                                      "yaml").stdout)
    for doc in (as_json, as_yaml):
        assert [p["proxyId"] for p in doc["proxies"]] == ["ps-0.default", "ps-1.default"]
        assert {p["status"] for p in doc["proxies"]} == {"SYNCED"}
        assert doc["controlPlane"] == as_json["controlPlane"]


def test_error_shows_the_nack_reason_and_proxy_compare_shows_the_difference(mesh):
    cp, store_path = mesh
    with open_store(str(store_path)) as store:
        store.create([rule("bad")])
    try:
        _check_error_and_difference(cp)
    finally:
        with open_store(str(store_path)) as store:
            store.delete([("RouteRule", "default", "bad")])
        cp.wait_for(synced(2))


def _check_error_and_difference(cp):
    cp.wait_for(lambda t: {p["status"] for p in t["proxies"]} == {"ERROR"})
    r = meshtool("proxy-status", "--control-plane", cp.address)
    assert r.returncode == 0
    for line in r.stdout.splitlines()[1:]:
        assert "ERROR: rules: RouteRule/bad: rejected by the simulated proxy" in line
    r = meshtool("proxy-status", "--control-plane", cp.address, "ps-0")
    assert r.returncode == 1
    assert r.stdout.startswith("proxy ps-0.default differs from control plane")
    assert "--- control plane (intended)" in r.stdout
    assert '+++ proxy ps-0.default (in force)' in r.stdout
    assert '-        "name": "bad",' in r.stdout  # intended, not in force


def test_proxy_compare_in_sync(mesh):
    cp, _ = mesh
    r = meshtool("proxy-status", "--control-plane", cp.address, "ps-1.default")
    assert r.returncode == 0, r.stderr
    version = cp.sync_table()["version"]
    assert r.stdout.strip().endswith(f"is in sync with control plane "
                                     f"{cp.sync_table()['controlPlane']}: version {version}")


def test_unknown_proxy_and_unreachable_control_plane_are_one_line_errors(mesh):
    cp, _ = mesh
    r = meshtool("proxy-status", "--control-plane", cp.address, "nobody")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[0] == (f"error: proxy 'nobody' is not connected to control "
                                        f"plane {cp.sync_table()['controlPlane']}")
    r = meshtool("proxy-status", "--control-plane", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "cannot reach the control plane" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_errors():
    r = meshtool("proxy-status", "x", "--watch")
    assert r.returncode == 64
    r = meshtool("proxy-status", "-o", "name")
    assert r.returncode == 64


def test_watch_refreshes_in_place(mesh):
    """--watch on a pseudo-terminal: the table is drawn, then redrawn in place."""
    import os
    import pty
    import select
    import signal
    import time

    cp, _ = mesh
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execv(sys.executable, [sys.executable, "-m", "meshtool", "proxy-status",
                                  "--control-plane", cp.address, "--watch", "--interval",
                                  "100ms"])
    out, deadline = b"", time.monotonic() + 20
    while time.monotonic() < deadline and out.count(b"ps-1.default") < 3:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    assert out.count(b"ps-1.default") >= 3  # drawn several times
    assert b"\x1b[" in out  # cursor movement: redrawn in place
    assert os.waitstatus_to_exitcode(status) == 0
