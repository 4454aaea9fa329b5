"""proxy-status --kubernetes when the cluster's control plane cannot be reached: one clear line."""

import os
import subprocess
import sys

from kubernetes import client

from .kubeobjects import create_service

MESHTOOL = [sys.executable, "-m", "meshtool"]


def proxy_status(kubeconfig, *args):
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1"}
    return subprocess.run([*MESHTOOL, "proxy-status", "--kubernetes", *args],
                          capture_output=True, text=True, timeout=30, env=env)


def test_not_installed_names_the_service_and_namespace(kube_cluster, kube_namespace):
    r = proxy_status(kube_cluster.kubeconfig, "-n", kube_namespace)
    assert r.returncode == 1 and r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert 'services "meshtool-control-plane" not found' in first
    assert f"namespace {kube_namespace}" in first and "Traceback" not in r.stderr


def test_a_service_without_endpoints_is_reported_as_unavailable(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    create_service(core, kube_namespace, "meshtool-control-plane", {"app": "cp"}, port=15010,
                   target=15010)
    r = proxy_status(kube_cluster.kubeconfig, "-n", kube_namespace)
    assert r.returncode == 1
    assert f"service {kube_namespace}/meshtool-control-plane has no endpoints" in r.stderr
    assert "not ready" in r.stderr


def test_an_unreachable_api_server_is_one_line(tmp_path, kube_cluster):
    config = kube_cluster.kubeconfig.read_text().replace(kube_cluster.server,
                                                         "https://127.0.0.1:1")
    broken = tmp_path / "kubeconfig"
    broken.write_text(config)
    r = proxy_status(broken)
    assert r.returncode == 1
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1" in r.stderr
    assert "Traceback" not in r.stderr
