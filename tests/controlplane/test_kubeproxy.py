"""The service-proxy address of the cluster's control plane and the kubeconfig's credentials."""

import pytest
import yaml

from meshtool.controlplane.kubeproxy import ServiceProxy
from meshtool.kube.client import connect


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://203.0.113.9:6443/",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "s3cret"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return str(path)


def test_url_goes_through_the_service_proxy(kubeconfig):
    proxy = ServiceProxy(connect(kubeconfig).api_client)
    assert proxy.url("/debug/syncz?summary=1") == (
        "https://203.0.113.9:6443/api/v1/namespaces/meshtool-system/services/"
        "meshtool-control-plane:15010/proxy/debug/syncz?summary=1")
    other = ServiceProxy(connect(kubeconfig).api_client, "mesh", "cp", "discovery")
    assert other.base_path == "/api/v1/namespaces/mesh/services/cp:discovery/proxy"


def test_headers_carry_the_kubeconfig_token(kubeconfig):
    headers = ServiceProxy(connect(kubeconfig).api_client).headers()
    assert headers["authorization"].lower() == "bearer s3cret"
    assert headers["Accept"] == "application/json"
