"""`meshtool proxy init` for real: the rules applied in a network namespace redirect what they should.

A "pod" namespace gets the rules; a "peer" namespace talks to it over a veth pair. Needs root,
iproute2 and iptables; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables-restore"),
    reason="needs root, ip and iptables")

POD_IP, PEER_IP = "10.231.0.2", "10.231.0.1"

SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(port, answer):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen()
        while True:
            c, _ = s.accept(); c.sendall(answer.encode()); c.close()
    for spec in sys.argv[1:]:
        port, answer = spec.split("=")
        threading.Thread(target=serve, args=(int(port), answer), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""")

CLIENT = textwrap.dedent("""
    import os, socket, sys
    host, port, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.setgid(uid); os.setuid(uid)  # after the imports: the interpreter's files may be root's only
    s = socket.socket()  # owned by `uid`: the owner match looks at the socket's creator
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        print(s.recv(100).decode("ascii") or "empty")
    except OSError as exc:
        print(type(exc).__name__)
""")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def namespaces():
    tag = uuid.uuid4().hex[:6]
    pod, peer = f"mtpod{tag}", f"mtpeer{tag}"
    sh("ip", "netns", "add", pod)
    sh("ip", "netns", "add", peer)
    try:
        sh("ip", "link", "add", f"vp{tag}", "netns", pod, "type", "veth", "peer", "name", f"vq{tag}",
           "netns", peer)
        for ns, dev, ip in ((pod, f"vp{tag}", POD_IP), (peer, f"vq{tag}", PEER_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield pod, peer
    finally:
        for ns in (pod, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_ns(ns: str, *argv: str, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, **kw)


def connect(ns: str, host: str, port: int, uid: int) -> str:
    return in_ns(ns, sys.executable, "-c", CLIENT, host, str(port), str(uid), timeout=20).stdout.strip()


def test_redirect_in_a_network_namespace(namespaces):
    pod, peer = namespaces
    r = in_ns(pod, sys.executable, "-m", "meshtool", "proxy", "init", "--exclude-inbound-ports", "2222",
              "--exclude-outbound-ports", "5432")
    assert r.returncode == 0, r.stderr
    servers = []
    try:
        for ns, specs in ((pod, ["15001=outbound-proxy", "15006=inbound-proxy", "15020=admin",
                                 "8080=app", "2222=ssh"]),
                          (peer, ["80=peer-web", "5432=peer-db"])):
            p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, *specs],
                                 stdout=subprocess.PIPE, text=True)
            servers.append(p)
            assert p.stdout.readline().strip() == "ready"
        # outbound from the app (any UID but the proxy's) goes to the proxy
        assert connect(pod, PEER_IP, 80, 1000) == "outbound-proxy"
        # the proxy's own traffic, excluded ports and loopback are never redirected
        assert connect(pod, PEER_IP, 80, 1337) == "peer-web"
        assert connect(pod, PEER_IP, 5432, 1000) == "peer-db"
        assert connect(pod, "127.0.0.1", 8080, 1000) == "app"
        # inbound to the app goes to the proxy; the admin port and excluded ports do not
        assert connect(peer, POD_IP, 8080, 0) == "inbound-proxy"
        assert connect(peer, POD_IP, 15020, 0) == "admin"
        assert connect(peer, POD_IP, 2222, 0) == "ssh"
    finally:
        for p in servers:
            p.kill()
            p.wait()


def test_running_init_again_leaves_one_set_of_rules(namespaces):
    pod, _ = namespaces
    for ports in ("2222", "3333"):  # a second run with other settings replaces the first
        r = in_ns(pod, sys.executable, "-m", "meshtool", "proxy", "init", "--exclude-inbound-ports", ports)
        assert r.returncode == 0, r.stderr
    nat = in_ns(pod, "iptables-save", "-t", "nat").stdout
    assert nat.count("-A OUTPUT -p tcp -j MESHTOOL_OUTPUT") == 1
    assert nat.count("-A PREROUTING -p tcp -j MESHTOOL_INBOUND") == 1
    assert "--dport 3333 -j RETURN" in nat and "--dport 2222" not in nat
