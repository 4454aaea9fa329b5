"""meshtool up/down for real: processes started, rules from another terminal reach them, all stopped."""

import http.client
import subprocess
import sys
import time

import pytest

from meshtool.errors import MeshtoolError
from meshtool.localmesh.meshfile import load_meshfile, parse_meshfile
from meshtool.ports import free_ports
from meshtool.localmesh.scenarios import samples_dir
from meshtool.localmesh.processes import stop
from meshtool.localmesh.supervisor import MeshAlreadyUp, MeshNotUp, MeshState, down, read_state, up
from meshtool.rules.sources import Source


def meshtool(*args, **kw):
    return subprocess.run([sys.executable, "-m", "meshtool", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_up_create_from_another_terminal_down(tmp_path):
    state_dir, store = tmp_path / "mesh", str(tmp_path / "store.db")
    cp_port = free_ports(1)[0]
    spec = load_meshfile(samples_dir() / "canary" / "mesh.yaml")
    state = up(spec, state_dir, store=store, control_plane_port=cp_port)
    try:
        assert [(p.role, p.instance) for p in state.processes][:3] == [
            ("control-plane", "control-plane"), ("app", "magnanimo-v1"), ("sidecar", "magnanimo-v1")]
        assert all(p.alive() for p in state.processes)
        assert read_state(state_dir).to_dict() == state.to_dict()

        with pytest.raises(MeshAlreadyUp, match="already up"):
            up(spec, state_dir, store=store, control_plane_port=free_ports(1)[0])

        # another terminal: the CLI writes to the same store; the sidecars get it pushed
        r = meshtool("create", "-f", str(samples_dir() / "canary/rules/route-100-v2.yaml"), "--store", store)
        assert r.returncode == 0, r.stderr
        entry = state.find("magnanimo-v1", "sidecar").ports["inbound"]
        deadline = time.monotonic() + 15
        bodies = []
        while time.monotonic() < deadline:
            bodies = [get(entry, "/hw2")[1] for _ in range(4)]
            if all("Canary Release" in b for b in bodies):
                break
            time.sleep(0.1)
        assert all("Canary Release" in b for b in bodies), bodies

        r = meshtool("proxy-status", "--control-plane", f"127.0.0.1:{cp_port}", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert '"SYNCED"' in r.stdout
    finally:
        _, stopped = down(state_dir)
    assert len(stopped) == len(state.processes)
    assert not any(p.alive() for p in state.processes)
    assert read_state(state_dir) is None
    with pytest.raises(MeshNotUp):
        down(state_dir)


def test_an_app_that_dies_at_start_stops_everything_and_shows_its_log(tmp_path):
    spec = parse_meshfile(Source("m.yaml", f"""\
apiVersion: local.meshtool.io/v1alpha1
kind: LocalMesh
metadata: {{name: broken}}
spec:
  services:
  - name: web
    port: 8080
    command: ["{sys.executable}", "-c", "import sys; print('cannot bind: address in use'); sys.exit(3)"]
"""))
    state_dir = tmp_path / "mesh"
    with pytest.raises(MeshtoolError) as exc:
        up(spec, state_dir, store=str(tmp_path / "s.db"), control_plane_port=free_ports(1)[0])
    assert "app web exited during start-up" in str(exc.value)
    assert "cannot bind: address in use" in str(exc.value)
    assert read_state(state_dir) is None  # nothing recorded, nothing left running


def test_cli_down_without_a_mesh_says_so_and_succeeds(tmp_path):
    # nothing running is the state `down` asks for: exit 0, one line saying there was nothing
    r = meshtool("down", "--state-dir", str(tmp_path))
    assert r.returncode == 0
    assert r.stderr.strip() == f"no local mesh is up (no state in {tmp_path}): nothing to stop"


def test_cli_up_with_a_broken_mesh_file_names_file_and_line(tmp_path):
    f = tmp_path / "mesh.yaml"
    f.write_text("apiVersion: local.meshtool.io/v1alpha1\nkind: LocalMesh\nmetadata: {name: x}\n"
                 "spec:\n  services:\n  - name: a\n    port: 0\n    command: [x]\n")
    r = meshtool("up", "-f", str(f), "--state-dir", str(tmp_path / "s"))
    assert r.returncode == 65
    assert f"{f}:7: spec.services[0].port: port must be a number from 1 to 65535, got 0" in r.stderr


def test_cli_up_says_where_to_send_requests_and_down_stops_all(tmp_path):
    args = ["--state-dir", str(tmp_path / "s")]
    r = meshtool("up", "-f", str(samples_dir() / "helloworld" / "mesh.yaml"), *args,
                 "--store", str(tmp_path / "st.db"), "--control-plane-port", str(free_ports(1)[0]))
    try:
        assert r.returncode == 0, r.stderr
        line = next(l for l in r.stderr.splitlines() if l.strip().startswith("sleep-v1:"))
        port = int(line.split("127.0.0.1:")[1].split()[0])
        status, body = get(port, "/")
        assert status == 200 and "Hello version: v" in body
    finally:
        r = meshtool("down", *args)
    assert r.returncode == 0 and "stopped 7 of 7 processes" in r.stderr


def test_cli_up_with_a_missing_mesh_file_is_a_usage_error(tmp_path):
    r = meshtool("up", "-f", str(tmp_path / "nope.yaml"), "--state-dir", str(tmp_path / "s"))
    assert r.returncode == 64
    assert r.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file"


def test_placeholders_fill_only_port_python_and_dir(tmp_path):
    """A mesh file's env may hold JSON: its braces are the user's, not placeholders."""
    out = tmp_path / "env.txt"
    spec = parse_meshfile(Source("m.yaml", path=tmp_path / "m.yaml", text=f"""\
apiVersion: local.meshtool.io/v1alpha1
kind: LocalMesh
metadata: {{name: env}}
spec:
  services:
  - name: web
    port: 8080
    env: {{CONFIG: '{{"port": {{port}}, "dir": "{{dir}}"}}'}}
    command: ["{{python}}", "-c", "import os, socket, sys, time; open(sys.argv[1], 'w').write(os.environ['CONFIG']); s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[2]))); s.listen(); time.sleep(60)", "{out}", "{{port}}"]
"""))
    from meshtool.localmesh import supervisor

    state = MeshState("env", None, None, "127.0.0.1:1", 0.0)
    try:
        supervisor._start_app(state, spec, spec.instances[0], "app", free_ports(1)[0], {},
                              tmp_path / "logs", lambda *a: None, 20)
        port = state.processes[0].ports["app"]
        assert out.read_text() == f'{{"port": {port}, "dir": "{tmp_path}"}}'
    finally:
        stop(state.processes)


KUMA_IN_NAMESPACE = """\
apiVersion: kuma.io/v1alpha1
kind: TrafficRoute
mesh: default
metadata: {name: benigno-v2-only, namespace: kong-mesh-app}
spec:
  sources:
  - match: {kuma.io/service: '*'}
  destinations:
  - match: {kuma.io/service: benigno_kong-mesh-app_svc_5000}
  conf:
    destination: {kuma.io/service: benigno_kong-mesh-app_svc_5000, version: v2}
"""


def test_services_in_a_namespace_are_routed_by_kuma_tags_naming_it(tmp_path):
    """The Kong Mesh walkthrough's services live in kong-mesh-app: the mesh file says so, and a
    TrafficRoute whose tags name that namespace changes where magnanimo's calls go."""
    path = samples_dir() / "canary" / "mesh.yaml"
    text = path.read_text().replace("      version: v", "      namespace: kong-mesh-app\n"
                                                       "      version: v")
    spec = parse_meshfile(Source(str(path), path=path, text=text))
    assert {w.namespace for w in spec.instances} == {"kong-mesh-app"}
    state_dir, store = tmp_path / "mesh", str(tmp_path / "store.db")
    cp_port = free_ports(1)[0]
    state = up(spec, state_dir, store=store, control_plane_port=cp_port)
    try:
        rule = tmp_path / "route.yaml"
        rule.write_text(KUMA_IN_NAMESPACE)
        r = meshtool("create", "-f", str(rule), "--store", store)
        assert r.returncode == 0, r.stderr
        entry = state.find("magnanimo-v1", "sidecar").ports["inbound"]
        deadline, bodies = time.monotonic() + 15, []
        while time.monotonic() < deadline:
            bodies = [get(entry, "/hw2")[1] for _ in range(6)]
            if all("Canary Release" in b for b in bodies):
                break
            time.sleep(0.1)
        assert all("Canary Release" in b for b in bodies), bodies
        r = meshtool("proxy-status", "--control-plane", f"127.0.0.1:{cp_port}", "-o", "json")
        assert "kong-mesh-app" in r.stdout
    finally:
        down(state_dir)
