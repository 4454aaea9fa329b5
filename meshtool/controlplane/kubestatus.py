"""Reporting invalid resources in the cluster: a status condition and an Event.

`kubectl get rr bad-sum -o yaml` then shows `Accepted: False` with meshtool's message, and
`kubectl describe` / `kubectl get events` the Warning, as for any Kubernetes object a controller
refuses. Writes happen on one worker thread (the event loop never waits for the API server); a
failure is logged and never stops the control plane. Only a change of verdict is written: a
status write is itself a watch event, and writing on every event would never end.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading

from meshtool.controlplane.isolation import Rejected
from meshtool.model.kinds import API_GROUP, API_VERSION, NATIVE_API_VERSION, PLURALS
from meshtool.model.resource import Resource
from meshtool.store.base import Key

log = logging.getLogger("meshtool.controlplane")

CONDITION = "Accepted"
COMPONENT = "meshtool-control-plane"
FIELD_MANAGER = "meshtool"
MERGE_PATCH = "application/merge-patch+json"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeStatusReporter:
    def __init__(self, api_client):
        self._api_client = api_client
        self._queue: queue.Queue = queue.Queue()
        self._ingresses: dict = {}  # Ingress key -> the last verdict queued for it
        self._gateway_api: dict = {}  # Gateway / HTTPRoute key -> the last verdict queued
        self._istio: dict = {}  # Istio Gateway / VirtualService key -> the last problem seen
        self._thread = threading.Thread(target=self._run, name="kube-status", daemon=True)
        self._thread.start()

    # -- Reporter (called on the event loop) ------------------------------------------------
    def rejected(self, item: Rejected) -> None:
        self._queue.put(("rejected", item.key, item.message))

    def cleared(self, key: Key, resource: Resource | None) -> None:
        if resource is not None:  # deleted objects have no status left to correct
            self._queue.put(("accepted", key, None))

    def compiled(self, rules, compiled, services: list[dict]) -> None:
        """After each snapshot: the gateway's address for the Ingresses it serves, an Event
        for those it cannot (meshtool.controlplane.ingressstatus); each verdict written once."""
        from meshtool.controlplane import gatewayapistatus, ingressstatus, istiostatus

        for verdict in ingressstatus.verdicts(rules, compiled, services):
            if self._ingresses.get(verdict.key) != verdict:
                self._ingresses[verdict.key] = verdict
                self._queue.put(("ingress", verdict.key, verdict))
        for verdict in gatewayapistatus.verdicts(rules, compiled, services):
            if self._gateway_api.get(verdict.key) != verdict:
                self._gateway_api[verdict.key] = verdict
                self._queue.put(("gateway-api", verdict.key, verdict))
        for key, api_version, problem in istiostatus.problems(rules, compiled):
            if self._istio.get(key, None) != problem:
                self._istio[key] = problem
                if problem is not None:  # an Event per new reason; nothing to clear
                    self._queue.put(("istio", key, (api_version, problem)))

    def certificates(self, problems: list) -> None:
        """Certificates a gateway resource names and the gateway cannot serve (each problem
        once: meshtool.controlplane.gatewaycerts): a Warning Event on that resource."""
        for problem in problems:
            self._queue.put(("certificate", problem.reference.source, problem))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    # -- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                verdict, key, message = job
                if verdict == "ingress":
                    self._write_ingress(message)
                elif verdict == "gateway-api":
                    self._write_gateway_api(message)
                elif verdict == "istio":
                    self._write_istio(key, *message)
                elif verdict == "certificate":
                    self._write_certificate(message)
                else:
                    self._write(key, message if verdict == "rejected" else None)
            except Exception as exc:  # noqa: BLE001 - reporting must never stop serving
                log.warning("cannot report %s/%s/%s in the cluster: %s", *job[1], exc)
            finally:
                self._queue.task_done()

    def _write(self, key: Key, problem: str | None) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        kind, namespace, name = key
        custom = client.CustomObjectsApi(self._api_client)
        try:
            current = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace,
                                                          PLURALS[kind], name)
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        meta = current["metadata"]
        condition = {"type": CONDITION, "status": "False" if problem else "True",
                     "reason": "Invalid" if problem else "Valid",
                     "message": problem or "served by the control plane",
                     "observedGeneration": meta.get("generation", 0),
                     "lastTransitionTime": _now()}
        old = {c.get("type"): c for c in (current.get("status") or {}).get("conditions") or []}
        before = old.get(CONDITION)
        if before and all(before.get(k) == condition[k] for k in ("status", "message",
                                                                   "observedGeneration")):
            return  # already says so (a restarted control plane writes nothing)
        if problem is None and before is None:
            return  # never refused: nothing to correct
        others = [c for t, c in old.items() if t != CONDITION]
        custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, PLURALS[kind], name,
            {"status": {"conditions": others + [condition]}}, field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH)
        if problem:
            self._event(namespace, kind, name, meta, problem)

    def _write_ingress(self, verdict) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        from meshtool.controlplane.ingressstatus import status_patch

        _, namespace, name = verdict.key
        net = client.NetworkingV1Api(self._api_client)
        try:
            if verdict.problem is not None:
                meta = net.read_namespaced_ingress(name, namespace).metadata
                self._event(namespace, "Ingress", name, {"uid": meta.uid,
                            "resourceVersion": meta.resource_version},
                            f"not served by the meshtool gateway: {verdict.problem}",
                            api_version="networking.k8s.io/v1", prefix="")
            elif verdict.address is not None:
                net.patch_namespaced_ingress_status(name, namespace,
                                                    status_patch(verdict.address),
                                                    field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to say
                raise

    def _write_gateway_api(self, verdict) -> None:
        """A Gateway's or an HTTPRoute's status (meshtool.controlplane.gatewayapistatus)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        from meshtool.controlplane import gatewayapistatus as gs

        kind, namespace, name = verdict.key
        group, _, version = verdict.api_version.partition("/")
        custom = client.CustomObjectsApi(self._api_client)
        try:
            current = custom.get_namespaced_custom_object(group, version, namespace,
                                                          gs.PLURALS[kind], name)
            build = gs.gateway_status if kind == gs.GATEWAY else gs.route_status
            status = build(verdict, current.get("status") or {},
                           current["metadata"].get("generation", 0), _now())
            custom.patch_namespaced_custom_object_status(
                group, version, namespace, gs.PLURALS[kind], name, {"status": status},
                field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to say
                raise

    def _write_istio(self, key, api_version: str, problem: str) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        from meshtool.controlplane.istiostatus import PLURALS

        kind, namespace, name = key
        group, _, version = api_version.partition("/")
        try:
            obj = client.CustomObjectsApi(self._api_client).get_namespaced_custom_object(
                group, version, namespace, PLURALS[kind], name)
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        self._event(namespace, kind.partition(".")[0], name, obj["metadata"],
                    f"not served by the meshtool gateway: {problem}", api_version=api_version,
                    prefix="")

    def _write_certificate(self, problem) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        ref = problem.reference
        kind, namespace, name = ref.source
        bare, _, group = kind.partition(".")
        try:
            if bare == "Ingress":
                api_version = "networking.k8s.io/v1"
                m = client.NetworkingV1Api(self._api_client).read_namespaced_ingress(
                    name, namespace).metadata
                meta = {"uid": m.uid, "resourceVersion": m.resource_version}
            else:  # a Gateway (Gateway API or Istio): a custom resource
                api_version = ref.api_version
                obj = client.CustomObjectsApi(self._api_client).get_namespaced_custom_object(
                    group, api_version.rpartition("/")[2], namespace, "gateways", name)
                meta = obj["metadata"]
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        self._event(namespace, bare, name, meta, f"TLS certificate not served by the meshtool "
                    f"gateway: {problem.message}", api_version=api_version, prefix="",
                    reason="CertificateNotServed")

    def _event(self, namespace: str, kind: str, name: str, meta: dict, message: str,
               api_version: str = NATIVE_API_VERSION,
               prefix: str = "left out of every snapshot: ", reason: str = "Invalid") -> None:
        from kubernetes import client

        now = _now()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name,
                               "namespace": namespace, "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "type": "Warning",
            "message": f"{prefix}{message}"[:1024],
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        client.CoreV1Api(self._api_client).create_namespaced_event(
            namespace, event, field_manager=FIELD_MANAGER)
