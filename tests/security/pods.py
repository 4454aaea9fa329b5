"""Pods for real: network namespaces on one bridge, like a Kubernetes node.

A "node" namespace holds a bridge and the control plane; each pod is a namespace with a veth
on that bridge, its own address, `meshtool proxy init`'s iptables rules and a sidecar in
transparent mode running as UID 1337. Nothing touches the host's network: every interface
and address lives in namespaces named after this process, so parallel runs never meet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from meshtool.testing.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
MESHTOOL = [sys.executable, "-m", "meshtool"]
PROXY_UID = 1337

# An opaque TCP service that speaks first (like a database's greeting), then echoes.
TCP_SERVER = r'''
import socketserver
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"store ready\n")
        while data := self.request.recv(4096):
            self.request.sendall(b"echo " + data)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 7000), Echo).serve_forever()
'''

# The client side: greeting, one exchange, half-close; prints what it got (or the error).
TCP_CLIENT = r'''
import json, socket, sys
out = {"got": ""}
try:
    s = socket.create_connection((sys.argv[1], 7000), timeout=5)
    s.settimeout(5)
    s.sendall(b"ping")
    s.shutdown(socket.SHUT_WR)
    while data := s.recv(4096):
        out["got"] += data.decode()
except OSError as exc:
    out["error"] = type(exc).__name__
print(json.dumps(out))
'''


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def skip_reason(what: str = "pods need",
                tools: tuple[str, ...] = ("ip", "iptables", "setpriv", "curl", "tcpdump"),
                ) -> str | None:
    """Why network namespaces with iptables (and `tools`) cannot be used here, or None."""
    if os.geteuid() != 0:
        return f"{what} root (network namespaces and iptables)"
    for tool in tools:
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/system-deps.sh installs it)"
    probe = f"mtprobe{os.getpid() % 100000}"
    r = sh("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"this machine refuses network namespaces: {r.stderr.strip()}"
    try:
        r = sh("ip", "netns", "exec", probe, "iptables", "-t", "nat", "-L", "-n", check=False)
        if r.returncode != 0:
            return f"iptables does not work in a network namespace here: {r.stderr.strip()}"
    finally:
        sh("ip", "netns", "del", probe, check=False)
    return None


class Namespace:
    def __init__(self, name: str, directory: Path, address: str):
        self.name, self.dir, self.address = name, directory, address
        self.procs: list[subprocess.Popen] = []

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    def start(self, *argv: str, log: str, uid: int | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        prefix = ["ip", "netns", "exec", self.name]
        if uid is not None:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        clean["HOME"] = str(self.dir)
        out = open(self.dir / log, "ab")
        p = subprocess.Popen([*prefix, *argv], stdout=out, stderr=subprocess.STDOUT,
                             env={**clean, **(env or {})}, cwd=ROOT)
        self.procs.append(p)
        return p

    def curl(self, url: str, *args: str) -> subprocess.CompletedProcess:
        return self.run("curl", "-s", "-m", "5", *args, url, check=False)

    def log(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(errors="replace") if path.exists() else ""


class Cluster:
    """A node namespace with a bridge, and pods added one by one (addresses 10.252.N.x/24)."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.tag, self.net = tag, f"10.252.{os.getpid() % 200 + 20}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"meshtool-pods-{os.getpid()}-"))
        self.dir.chmod(0o755)  # the sidecars run as UID 1337 and live here
        self.node = Namespace(f"mtnode{tag}", self.dir, f"{self.net}.1")
        self.pods: dict[str, Namespace] = {}
        self.hosts: dict[str, str] = {}  # name -> address, for every pod's /etc/hosts
        self.host_links: list[str] = []  # host-side veths (link_host)

    def setup(self) -> None:
        sh("ip", "netns", "add", self.node.name)
        self.node.run("ip", "link", "set", "lo", "up")
        self.node.run("ip", "link", "add", "br0", "type", "bridge")
        self.node.run("ip", "addr", "add", f"{self.node.address}/24", "dev", "br0")
        self.node.run("ip", "link", "set", "br0", "up")

    def add_pod(self, name: str, index: int) -> Namespace:
        ns = Namespace(f"mt{name[:6]}{self.tag}", self.dir / name, f"{self.net}.{index}")
        ns.dir.mkdir()
        ns.dir.chmod(0o755)
        sh("ip", "netns", "add", ns.name)
        self.pods[name] = ns
        sh("ip", "link", "add", f"v{index}", "netns", self.node.name, "type", "veth", "peer",
           "name", "eth0", "netns", ns.name)
        self.node.run("ip", "link", "set", f"v{index}", "master", "br0")
        self.node.run("ip", "link", "set", f"v{index}", "up")
        ns.run("ip", "addr", "add", f"{ns.address}/24", "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "route", "add", "default", "via", self.node.address)
        return ns

    def write_hosts(self) -> None:
        """Every pod resolves the services by name (to addresses the sidecar captures)."""
        lines = "".join(f"{addr} {name}\n" for name, addr in self.hosts.items())
        for ns in self.pods.values():
            etc = Path("/etc/netns") / ns.name
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{lines}")
            # no DNS server in here: lookups fail at once instead of timing out (an HTTP server
            # on 0.0.0.0 looks its own name up before it listens)
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    def inject(self, pod: Namespace, service: str, app_port: int, control_plane: str,
               *labels: str, namespace: str = "default", proxy_id: str | None = None,
               extra: tuple[str, ...] = ()) -> None:
        """proxy init's iptables rules and a transparent sidecar speaking for `service`;
        `extra`: more `proxy run` options (a token file, a service account)."""
        init = pod.run(*MESHTOOL, "proxy", "init", "--proxy-uid", str(PROXY_UID), check=False)
        assert init.returncode == 0, init.stderr
        label_args = [a for lab in labels for a in ("--label", lab)]
        pod.start(*MESHTOOL, "proxy", "run", "--mode", "transparent", "--control-plane",
                  control_plane, "--service", service, "--app-port", str(app_port),
                  "--proxy-id", proxy_id or f"{service}-pod.{namespace}", *label_args, *extra,
                  "-v", log="sidecar.log", uid=PROXY_UID,
                  env={"INSTANCE_IP": pod.address, "POD_NAMESPACE": namespace})

    def link_host(self, index: int = 254) -> str:
        """A veth from this process's own host-side interface onto the bridge, at address
        .`index`: for a process that must stay in the host's namespace (the control plane in
        Kubernetes mode, which reaches the API server on the host's loopback). Returns the
        address; the interface goes with the node namespace at teardown."""
        host_if, node_if = f"mtk{self.tag}", f"mtkn{self.tag}"
        address = f"{self.net}.{index}"
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", node_if, "netns",
           self.node.name)
        self.node.run("ip", "link", "set", node_if, "master", "br0")
        self.node.run("ip", "link", "set", node_if, "up")
        sh("ip", "addr", "add", f"{address}/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        self.host_links.append(host_if)
        return address

    def wait_certified(self, pod: Namespace, timeout: float = 30) -> dict:
        """The sidecar is ready and holds its workload certificate."""
        import json

        def certified():
            r = pod.curl("http://127.0.0.1:15020/certs")
            return r.returncode == 0 and json.loads(r.stdout).get("state") == "active" \
                and json.loads(r.stdout)
        try:
            return wait_for(certified, timeout, interval=0.2, what=f"{pod.name} certificate")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {pod.log('sidecar.log')[-3000:]}") from None

    def teardown(self) -> None:
        everyone = [self.node, *self.pods.values()]
        for ns in everyone:
            for p in ns.procs:
                p.terminate()
        for ns in everyone:
            for p in ns.procs:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        for ns in self.pods.values():
            sh("ip", "netns", "del", ns.name, check=False)
            shutil.rmtree(Path("/etc/netns") / ns.name, ignore_errors=True)
        for link in self.host_links:
            sh("ip", "link", "del", link, check=False)  # gone with the node's end, usually
        sh("ip", "netns", "del", self.node.name, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
