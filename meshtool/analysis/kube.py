"""Reading the objects analysis needs from a live cluster: Namespaces, Services,
Deployments, StatefulSets, DaemonSets and Pods. The client comes from meshtool.kube.client, as for
every command that talks to a cluster (kubeconfig, KUBECONFIG lists, in-cluster, one-line errors)."""

from __future__ import annotations

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.analysis.items import KUBE, Item
from meshtool.errors import MeshtoolError

# (API class, list-all method, list-in-namespace method, kind)
_READS = (
    ("CoreV1Api", "list_service_for_all_namespaces", "list_namespaced_service", "Service"),
    ("CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod", "Pod"),
    ("AppsV1Api", "list_deployment_for_all_namespaces", "list_namespaced_deployment", "Deployment"),
    ("AppsV1Api", "list_stateful_set_for_all_namespaces", "list_namespaced_stateful_set",
     "StatefulSet"),
    ("AppsV1Api", "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set",
     "DaemonSet"),
)


def read_cluster(*, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None,
                 remote_secrets_namespace: str | None = None) -> list[Item]:
    """Every object of the kinds above (in `namespace`, or in all namespaces), as Items; with
    `remote_secrets_namespace`, also the remote clusters its remote secrets name
    (meshtool.analysis.remote)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from meshtool.kube.client import api_errors, api_message, connect

    cluster = connect(kubeconfig, context)
    api_client = cluster.api_client
    items: list[Item] = []
    # Transport failures and refusals worded as in every other command (meshtool.kube.client).
    with api_client, api_errors(cluster.server):
        try:
            core = client.CoreV1Api(api_client)
            if namespace:
                try:
                    namespaces = [core.read_namespace(namespace)]
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    raise MeshtoolError(f"namespace {namespace} not found in the cluster") \
                        from None
            else:
                namespaces = core.list_namespace().items
            for ns in namespaces:
                items.append(_item(api_client, ns, "Namespace"))
            for api_name, all_ns, one_ns, kind in _READS:
                api = getattr(client, api_name)(api_client)
                found = getattr(api, one_ns)(namespace) if namespace else getattr(api, all_ns)()
                items.extend(_item(api_client, obj, kind) for obj in found.items)
            if remote_secrets_namespace:
                from meshtool.analysis.remote import read_remote_clusters

                items.extend(read_remote_clusters(api_client, remote_secrets_namespace,
                                                  namespace))
        except ApiException as exc:
            if exc.status in (0, None, 401, 403):
                raise  # api_errors words these
            raise MeshtoolError(f"cannot read the cluster at {cluster.server}: "
                                f"{api_message(exc)}") from None
    return [i for i in items if i is not None]


def _item(api_client, obj, kind: str) -> Item | None:
    manifest = api_client.sanitize_for_serialization(obj)
    manifest.setdefault("kind", kind)
    return Item.from_manifest(manifest, default_namespace=DEFAULT_NAMESPACE, origin=KUBE)
