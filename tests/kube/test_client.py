"""API clients from kubeconfig: the context's namespace, and one-line errors for what goes wrong."""

from __future__ import annotations

import socket

import pytest
import yaml

from meshtool.errors import MeshtoolError
from meshtool.kube.client import api_errors, connect, context_namespace


def _kubeconfig(path, server, namespace=None, name="c1"):
    ctx = {"cluster": "k", "user": "u"}
    if namespace:
        ctx["namespace"] = namespace
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "k", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": ctx}, {"name": "other", "context": {
            "cluster": "k", "user": "u", "namespace": "elsewhere"}}],
        "current-context": name,
    }))
    return str(path)


def test_namespace_comes_from_the_chosen_context(tmp_path):
    config = _kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", namespace="team-a")
    assert context_namespace(config) == "team-a"
    assert context_namespace(config, "other") == "elsewhere"
    plain = _kubeconfig(tmp_path / "plain", "https://127.0.0.1:1")
    assert context_namespace(plain) == "default"
    assert connect(config, "other").namespace == "elsewhere"


def test_missing_kubeconfig_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(MeshtoolError, match=r"kubeconfig .*nope not found \(--kubeconfig\)"):
        connect(str(tmp_path / "nope"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone"))
    with pytest.raises(MeshtoolError, match=r"not found \(\$KUBECONFIG\)"):
        connect()


def test_invalid_kubeconfig_and_unknown_context(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\ncontexts: [}\n")
    with pytest.raises(MeshtoolError, match="is not usable") as e:
        connect(str(broken))
    assert "\n" not in str(e.value)
    config = _kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    with pytest.raises(MeshtoolError, match=r'context "nope" not found .*\(contexts: c1, other\)'):
        connect(config, "nope")


def test_unreachable_server_is_one_clear_line(tmp_path):
    from kubernetes import client

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = connect(_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}"))
    with pytest.raises(MeshtoolError, match=f"cannot reach the Kubernetes API server at "
                                            f"https://127.0.0.1:{port}") as e:
        with api_errors(cluster.server):
            client.CoreV1Api(cluster.api_client).list_namespace(_request_timeout=5)
    assert "\n" not in str(e.value)


def test_refused_credentials(kube_cluster, tmp_path):
    from kubernetes import client

    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "wrong"
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(config))
    cluster = connect(str(path))
    with pytest.raises(MeshtoolError, match="refused the credentials"):
        with api_errors(cluster.server):
            client.CoreV1Api(cluster.api_client).list_namespace()
