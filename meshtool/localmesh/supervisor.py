"""Bring a local mesh up and down: the control plane, then every app and its sidecar.

State lives in one directory (default: $XDG_STATE_HOME/meshtool/localmesh): mesh.json records every
process started, logs/ holds one log file per process. One mesh runs at a time per state directory.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshtool.conventions import DISCOVERY_PORT
from meshtool.errors import MeshtoolError
from meshtool.localmesh.meshfile import GatewaySpec, MeshSpec, ServiceInstance
from meshtool.localmesh.processes import ProcessRecord, port_in_use, spawn, stop, tail
from meshtool.ports import free_port, free_ports

DEFAULT_CONTROL_PLANE_PORT = DISCOVERY_PORT
STATE_FILE = "mesh.json"

# (instance, role, status) -> None; status is "starting", "ready" or "failed"
Listener = Callable[[str, str, str], None]


def default_state_dir() -> Path:
    """$MESHTOOL_LOCALMESH_DIR (as `up --state-dir` reads it), else under the XDG state directory."""
    if os.environ.get("MESHTOOL_LOCALMESH_DIR"):
        return Path(os.environ["MESHTOOL_LOCALMESH_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "meshtool" / "localmesh"


def local_control_plane(state_dir: Path | None = None) -> str | None:
    """The discovery address of the running local mesh's control plane, if a mesh is up, so that
    `proxy-status` after `up --control-plane-port N` asks the right port without being told."""
    try:
        state = read_state(state_dir or default_state_dir())
    except MeshtoolError:
        return None
    if state is None:
        return None
    cp = state.find("control-plane", "control-plane")
    return state.control_plane if cp is not None and cp.alive() else None


class MeshAlreadyUp(MeshtoolError):
    pass


class MeshNotUp(MeshtoolError):
    pass


@dataclass
class MeshState:
    name: str
    meshfile: str | None
    store: str | None
    control_plane: str
    started: float
    processes: list[ProcessRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "meshfile": self.meshfile, "store": self.store,
                "controlPlane": self.control_plane, "started": self.started,
                "processes": [p.to_dict() for p in self.processes]}

    @classmethod
    def from_dict(cls, d: dict) -> "MeshState":
        return cls(d["name"], d.get("meshfile"), d.get("store"), d["controlPlane"], d["started"],
                   [ProcessRecord(**p) for p in d.get("processes", [])])

    def sidecars(self) -> list[ProcessRecord]:
        return [p for p in self.processes if p.role == "sidecar"]

    def gateways(self) -> list[ProcessRecord]:
        return [p for p in self.processes if p.role == "gateway"]

    def proxies(self) -> list[ProcessRecord]:
        """Every process holding a push stream: sidecars and gateways."""
        return self.sidecars() + self.gateways()

    def find(self, instance: str, role: str) -> ProcessRecord | None:
        return next((p for p in self.processes if p.instance == instance and p.role == role), None)


def read_state(state_dir: Path) -> MeshState | None:
    try:
        return MeshState.from_dict(json.loads((state_dir / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise MeshtoolError(f"{state_dir / STATE_FILE}: unreadable mesh state ({exc}); "
                            f"remove the file after checking no mesh process runs") from None


def _write_state(state_dir: Path, state: MeshState) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2))
    tmp.replace(state_dir / STATE_FILE)


def running_state(state_dir: Path) -> MeshState | None:
    """The state of a mesh with at least one live process; a fully dead one is cleared."""
    state = read_state(state_dir)
    if state is None:
        return None
    if any(p.alive() for p in state.processes):
        return state
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return None


def up(spec: MeshSpec, state_dir: Path | None = None, *, store: str | None = None,
       control_plane_port: int = DEFAULT_CONTROL_PLANE_PORT, timeout: float = 30.0,
       listener: Listener | None = None, control_plane_replicas: int = 1) -> MeshState:
    """Start the mesh; on any failure stop what was started and raise with the failing log's tail.
    With several control-plane replicas (on the same store; the extra ones on free ports), every
    sidecar is given all of their addresses."""
    state_dir = state_dir or default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = running_state(state_dir)
    if existing is not None:
        raise MeshAlreadyUp(f"mesh '{existing.name}' is already up "
                            f"({sum(p.alive() for p in existing.processes)} processes, state in "
                            f"{state_dir}); run `meshtool down` first")
    if port_in_use(control_plane_port):
        raise MeshtoolError(f"port {control_plane_port} is in use, so the control plane cannot listen "
                            f"there; free it or pass --control-plane-port")
    notify = listener or (lambda *_: None)
    logs = state_dir / "logs"
    cp_addrs = [f"127.0.0.1:{port}" for port in
                [control_plane_port, *free_ports(control_plane_replicas - 1)]]
    cp_addr = ",".join(cp_addrs)
    state = MeshState(spec.name, str(spec.path) if spec.path else None, store, cp_addr, time.time())
    try:
        ca_dir = state_dir / "ca" if spec.mtls else None  # made on first start, key 0600
        for i, addr in enumerate(cp_addrs):
            _start_control_plane(state, logs, store, addr, notify, timeout,
                                 "control-plane" if i == 0 else f"control-plane-{i + 1}", ca_dir)
        _write_state(state_dir, state)
        resolve = _external_ports(spec)
        for k, w in enumerate(spec.instances):  # replicas: each sidecar starts on another one
            mine = ",".join(cp_addrs[k % len(cp_addrs):] + cp_addrs[:k % len(cp_addrs)])
            _start_workload(state, spec, w, logs, mine, resolve, notify, timeout)
            _write_state(state_dir, state)
        for g in spec.gateways:
            _start_gateway(state, spec, g, logs, cp_addr, notify, timeout)
            _write_state(state_dir, state)
    except BaseException:
        stop(list(reversed(state.processes)))
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        raise
    return state


def down(state_dir: Path | None = None) -> tuple[MeshState, list[ProcessRecord]]:
    state_dir = state_dir or default_state_dir()
    state = read_state(state_dir)
    if state is None:
        raise MeshNotUp(f"no local mesh is up (no state in {state_dir})")
    stopped = stop(list(reversed(state.processes)))
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return state, stopped


def meshtool_command(*args: str) -> list[str]:
    """Run meshtool with this interpreter, whatever PATH says. -P keeps the working directory off
    sys.path, so a folder named `meshtool` there cannot shadow the installed package."""
    return [sys.executable, "-P", "-m", "meshtool", *args]


def _start_control_plane(state: MeshState, logs: Path, store: str | None, addr: str,
                         notify: Listener, timeout: float, instance: str = "control-plane",
                         ca_dir: Path | None = None) -> None:
    cmd = meshtool_command("control-plane", "--listen", addr)
    if store:
        cmd += ["--store", store]
    if ca_dir is not None:
        cmd += ["--ca-dir", str(ca_dir)]
    notify(instance, "control-plane", "starting")
    rec = spawn("control-plane", instance, cmd, logs / f"{instance}.log",
                ports={"discovery": int(addr.rsplit(":", 1)[1])})
    state.processes.append(rec)
    _wait(rec, lambda: _http_ok(f"http://{addr}/debug/syncz"), timeout, notify)


def _external_ports(spec: MeshSpec) -> dict[str, tuple[int, int]]:
    """External workload name -> (its service port, the real port it will listen on)."""
    return {w.name: (w.port, free_port()) for w in spec.instances if not w.in_mesh}


def _start_workload(state: MeshState, spec: MeshSpec, w: ServiceInstance, logs: Path, cp_addr: str,
                    external: dict[str, tuple[int, int]], notify: Listener, timeout: float) -> None:
    if not w.in_mesh:
        _start_app(state, spec, w, "external", external[w.name][1], {}, logs, notify, timeout)
        return
    app, inbound, outbound, admin = free_ports(4)
    sidecar_cmd = meshtool_command(
        "proxy", "run", "--mode", "explicit", "--inbound-port", str(inbound),
        "--outbound-port", str(outbound), "--admin-port", str(admin), "--app-port", str(app),
        "--service", w.name, "--proxy-id", f"{w.instance}.{spec.name}",
        "--control-plane", cp_addr)
    for k, v in w.labels.items():
        sidecar_cmd += ["--label", f"{k}={v}"]
    for name, (svc_port, real_port) in external.items():
        sidecar_cmd += ["--resolve", f"{name}:{svc_port}=127.0.0.1:{real_port}"]
    proxy = f"http://127.0.0.1:{outbound}"  # the app reaches every other service through its sidecar
    proxy_env = {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
    _start_app(state, spec, w, "app", app, proxy_env, logs, notify, timeout)
    notify(w.instance, "sidecar", "starting")
    side = spawn("sidecar", w.instance, sidecar_cmd, logs / f"{w.instance}.sidecar.log",
                 env={"POD_NAMESPACE": w.namespace},  # the namespace it registers its service in
                 ports={"inbound": inbound, "outbound": outbound, "admin": admin, "service": w.port})
    state.processes.append(side)
    _wait(side, lambda: _http_ok(f"http://127.0.0.1:{admin}/ready"), timeout, notify)


def _start_gateway(state: MeshState, spec: MeshSpec, g: GatewaySpec, logs: Path, cp_addr: str,
                   notify: Listener, timeout: float) -> None:
    """`meshtool gateway run` on the gateway's port (a free one when the mesh file names none)."""
    for port in (g.port, g.https_port):
        if port is not None and port_in_use(port):
            raise MeshtoolError(f"gateway {g.name}: port {port} is in use; free it or change "
                                f"the mesh file")
    http, admin = g.port or free_port(), free_port()
    cmd = meshtool_command("gateway", "run", "--http-port", str(http), "--admin-port", str(admin),
                           "--proxy-id", f"{g.name}.{spec.name}", "--control-plane", cp_addr)
    ports = {"http": http, "admin": admin}
    if g.tls:
        https = g.https_port or free_port()
        cmd += ["--https-port", str(https)]
        for cert, key in g.tls:
            cmd += ["--tls-cert", f"{spec.directory / cert},{spec.directory / key}"]
        ports["https"] = https
    notify(g.name, "gateway", "starting")
    rec = spawn("gateway", g.name, cmd, logs / f"{g.name}.gateway.log", ports=ports)
    state.processes.append(rec)
    _wait(rec, lambda: _http_ok(f"http://127.0.0.1:{admin}/ready"), timeout, notify)


def _start_app(state: MeshState, spec: MeshSpec, w: ServiceInstance, role: str, port: int,
               env: dict[str, str], logs: Path, notify: Listener, timeout: float) -> None:
    """Start the workload's own command on `port` and wait until it accepts connections."""
    notify(w.instance, role, "starting")
    fill = _placeholders(spec, port)
    rec = spawn(role, w.instance, [fill(part) for part in w.command], logs / f"{w.instance}.log",
                env={**env, **{k: fill(v) for k, v in w.env.items()}}, cwd=spec.directory,
                ports={"app": port})
    state.processes.append(rec)
    _wait(rec, lambda: _tcp_ok(port), timeout, notify)


_PLACEHOLDER = re.compile(r"\{(port|python|dir)\}")


def _placeholders(spec: MeshSpec, port: int) -> Callable[[str], str]:
    """Fill in {port}, {python} and {dir}; any other brace (JSON in an env value) stays as written."""
    values = {"port": str(port), "python": sys.executable, "dir": str(spec.directory)}
    return lambda text: _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _wait(rec: ProcessRecord, ready: Callable[[], bool], timeout: float, notify: Listener) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not rec.alive():
            notify(rec.instance, rec.role, "failed")
            raise MeshtoolError(f"{rec.role} {rec.instance} exited during start-up; "
                                f"its log ({rec.log}) ends with:\n{tail(rec.log)}")
        if ready():
            notify(rec.instance, rec.role, "ready")
            return
        time.sleep(0.05)
    notify(rec.instance, rec.role, "failed")
    raise MeshtoolError(f"{rec.role} {rec.instance} was not ready after {timeout:g}s; "
                        f"its log ({rec.log}) ends with:\n{tail(rec.log)}")


def _tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
