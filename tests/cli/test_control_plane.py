"""control-plane: the cluster-workload flags go together, or are a usage error."""

import subprocess
import sys

MESHTOOL = [sys.executable, "-m", "meshtool"]


def run(*args):
    return subprocess.run([*MESHTOOL, *args], capture_output=True, text=True, timeout=30)


def test_control_plane_namespace_needs_cluster_workloads(tmp_path):
    r = run("control-plane", "--store", str(tmp_path / "s.db"), "-n", "shop")
    assert r.returncode == 64 and "--workloads kubernetes" in r.stderr


def test_control_plane_missing_kubeconfig_is_one_line(tmp_path):
    r = run("control-plane", "--store", str(tmp_path / "s.db"), "--workloads", "kubernetes",
            "--kubeconfig", str(tmp_path / "nope"))
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2  # the error, perhaps a hint
