"""install's manifests without a cluster: least privilege, wiring, certificates, reuse."""

from __future__ import annotations

import base64
import datetime

import click
import pytest

from meshtool.kube import install as lib
from meshtool.kube.certs import generate, service_names, signed_by

SETTINGS = lib.Settings(namespace="mesh")


@pytest.fixture(scope="module")
def certs():
    return lib.new_certs(SETTINGS)


@pytest.fixture(scope="module")
def items(certs):
    return {(o["kind"], o["metadata"]["name"]): o for o in lib.manifests(SETTINGS, certs)}


def test_everything_is_labelled_for_uninstall(items):
    for obj in items.values():
        assert lib.owned(obj, SETTINGS), obj["kind"]
        assert obj["metadata"].get("namespace") in (None, "mesh")


def test_the_control_plane_reads_and_writes_only_rule_status_events_and_token_reviews(items):
    role = items[("ClusterRole", lib.NAME)]
    writes = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
              for r in rule["resources"] for v in rule["verbs"] if v not in ("get", "list", "watch")}
    assert writes == {("config.meshtool.io", "routerules/status", "patch"),
                      ("config.meshtool.io", "egressrules/status", "patch"),
                      ("config.meshtool.io", "destinationpolicies/status", "patch"),
                      ("config.meshtool.io", "mtlspolicies/status", "patch"),
                      ("config.meshtool.io", "accesspolicies/status", "patch"),
                      ("", "events", "create"),
                      ("authentication.k8s.io", "tokenreviews", "create"),  # CSRs' tokens
                      # the gateway's address in the status of the Ingresses it serves
                      ("networking.k8s.io", "ingresses/status", "patch"),
                      # ...and of the Gateway API Gateways it serves, with their routes
                      ("gateway.networking.k8s.io", "gateways/status", "patch"),
                      ("gateway.networking.k8s.io", "httproutes/status", "patch")}
    read = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            if "list" in rule["verbs"]}
    foreign = {("config.istio.io", p) for p in ("routerules", "egressrules", "destinationpolicies")}
    foreign |= {("networking.istio.io", p) for p in ("virtualservices", "destinationrules",
                                                      "serviceentries", "sidecars")}
    foreign |= {("security.istio.io", "peerauthentications"),
                ("security.istio.io", "authorizationpolicies"), ("kuma.io", "meshes"),
                ("kuma.io", "trafficpermissions"), ("kuma.io", "meshtrafficpermissions")}
    foreign |= {("kuma.io", "trafficroutes"), ("kuma.io", "healthchecks"), ("gateway.networking.k8s.io", "httproutes"),
                ("gateway.networking.k8s.io", "grpcroutes")}
    # the gateway's inputs: Ingress, and the Gateway API's and Istio's Gateways
    foreign |= {("networking.k8s.io", "ingresses"), ("gateway.networking.k8s.io", "gateways"),
                ("networking.istio.io", "gateways")}
    assert read == {("config.meshtool.io", "routerules"), ("config.meshtool.io", "egressrules"),
                    ("config.meshtool.io", "destinationpolicies"),
                    ("config.meshtool.io", "mtlspolicies"), ("config.meshtool.io", "accesspolicies"),
                    ("", "services"), ("", "pods"),
                    ("", "namespaces"), ("", "nodes")} | foreign  # other meshes' APIs: read where installed
    # Secrets (the remote secrets of multi-cluster) only in its own namespace, and only read
    secrets_role = items[("Role", lib.NAME)]
    assert secrets_role["metadata"]["namespace"] == "mesh"
    assert secrets_role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                                      "verbs": ["get", "list", "watch"]}]
    assert items[("RoleBinding", lib.NAME)]["subjects"] == [
        {"kind": "ServiceAccount", "name": lib.NAME, "namespace": "mesh"}]
    binding = items[("ClusterRoleBinding", lib.NAME)]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": lib.NAME, "namespace": "mesh"}]


def _command(name: str) -> click.Command:
    from meshtool.cli.main import cli

    return cli.get_command(click.Context(cli), name)


def test_the_deployment_runs_real_commands_with_real_options(items, tmp_path):
    for name in ("tls.crt", "tls.key"):  # the webhook checks that its files exist
        (tmp_path / name).write_text("")
    spec = items[("Deployment", lib.NAME)]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {"control-plane", "webhook"}
    for container in containers.values():
        assert container["image"] == lib.IMAGE
        name, *args = container["args"]
        command = _command(name)
        args = [a.replace(lib.TLS_DIR, str(tmp_path)) for a in args]
        params = command.make_context(name, args).params  # raises on an unknown option
        assert params
    args = containers["control-plane"]["args"]
    assert args[:3] == ["control-plane", "--store", "kubernetes"]
    assert {p["containerPort"] for c in containers.values() for p in c["ports"]} == {15010, 15017}
    hook_args = containers["webhook"]["args"]
    assert hook_args[hook_args.index("--control-plane") + 1] == "meshtool-control-plane.mesh.svc:15010"
    mount = containers["webhook"]["volumeMounts"][0]["mountPath"]
    assert hook_args[hook_args.index("--tls-cert") + 1] == f"{mount}/tls.crt"
    assert spec["volumes"][0]["secret"]["secretName"] == lib.SECRET
    assert spec["serviceAccountName"] == lib.NAME


def test_the_webhook_configuration_points_at_the_service_with_the_ca(items, certs):
    config = items[("MutatingWebhookConfiguration", lib.WEBHOOK_CONFIG)]
    [hook] = config["webhooks"]
    assert hook["clientConfig"]["service"] == {"name": lib.NAME, "namespace": "mesh", "path": "/inject",
                                               "port": 443}
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == certs.ca_pem
    assert hook["failurePolicy"] == "Ignore" and hook["sideEffects"] == "None"
    assert hook["namespaceSelector"] == {"matchLabels": {"meshtool-injection": "enabled"}}
    service = items[("Service", lib.NAME)]
    assert {p["port"]: p["targetPort"] for p in service["spec"]["ports"]} == {15010: "discovery", 443: "webhook"}
    fail = lib.webhook_configuration(lib.Settings(failure_policy="Fail"), certs.ca_pem)
    assert fail["webhooks"][0]["failurePolicy"] == "Fail"


def test_the_serving_certificate_is_for_the_service_names(certs):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certs.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == set(service_names(lib.NAME, "mesh"))
    assert "meshtool-control-plane.mesh.svc" in names.get_values_for_type(x509.DNSName)
    assert signed_by(certs.cert_pem, certs.ca_pem)
    assert not signed_by(certs.cert_pem, generate(["x"]).ca_pem)
    assert cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)


def test_good_certificates_are_reused_and_others_replaced(items, certs):
    data = items[("Secret", lib.SECRET)]["data"]
    assert lib.usable_certs(data, SETTINGS) == certs
    assert lib.usable_certs(data, lib.Settings(namespace="elsewhere")) is None  # wrong names
    assert lib.usable_certs({**data, "ca.crt": base64.b64encode(generate(["x"]).ca_pem).decode()},
                            SETTINGS) is None  # not signed by that CA
    assert lib.usable_certs({k: v for k, v in data.items() if k != "tls.key"}, SETTINGS) is None
    assert lib.usable_certs({**data, "tls.crt": "bm90IGEgY2VydA=="}, SETTINGS) is None
    assert lib.usable_certs(None, SETTINGS) is None


def test_the_ca_secret_is_mounted_and_read_by_the_control_plane(tmp_path):
    from meshtool.security.ca import MeshCA

    items = {(o["kind"], o["metadata"]["name"]): o for o in lib.manifests(
        lib.Settings(namespace="mesh", ca_secret="cacerts"), lib.new_certs(lib.Settings()))}
    spec = items[("Deployment", lib.NAME)]["spec"]["template"]["spec"]
    cp = next(c for c in spec["containers"] if c["name"] == "control-plane")
    args = cp["args"]
    assert args[args.index("--ca-dir") + 1] == lib.CA_DIR
    assert cp["volumeMounts"] == [{"name": "cacerts", "mountPath": lib.CA_DIR, "readOnly": True}]
    assert {"name": "cacerts", "secret": {"secretName": "cacerts"}} in spec["volumes"]
    # what the mount holds, Istio's layout, is what the control plane loads (no new root)
    MeshCA.load_or_create(str(tmp_path / "made"), "cluster.local")
    params = _command("control-plane").make_context(
        "control-plane", [a.replace(lib.CA_DIR, str(tmp_path / "made")) for a in args[1:]]).params
    assert params["ca_dir"] == str(tmp_path / "made")
    assert ("Secret", lib.MESH_CA_SECRET) not in items  # the user's root, none of ours
    without = lib.manifests(lib.Settings(namespace="mesh", mesh_ca=False),
                            lib.new_certs(lib.Settings()))
    dep = next(o for o in without if o["kind"] == "Deployment")
    assert "--ca-dir" not in dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not any(o["kind"] == "Secret" and o["metadata"]["name"] == lib.MESH_CA_SECRET
                   for o in without)


def test_by_default_install_makes_a_mesh_root_the_control_plane_loads(tmp_path):
    import base64

    from meshtool.security.ca import MeshCA

    items = {(o["kind"], o["metadata"]["name"]): o for o in lib.manifests(
        lib.Settings(namespace="mesh"), lib.new_certs(lib.Settings()), lib.new_mesh_ca())}
    spec = items[("Deployment", lib.NAME)]["spec"]["template"]["spec"]
    cp = next(c for c in spec["containers"] if c["name"] == "control-plane")
    assert cp["args"][cp["args"].index("--ca-dir") + 1] == lib.CA_DIR
    assert {"name": "cacerts", "secret": {"secretName": lib.MESH_CA_SECRET}} in spec["volumes"]
    mounted = tmp_path / "cacerts"
    mounted.mkdir()
    for name, value in items[("Secret", lib.MESH_CA_SECRET)]["data"].items():
        (mounted / name).write_bytes(base64.b64decode(value))
    before = {p.name: p.read_bytes() for p in mounted.iterdir()}
    ca = MeshCA.load_or_create(str(mounted), "cluster.local")
    assert {p.name: p.read_bytes() for p in mounted.iterdir()} == before  # loaded, not remade
    assert ca.cert.subject == ca.cert.issuer  # a self-signed root
