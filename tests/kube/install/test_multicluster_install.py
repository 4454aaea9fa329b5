"""Multi-cluster installs against the real API servers (tests/kube/conftest.py).

The primary's install lets its control plane read the remote secrets of its own namespace (and no
other Secrets) and the Nodes' locality; `install --remote` writes into a second API server the
CRDs, the reader for the primary's control plane and an injection webhook that calls the
primary's webhook (a real `meshtool webhook` process here, registered by URL on loopback), so
that a Pod created in the remote cluster comes back with a sidecar naming its cluster and the
primary's discovery address.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from kubernetes import client

from meshtool.cli.main import main
from meshtool.kube import install as lib
from meshtool.kube import objects
from meshtool.kube.certs import generate
from meshtool.ports import free_port

MESHTOOL = [sys.executable, "-m", "meshtool"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def allowed(api_client, user: str, verb: str, resource: str, namespace: str | None = None) -> bool:
    """What the API server's RBAC authorizer answers for `user` (a SubjectAccessReview)."""
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user, groups=["system:serviceaccounts"],
        resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource,
                                                        namespace=namespace)))
    return client.AuthorizationV1Api(api_client).create_subject_access_review(review).status.allowed


def wait_until_serving(port: int, ca_file, process, timeout: float = 20.0) -> None:
    """The webhook answers /healthz over TLS (its policy is Ignore: a Pod created before that
    would just come back without a sidecar)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2,
                                        context=context):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_primary_control_plane_may_read_its_remote_secrets_and_the_nodes(kube_cluster, capsys):
    ns = f"mesh-{secrets.token_hex(3)}"
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)
    code, _, err = run(capsys, "install", "-n", ns, "--cluster-name", "cluster1", "--kubeconfig",
                       kubeconfig)
    try:
        assert code == 0, err
        user = f"system:serviceaccount:{ns}:{lib.NAME}"
        for verb in ("get", "list", "watch"):
            assert allowed(api, user, verb, "secrets", ns)
            assert allowed(api, user, verb, "nodes")
        assert not allowed(api, user, "list", "secrets", "default")  # only its own namespace
        assert not allowed(api, user, "create", "secrets", ns)
        spec = objects.get(api, "Deployment", lib.NAME, ns)["spec"]["template"]["spec"]
        containers = {c["name"]: c for c in spec["containers"]}
        args = containers["control-plane"]["args"]
        assert args[args.index("--cluster-name") + 1] == "cluster1"
        assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}} in containers["control-plane"]["env"]
    finally:
        lib.uninstall(api, lib.Settings(namespace=ns), keep_crds=True)


def test_webhook_addresses_go_into_the_webhook_certificate_and_adding_one_renews_it(
        kube_cluster, capsys):
    """Remote API servers call the primary's webhook at an outside address: its certificate
    must name it, or they refuse the TLS handshake and the remote Pods go uninjected."""
    from cryptography import x509

    ns = f"mesh-{secrets.token_hex(3)}"
    api, kubeconfig = kube_cluster.api_client, str(kube_cluster.kubeconfig)

    def installed(*extra):
        code, _, err = run(capsys, "install", "-n", ns, "--cluster-name", "cluster1",
                           "--kubeconfig", kubeconfig, "-q", *extra)
        assert code == 0, err
        data = objects.get(api, "Secret", lib.SECRET, ns)["data"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        roots.append(objects.get(api, "Secret", lib.MESH_CA_SECRET, ns)["data"]["ca-key.pem"])
        return (cert.serial_number, set(alt.get_values_for_type(x509.DNSName)),
                {str(a) for a in alt.get_values_for_type(x509.IPAddress)})

    roots: list[str] = []
    try:
        serial, dns, ips = installed("--webhook-address", "192.0.2.15",
                                     "--webhook-address", "mesh.example.com")
        assert ips == {"192.0.2.15"} and {"mesh.example.com", f"{lib.NAME}.{ns}.svc"} <= dns
        assert installed("--webhook-address", "192.0.2.15",
                         "--webhook-address", "mesh.example.com")[0] == serial  # unchanged
        renewed, _, ips = installed("--webhook-address", "192.0.2.15",
                                    "--webhook-address", "192.0.2.16")
        assert renewed != serial and ips == {"192.0.2.15", "192.0.2.16"}
        # the mesh root the first install made is kept by the others: certificates chain to it
        assert len(roots) == 3 and len(set(roots)) == 1
    finally:
        lib.uninstall(api, lib.Settings(namespace=ns), keep_crds=True)
    assert objects.get(api, "Secret", lib.MESH_CA_SECRET, ns) is None
    code, _, err = run(capsys, "install", "--remote", "--cluster-name", "c2", "--control-plane",
                       "192.0.2.10:15010", "--webhook-address", "192.0.2.15", "--dry-run")
    assert code == 64 and "goes with the primary's install" in err


def test_install_remote_registers_the_primary_webhook_and_a_reader(kube_cluster_2, tmp_path,
                                                                    capsys):
    api, kubeconfig = kube_cluster_2.api_client, str(kube_cluster_2.kubeconfig)
    ns = f"mesh-{secrets.token_hex(3)}"
    certs = generate(["localhost"], ["127.0.0.1"])
    for name, pem in (("tls.crt", certs.cert_pem), ("tls.key", certs.key_pem),
                      ("ca.crt", certs.ca_pem)):
        (tmp_path / name).write_bytes(pem)
    hook_port, primary = free_port(), "192.0.2.10:15010"  # the primary's discovery address
    log = open(tmp_path / "webhook.log", "wb")
    webhook = subprocess.Popen(
        [*MESHTOOL, "webhook", "--listen", f"127.0.0.1:{hook_port}", "--tls-cert",
         str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"), "--control-plane",
         "meshtool-control-plane.meshtool-system.svc:15010", "--cluster", "cluster1"],
        stdout=log, stderr=log)
    core = client.CoreV1Api(api)
    app_ns = f"app-{secrets.token_hex(3)}"
    try:
        argv = ["install", "--remote", "--cluster-name", "cluster2", "--control-plane", primary,
                "--injection-url", f"https://127.0.0.1:{hook_port}", "--injection-ca",
                str(tmp_path / "ca.crt"), "-n", ns, "--kubeconfig", kubeconfig]
        code, out, err = run(capsys, *argv, "--dry-run")
        assert code == 0, err
        kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out)]
        assert ("Deployment", lib.NAME) not in kinds  # no control plane in a remote cluster
        assert ("ServiceAccount", "meshtool-reader") in kinds
        code, _, err = run(capsys, *argv)
        assert code == 0, err
        assert "remote cluster cluster2 installed" in err
        hook = objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG)
        assert hook["webhooks"][0]["clientConfig"]["url"] == (
            f"https://127.0.0.1:{hook_port}/inject/cluster/cluster2/control-plane/{primary}")
        reader = f"system:serviceaccount:{ns}:meshtool-reader"
        assert allowed(api, reader, "watch", "pods") and allowed(api, reader, "list", "nodes")
        assert not allowed(api, reader, "list", "secrets", ns)

        # A Pod created in a labelled namespace of the remote cluster, injected by the primary's
        # webhook: its sidecar names cluster2 and connects to the primary's control plane.
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=app_ns, labels={lib.INJECTION_LABEL: "enabled"})))
        core.create_namespaced_service_account(app_ns, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="default")))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "helloworld-v2", "labels": {"app": "helloworld",
                                                                "version": "v2"}},
               "spec": {"containers": [{"name": "helloworld", "image": "helloworld:2",
                                        "ports": [{"containerPort": 5000}]}]}}
        wait_until_serving(hook_port, tmp_path / "ca.crt", webhook)
        created = objects.call(api, "POST", f"/api/v1/namespaces/{app_ns}/pods", body=pod)
        proxy = {c["name"]: c for c in created["spec"]["containers"]}["meshtool-proxy"]
        env = {e["name"]: e.get("value") for e in proxy["env"]}
        assert env["MESHTOOL_CONTROL_PLANE"] == primary
        assert env["MESHTOOL_CLUSTER"] == "cluster2"

        # The reader install made is the one create-remote-secret hands the primary.
        made = subprocess.run([*MESHTOOL, "create-remote-secret", "--kubeconfig", kubeconfig,
                               "--name", "cluster2", "--control-plane-namespace", ns],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        config = yaml.safe_load(base64.b64decode(yaml.safe_load(made.stdout)["data"]["cluster2"]))
        assert config["users"][0]["name"] == "meshtool-reader"

        code, _, err = run(capsys, "uninstall", "--remote", "--keep-crds", "-n", ns,
                           "--kubeconfig", kubeconfig)
        assert code == 0, err
        assert objects.get(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG) is None
        assert objects.get(api, "ClusterRole", "meshtool-reader") is None
    finally:
        webhook.terminate()
        webhook.wait(10)
        for name in (app_ns, ns):
            try:
                core.delete_namespace(name)
            except client.ApiException:
                pass
        objects.delete(api, "MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG)
