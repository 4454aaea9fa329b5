"""A real Kubernetes API server for the tests: etcd and kube-apiserver on loopback ports.

`kube_cluster` (session) starts both once, the first time a test asks for it; `kube_namespace`
gives each test a fresh namespace. Tests that need the API server live under tests/kube/ (any
subdirectory) so that they see these fixtures. No controllers run: nothing is scheduled, namespaces
get no ServiceAccount by themselves and deleted namespaces stay Terminating.

The servers are started by meshtool.testing.kubecluster (shared with the benchmarks): binaries from
MESHTOOL_KUBE_BIN_DIR when set, else from the cache of scripts/kube-binaries.sh. Any failure fails
the test loudly; nothing here ever skips.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import pytest

from meshtool.ports import free_port  # noqa: F401 - tests import it from here
from meshtool.testing.kubecluster import ClusterError, KubeCluster
from meshtool.testing.kubecluster import kube_cluster as run_cluster


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory) -> Iterator[KubeCluster]:
    with _cluster(tmp_path_factory, "kube-logs") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kube_cluster_2(tmp_path_factory) -> Iterator[KubeCluster]:
    """A second cluster (its own etcd and kube-apiserver), for the multi-cluster tests."""
    with _cluster(tmp_path_factory, "kube-logs-2") as cluster:
        yield cluster


@contextlib.contextmanager
def _cluster(tmp_path_factory, logs_name: str) -> Iterator[KubeCluster]:
    """The package's etcd + kube-apiserver (meshtool.testing.kubecluster); when they cannot
    start, the test fails with the log's tail."""
    log_dir = tmp_path_factory.mktemp(logs_name)  # kept (pytest keeps its last 3 runs)
    try:
        with run_cluster(log_dir) as cluster:
            yield cluster
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def kube_namespace(kube_cluster, request) -> Iterator[str]:
    """A fresh namespace with a `default` ServiceAccount (no controller would create it); deleted after."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(kube_cluster.api_client)
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem or 'test'}-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    account = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
    core.create_namespaced_service_account(name, account)
    yield name
    _delete_rules(kube_cluster.api_client, name)
    try:
        core.delete_namespace(name)
    except ApiException as e:
        if e.status != 404:
            raise


def _delete_rules(api_client, namespace: str) -> None:
    """What the namespace controller would do (none runs here): remove the meshtool rules (and
    Ingresses, and other APIs' rules) left in the namespace, so that a later test's control plane, which reads every namespace, starts clean."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from meshtool.model.kinds import API_GROUP, API_VERSION, FOREIGN_KINDS, PLURALS

    custom = client.CustomObjectsApi(api_client)
    for plural in PLURALS.values():
        try:
            custom.delete_collection_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural)
        except ApiException as e:
            if e.status != 404:  # 404: the CRDs are not installed (or were uninstalled)
                raise
    # Ingresses are rules too (the gateway's): a control plane reads them in every namespace
    client.NetworkingV1Api(api_client).delete_collection_namespaced_ingress(namespace)
    # ...and so are the other APIs' objects (VirtualServices, HTTPRoutes, Gateways) where
    # their CRDs are installed
    for fk in FOREIGN_KINDS:
        if fk.group == "networking.k8s.io":
            continue  # Ingress: above
        for version in reversed(fk.versions):
            try:
                custom.delete_collection_namespaced_custom_object(fk.group, version, namespace,
                                                                  fk.plural)
                break
            except ApiException as e:
                if e.status != 404:  # not installed, or not this version
                    raise


@pytest.fixture(scope="session")
def meshtool_crds(kube_cluster) -> list[str]:
    """The rule CRDs (meshtool/kube/crds/*.yaml) installed once per session and Established;
    returns their names. Created, or replaced when a test left an older version behind."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from meshtool.kube.crds import committed_crds, crd_names, wait_established

    api = client.ApiextensionsV1Api(kube_cluster.api_client)
    for manifest in committed_crds():
        try:
            api.create_custom_resource_definition(manifest)
        except ApiException as e:
            if e.status != 409:
                raise
            current = api.read_custom_resource_definition(manifest["metadata"]["name"])
            manifest["metadata"]["resourceVersion"] = current.metadata.resource_version
            api.replace_custom_resource_definition(manifest["metadata"]["name"], manifest)
    wait_established(kube_cluster.api_client, timeout=60)
    return crd_names()


@pytest.fixture(scope="session")
def foreign_crds(kube_cluster, meshtool_crds) -> list[str]:
    """Other projects' CRDs, as their users install them: HTTPRoute and GRPCRoute of the pinned
    Gateway API release (scripts/gateway-api-crds.sh, from the Go module) and a minimal
    VirtualService/DestinationRule pair (store/istio-networking-crds.yaml); Established."""
    import subprocess
    from pathlib import Path

    import yaml
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from meshtool.kube.crds import wait_established

    here = Path(__file__).resolve().parent
    crd_dir = Path(subprocess.run([str(here.parents[1] / "scripts" / "gateway-api-crds.sh")],
                                  check=True, capture_output=True, text=True,
                                  timeout=600).stdout.strip())
    manifests = [yaml.safe_load((crd_dir / f"gateway.networking.k8s.io_{p}.yaml").read_text())
                 for p in ("httproutes", "grpcroutes")]
    manifests += list(yaml.safe_load_all((here / "store" / "istio-networking-crds.yaml").read_text()))
    api = client.ApiextensionsV1Api(kube_cluster.api_client)
    for manifest in manifests:
        try:
            api.create_custom_resource_definition(manifest)
        except ApiException as e:
            if e.status != 409:
                raise
    names = [m["metadata"]["name"] for m in manifests]
    wait_established(kube_cluster.api_client, names, timeout=60)
    return names
