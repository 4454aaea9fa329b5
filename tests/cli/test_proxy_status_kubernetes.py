"""proxy-status --kubernetes: its flags go together, or are a usage error."""

import subprocess
import sys

MESHTOOL = [sys.executable, "-m", "meshtool"]


def run(*args):
    return subprocess.run([*MESHTOOL, *args], capture_output=True, text=True, timeout=30)


def test_proxy_status_namespace_needs_kubernetes():
    r = run("proxy-status", "-n", "meshtool-system")
    assert r.returncode == 64 and "go with --kubernetes" in r.stderr


def test_proxy_status_takes_one_way_to_the_control_plane():
    r = run("proxy-status", "--kubernetes", "--control-plane", "127.0.0.1:1")
    assert r.returncode == 64 and "give one" in r.stderr


def test_proxy_status_missing_kubeconfig_is_one_line(tmp_path):
    r = run("proxy-status", "--kubernetes", "--kubeconfig", str(tmp_path / "nope"))
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr
