"""The service graph and the dashboard, against the canary local mesh with traffic flowing.

The dashboard is driven in a real browser: Debian's Chromium (scripts/system-deps.sh installs
it) through Playwright's Python package, pointed at that executable (no browser download).
Each page is clicked to, checked for what a user sees, and saved as a screenshot (in
$MESHTOOL_SCREENSHOTS when set, else the test's temporary directory).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from meshtool.ports import free_port
from meshtool.testing.wait import wait_for

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
CANARY = ROOT / "samples" / "canary"
MESHTOOL = [sys.executable, "-m", "meshtool"]


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    """The canary mesh up, the 90/10 rule applied, magnanimo called ~20 times a second."""
    from meshtool.localmesh.demo import apply_files, wait_synced
    from meshtool.localmesh.meshfile import load_meshfile
    from meshtool.localmesh.supervisor import down, up
    from meshtool.store import open_store

    tmp = tmp_path_factory.mktemp("canary")
    store = str(tmp / "store.db")
    state = up(load_meshfile(CANARY / "mesh.yaml"), tmp, store=store,
               control_plane_port=free_port(), timeout=60)
    stop = threading.Event()

    def apply(rule_file: str) -> None:
        with open_store(store) as st:
            _, revision = apply_files(st, [str(CANARY / "rules" / rule_file)])
        wait_synced(state, revision, len(state.sidecars()), 30)

    def traffic() -> None:
        port = state.find("magnanimo-v1", "sidecar").ports["inbound"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.wait(0.05):
            try:
                conn.request("GET", "/hw2")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()

    thread = threading.Thread(target=traffic, daemon=True)
    try:
        apply("route-90-10.yaml")
        thread.start()
        state.apply = apply
        yield state
    finally:
        stop.set()
        thread.join(15)
        down(tmp)


def _graph(address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MESHTOOL, "graph", "--control-plane", address, *args],
                          capture_output=True, text=True, timeout=60)


def test_graph_shows_the_canary_edges_as_table_dot_and_json(canary):
    def edges():
        r = _graph(canary.control_plane, "-o", "json")
        assert r.returncode == 0, r.stderr
        got = {(e["source"], e["destination"]): e for e in json.loads(r.stdout)["edges"]}
        return got if {("magnanimo:v1", "benigno:v1"), ("magnanimo:v1", "benigno:v2"),
                       ("unknown", "magnanimo:v1")} <= set(got) else None

    got = wait_for(edges, 60, 0.5, "the canary's edges in the graph")
    to_v1, to_v2 = got[("magnanimo:v1", "benigno:v1")], got[("magnanimo:v1", "benigno:v2")]
    assert to_v1["errorRate"] == 0 and to_v1["p50"] is not None and to_v1["p99"] >= to_v1["p50"]
    assert to_v1["requests"] > to_v2["requests"] > 0  # 90/10
    assert to_v1["rps"] > 0
    table = _graph(canary.control_plane)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "DESTINATION", "RPS", "ERRORS", "P50", "P99",
                                "REQUESTS"]
    assert any(line.split()[:2] == ["magnanimo:v1", "benigno:v2"] for line in lines[1:])
    dot = _graph(canary.control_plane, "-o", "dot").stdout
    assert dot.startswith("digraph mesh {") and '"magnanimo:v1" -> "benigno:v1"' in dot
    if shutil.which("dot"):  # Graphviz itself, when installed, must accept it
        subprocess.run(["dot", "-Tsvg"], input=dot, text=True, check=True, capture_output=True)


@pytest.fixture
def dashboard(canary, tmp_path):
    port = free_port()
    proc = subprocess.Popen([*MESHTOOL, "dashboard", "--control-plane", canary.control_plane,
                             "--address", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "dashboard.log", "wb"), text=True)
    try:
        url = proc.stdout.readline().strip()  # the URL comes first, once it listens
        assert url == f"http://127.0.0.1:{port}/gui/", url
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium: scripts/system-deps.sh installs Debian's package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_dashboard_pages_in_chromium_while_the_canary_runs(canary, dashboard, browser, tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("MESHTOOL_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(dashboard)

    # overview
    expect(page.locator("#title")).to_have_text("Overview")
    expect(page.get_by_test_id("proxies").locator(".value")).to_have_text("3")
    expect(page.get_by_test_id("by-status").locator(".value")).to_have_text("3 / 0 / 0 / 0")
    page.screenshot(path=str(shots / "dashboard-overview.png"))

    # data plane proxies
    page.get_by_role("link", name="Data plane proxies").click()
    rows = page.get_by_test_id("proxies-table").locator("tbody tr")
    expect(rows).to_have_count(3)
    for instance in ("magnanimo-v1", "benigno-v1", "benigno-v2"):
        row = page.locator(f'tr[data-proxy^="{instance}."]')
        expect(row).to_have_count(1)
        expect(row.locator(".status")).to_have_text("SYNCED")
    page.screenshot(path=str(shots / "dashboard-proxies.png"))

    # services with golden signals: benigno v1 serves, so its rate turns non-zero
    page.get_by_role("link", name="Services").click()
    v1 = page.locator('tr[data-service="benigno:v1"]')
    expect(v1).to_have_count(1)
    expect(v1.locator("td").nth(3)).not_to_have_text("0.00", timeout=20_000)
    page.screenshot(path=str(shots / "dashboard-services.png"))

    # policies: the rule as authored, with its YAML
    page.get_by_role("link", name="Policies").click()
    page.locator('li[data-policy="RouteRule/default/benigno-canary"]').click()
    yaml_box = page.get_by_test_id("policy-yaml")
    expect(yaml_box).to_contain_text("kind: RouteRule")
    expect(yaml_box).to_contain_text("weight: 90")
    page.screenshot(path=str(shots / "dashboard-policies.png"))

    # the service graph, drawn
    page.get_by_role("link", name="Service graph").click()
    for node in ("magnanimo:v1", "benigno:v1", "benigno:v2"):
        expect(page.locator(f'rect[data-node="{node}"]')).to_have_count(1)
    expect(page.locator('path[data-edge="magnanimo:v1->benigno:v2"]')).to_have_count(1)
    page.screenshot(path=str(shots / "dashboard-graph.png"))

    # the traffic split, live: 90/10, then 50/50 without a reload
    page.get_by_role("link", name="Traffic split").click()
    weights = page.get_by_test_id("split-weights")
    expect(weights.locator('[data-version="v1"]')).to_have_text("v1 90%")
    expect(weights.locator('[data-version="v2"]')).to_have_text("v2 10%")
    page.screenshot(path=str(shots / "dashboard-split-90-10.png"))
    page.evaluate("window.__sameDocument = true")
    canary.apply("route-50-50.yaml")
    expect(weights.locator('[data-version="v1"]')).to_have_text("v1 50%", timeout=15_000)
    expect(weights.locator('[data-version="v2"]')).to_have_text("v2 50%")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    page.screenshot(path=str(shots / "dashboard-split-50-50.png"))
    assert not errors, errors


def test_dashboard_api_is_read_only_and_serves_no_unknown_files(dashboard):
    import urllib.error
    import urllib.request

    base = dashboard.rsplit("/gui/", 1)[0]
    req = urllib.request.Request(f"{base}/gui/api/proxies", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 405
    for path in ("/gui/static/..%2Fserver.py", "/gui/static/server.py", "/gui/api/secrets"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(base + path, timeout=5)
        assert exc.value.code == 404, path


def test_background_dashboard_serves_and_stops_and_takes_another_port_when_busy():
    import socket
    import urllib.error
    import urllib.request

    from meshtool.controlplane.dashboard.background import BackgroundDashboard

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    board = BackgroundDashboard("127.0.0.1:9")  # no control plane there: pages say so
    try:
        url = board.start(ports=(taken, 0))
        assert url.startswith("http://127.0.0.1:") and f":{taken}/" not in url
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b"meshtool dashboard" in r.read()
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(url + "api/proxies", timeout=10)
        assert exc.value.code == 502 and b"cannot reach" in exc.value.read()
    finally:
        board.stop()
        busy.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_demo_canary_prints_the_dashboard_url(tmp_path):
    r = subprocess.run([*MESHTOOL, "demo", "canary", "--state-dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("dashboard: ")]
    assert len(lines) == 1 and "/gui/ (live while the demo runs)" in lines[0], r.stderr[:2000]


def test_control_plane_serves_the_dashboard_with_dashboard_option(tmp_path):
    import urllib.request

    from meshtool.testing.processes import ControlPlaneProcess

    port = free_port()
    with ControlPlaneProcess(tmp_path / "store.db", args=("--dashboard", f"127.0.0.1:{port}"),
                             log=tmp_path / "cp.log") as cp:
        def overview():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/gui/api/overview",
                                        timeout=5) as r:
                return json.loads(r.read())
        got = wait_for(overview, 30, 0.2, "the control plane's dashboard")
        assert got["address"] == cp.address and got["proxies"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gui/", timeout=5) as r:
            assert b"/gui/static/app.js" in r.read()
