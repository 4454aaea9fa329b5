"""Which Secrets the gateway serves, read from the three gateway APIs as authored."""

from meshtool.model.gatewaytls import (GATEWAY_API, INGRESS, ISTIO_GATEWAY, TlsReference,
                                       tls_references)
from meshtool.model.resource import Resource


def res(kind, name, spec, api_version, namespace="shop", annotations=None):
    return Resource(kind, name, namespace, spec, api_version=api_version,
                    annotations=annotations or {})


def test_ingress_tls_entries_name_secrets_for_their_hosts():
    ing = res(INGRESS, "web", {"tls": [{"hosts": ["a.example.com", "b.example.com"],
                                         "secretName": "ab"},
                                        {"secretName": "fallback"},
                                        {"hosts": ["c.example.com"]}],  # no Secret: nothing
                               "rules": []}, "networking.k8s.io/v1")
    assert tls_references([ing]) == [
        TlsReference((INGRESS, "shop", "web"), "networking.k8s.io/v1", "shop", "ab",
                     ("a.example.com", "b.example.com")),
        TlsReference((INGRESS, "shop", "web"), "networking.k8s.io/v1", "shop", "fallback", ())]


def test_an_ingress_of_another_class_names_nothing():
    ing = res(INGRESS, "web", {"ingressClassName": "nginx",
                               "tls": [{"secretName": "ab"}]}, "networking.k8s.io/v1")
    assert tls_references([ing]) == []


def test_gateway_api_https_listeners_name_certificate_refs_with_their_hostname():
    gw = res(GATEWAY_API, "edge", {"gatewayClassName": "meshtool", "listeners": [
        {"name": "web", "port": 80, "protocol": "HTTP"},
        {"name": "api", "port": 443, "protocol": "HTTPS", "hostname": "api.example.com",
         "tls": {"certificateRefs": [{"name": "api-cert"},
                                     {"kind": "Secret", "name": "shared", "namespace": "certs"},
                                     {"kind": "ConfigMap", "name": "not-a-secret"}]}},
        {"name": "any", "port": 8443, "protocol": "HTTPS",
         "tls": {"certificateRefs": [{"group": "", "kind": "Secret", "name": "wild"}]}}]},
        "gateway.networking.k8s.io/v1")
    assert [(r.secret_id, r.hosts) for r in tls_references([gw])] == [
        ("shop/api-cert", ("api.example.com",)), ("certs/shared", ("api.example.com",)),
        ("shop/wild", ())]
    other = res(GATEWAY_API, "theirs", {**gw.spec, "gatewayClassName": "istio"},
                "gateway.networking.k8s.io/v1")
    assert tls_references([other]) == []


def test_istio_gateway_simple_servers_name_their_credential_for_their_hosts():
    gw = res(ISTIO_GATEWAY, "edge", {"servers": [
        {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["*"]},
        {"port": {"number": 443, "protocol": "HTTPS", "name": "https"},
         "hosts": ["shop/www.example.com", "*"],
         "tls": {"mode": "SIMPLE", "credentialName": "www-cert"}},
        {"port": {"number": 8443, "protocol": "HTTPS", "name": "mutual"}, "hosts": ["x.test"],
         "tls": {"mode": "MUTUAL", "credentialName": "refused-elsewhere"}}]},
        "networking.istio.io/v1")
    assert tls_references([gw]) == [
        TlsReference((ISTIO_GATEWAY, "shop", "edge"), "networking.istio.io/v1", "shop",
                     "www-cert", ("www.example.com",))]
