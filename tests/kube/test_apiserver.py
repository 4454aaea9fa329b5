"""The test API server itself: the version we built, plain objects, CRDs and strict validation."""

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

GO_MOD = Path(__file__).parent / "apiserver" / "go.mod"


def built_version() -> str:
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)$", GO_MOD.read_text(), re.MULTILINE)
    assert match, f"no k8s.io/kubernetes require in {GO_MOD}"
    return match.group(1)


def test_server_reports_the_version_we_built(kube_cluster):
    info = client.VersionApi(kube_cluster.api_client).get_code()
    version = built_version()
    assert info.git_version == version
    assert (info.major, info.minor) == tuple(version[1:].split(".")[:2])


def test_kubeconfig_works_on_its_own(kube_cluster):
    loaded = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    assert loaded["clusters"][0]["cluster"]["server"] == kube_cluster.server
    fresh = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    with fresh:
        names = {ns.metadata.name for ns in client.CoreV1Api(fresh).list_namespace().items}
    assert {"default", "kube-system"} <= names


def test_unauthenticated_and_wrong_token_are_refused(kube_cluster):
    configuration = client.Configuration()
    configuration.host = kube_cluster.server
    configuration.ssl_ca_cert = str(kube_cluster.ca_file)
    configuration.api_key = {"authorization": "Bearer not-the-token"}
    with client.ApiClient(configuration) as stranger:
        with pytest.raises(ApiException) as refused:
            client.CoreV1Api(stranger).list_namespace()
    assert refused.value.status == 401


def test_namespace_has_default_service_account_and_holds_a_configmap(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    assert core.read_namespaced_service_account("default", kube_namespace).metadata.name == "default"
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "strict"})
    created = core.create_namespaced_config_map(kube_namespace, body)
    assert created.metadata.resource_version
    assert core.read_namespaced_config_map("settings", kube_namespace).data == {"mode": "strict"}


def test_each_test_gets_its_own_namespace(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    assert core.read_namespace(kube_namespace).status.phase == "Active"
    assert core.list_namespaced_config_map(kube_namespace).items == []


GROUP = "smoke.meshtool.io"


def widget_crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {"size": {"type": "integer", "minimum": 1}},
                        "required": ["size"],
                    }},
                }},
            }],
        },
    }


def wait_established(api: client.ApiextensionsV1Api, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conditions = api.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.1)
    pytest.fail(f"CRD {name} not Established after {timeout} s: {conditions}")


@pytest.fixture(scope="module")
def widget_crd_installed(kube_cluster):
    api = client.ApiextensionsV1Api(kube_cluster.api_client)
    name = widget_crd()["metadata"]["name"]
    api.create_custom_resource_definition(widget_crd())
    wait_established(api, name)
    yield
    api.delete_custom_resource_definition(name)


def widget(name: str, spec: dict) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def test_crd_is_established_and_serves_objects(kube_cluster, kube_namespace, widget_crd_installed):
    objects = client.CustomObjectsApi(kube_cluster.api_client)
    objects.create_namespaced_custom_object(GROUP, "v1", kube_namespace, "widgets", widget("w1", {"size": 3}))
    got = objects.get_namespaced_custom_object(GROUP, "v1", kube_namespace, "widgets", "w1")
    assert got["spec"] == {"size": 3}


def test_structural_schema_refuses_unknown_fields_and_bad_values(
    kube_cluster, kube_namespace, widget_crd_installed
):
    objects = client.CustomObjectsApi(kube_cluster.api_client)
    with pytest.raises(ApiException) as unknown:
        objects.create_namespaced_custom_object(
            GROUP, "v1", kube_namespace, "widgets", widget("w2", {"size": 3, "colour": "red"}),
            field_validation="Strict",
        )
    assert unknown.value.status == 400
    assert 'unknown field "spec.colour"' in json.loads(unknown.value.body)["message"]

    with pytest.raises(ApiException) as invalid:
        objects.create_namespaced_custom_object(
            GROUP, "v1", kube_namespace, "widgets", widget("w3", {"size": 0})
        )
    assert invalid.value.status == 422
    assert "spec.size" in json.loads(invalid.value.body)["message"]

    # Without Strict the API server prunes the unknown field instead: proof the schema is structural.
    objects.create_namespaced_custom_object(
        GROUP, "v1", kube_namespace, "widgets", widget("w4", {"size": 2, "colour": "red"}),
        field_validation="Ignore",
    )
    pruned = objects.get_namespaced_custom_object(GROUP, "v1", kube_namespace, "widgets", "w4")
    assert pruned["spec"] == {"size": 2}


def test_pods_are_admitted_but_never_scheduled(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="app"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="example.invalid/app:1")]),
    )
    created = core.create_namespaced_pod(kube_namespace, pod)
    # The ServiceAccount admission plugin ran: it needs the namespace's `default` ServiceAccount.
    assert created.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in created.spec.volumes)
    assert created.spec.node_name is None and created.status.phase == "Pending"


def test_rbac_governs_service_account_tokens(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token("default", kube_namespace, request).status.token

    configuration = client.Configuration()
    configuration.host = kube_cluster.server
    configuration.ssl_ca_cert = str(kube_cluster.ca_file)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(configuration) as as_service_account:
        pods = client.CoreV1Api(as_service_account)
        with pytest.raises(ApiException) as denied:
            pods.list_namespaced_pod(kube_namespace)
        assert denied.value.status == 403

        # A Role of our own: the aggregated ClusterRoles (view, edit, admin) stay empty here,
        # since filling them is the controller manager's job.
        rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client)
        rbac.create_namespaced_role(kube_namespace, client.V1Role(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
        ))
        rbac.create_namespaced_role_binding(
            kube_namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="pod-reader"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name="default", namespace=kube_namespace)
                ],
            ),
        )
        deadline = time.monotonic() + 10
        while True:  # the authorizer sees the new binding through its informer, a moment later
            try:
                assert pods.list_namespaced_pod(kube_namespace).items == []
                break
            except ApiException as e:
                if e.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
