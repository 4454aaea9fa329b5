"""Follow the cluster's Services and Pods from threads, handing changes to the event loop.

One thread per kind: list (paged), then watch from the list's resourceVersion with bookmarks; a
410 Gone (the watch fell too far behind etcd's history) lists again. API errors are logged and
retried every second, so a control plane started before its RBAC or the API server is ready
catches up by itself. The threads parse JSON and shrink every object to the few fields endpoints
depend on (meshtool.controlplane.kubeview); the loop applies them and tells the control plane only
when something that matters changed (a Pod's status heartbeat changes nothing).

`KubernetesWorkloads` is the control plane's workload source in Kubernetes mode
(`ControlPlane(workloads=...)`): `start(loop, on_change)`, `stop()`, `ready`, `services()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from typing import Any, Callable

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.controlplane.kubeview import (NODES, PODS, SERVICES, ClusterView, ObjectKey,
                                            node_info, pod_info, service_info)

log = logging.getLogger("meshtool.controlplane")

CONVERT = {PODS: pod_info, SERVICES: service_info, NODES: node_info}
PAGE = 500
WATCH_SECONDS = (240, 360)  # the server ends each watch after a random time in this range


class Gone(Exception):
    """The resourceVersion we asked for is too old: list again."""


class ResourceFollower:
    """List + watch one kind (pods or services), in one namespace or all of them."""

    def __init__(self, api_client: Any, kind: str, namespace: str | None,
                 on_list: Callable[[str, list], None],
                 on_event: Callable[[str, str, Any], None], *, retry: float = 1.0,
                 convert: Callable[[dict], Any] | None = None, optional: str | None = None):
        self.api_client = api_client
        self.kind = kind
        self.convert = convert or CONVERT[kind]
        # what is lost without permission to read this kind (a 403 then stops, said once)
        self.optional = optional or ("endpoints get no zone/region labels" if kind == NODES
                                     else None)
        self.namespace = namespace
        self.singular = kind[:-1]  # pods -> pod: the client's method names
        self.on_list = on_list
        self.on_event = on_event
        self.retry = retry
        self._stop = threading.Event()
        self._response = None  # the open watch, closed by stop() to unblock the thread
        self._thread = threading.Thread(target=self._run, name=f"kube-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # unblocks a read in progress (urllib3 >= 2.3)
            except Exception:  # noqa: BLE001 - already closed
                pass
        self._thread.join(timeout=5)

    def _get(self, timeout: float | tuple[float, float], **query: Any):
        """List (or watch) the kind; the raw urllib3 response (ApiException on HTTP errors)."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client)
        if self.kind == NODES:  # cluster-scoped
            fn, args = core.list_node, ()
        elif self.namespace:
            fn, args = getattr(core, f"list_namespaced_{self.singular}"), (self.namespace,)
        else:
            fn, args = getattr(core, f"list_{self.singular}_for_all_namespaces"), ()
        return fn(*args, _preload_content=False, _request_timeout=timeout, **query)

    def _list(self) -> str:
        items: list = []
        token = None
        while True:
            response = self._get(30, limit=PAGE, **({"_continue": token} if token else {}))
            try:
                doc = json.loads(response.data)
            finally:
                response.release_conn()
            items.extend(self.convert(obj) for obj in doc.get("items") or ())
            meta = doc.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                self.on_list(self.kind, items)
                return meta.get("resourceVersion") or ""

    def _watch(self, version: str) -> str:
        """Follow changes from `version` until the server ends the watch; the last version seen."""
        from kubernetes.watch.watch import iter_resp_lines

        seconds = random.randint(*WATCH_SECONDS)
        response = self._get((10, seconds + 30), watch=True, resource_version=version,
                             allow_watch_bookmarks=True, timeout_seconds=seconds)
        self._response = response
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    break
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message") or "too old resource version")
                    raise RuntimeError(f"watch error: {obj.get('message') or obj}")
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    meta = obj.get("metadata") or {}
                    namespace = "" if self.kind == NODES else (meta.get("namespace")
                                                               or DEFAULT_NAMESPACE)
                    self.on_event(self.kind, kind, (namespace, meta.get("name")))
                elif kind in ("ADDED", "MODIFIED"):
                    self.on_event(self.kind, kind, self.convert(obj))
        finally:
            self._response = None
            response.release_conn()
        return version

    def _run(self) -> None:
        from kubernetes.client.rest import ApiException

        version = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
            except Gone as exc:
                log.info("kubernetes %s: %s; listing again", self.kind, exc)
                version = None
            except ApiException as exc:
                if exc.status == 410:
                    log.info("kubernetes %s: resource version gone; listing again", self.kind)
                    version = None
                    continue
                if self.optional and exc.status == 403:
                    log.warning("kubernetes %s: %s; %s", self.kind, _reason(exc), self.optional)
                    return
                log.error("kubernetes %s: HTTP %s: %s; retrying in %.0fs", self.kind, exc.status,
                          _reason(exc), self.retry)
                self._stop.wait(self.retry)
            except Exception as exc:  # noqa: BLE001 - keep following; the API server may come back
                if self._stop.is_set():
                    break
                log.error("kubernetes %s: %s: %s; retrying in %.0fs", self.kind,
                          type(exc).__name__, exc, self.retry)
                self._stop.wait(self.retry)


def _reason(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


class KubernetesWorkloads:
    """The control plane's workloads from the cluster: Services and their Ready Pods."""

    def __init__(self, api_client: Any, namespace: str | None = None, *, retry: float = 1.0):
        self.api_client = api_client
        self.namespace = namespace
        self.view = ClusterView()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change: Callable[[], None] = lambda: None
        self._followers = [ResourceFollower(api_client, kind, namespace, self._listed,
                                            self._event, retry=retry)
                           for kind in (SERVICES, PODS, NODES)]

    @property
    def ready(self) -> bool:
        """Both kinds listed once: until then proxies are not sent a snapshot."""
        return self.view.ready

    def services(self) -> list[dict]:
        return self.view.services()

    def name_identities(self, trust_domain: str) -> None:
        """The control plane runs a CA: the endpoint of a pod that runs the sidecar carries
        the SPIFFE ID of the pod's service account in `trust_domain` (what callers verify)."""
        self.view.trust_domain = trust_domain

    def start(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None:
        self._loop, self._on_change = loop, on_change
        for follower in self._followers:
            follower.start()

    def stop(self) -> None:
        for follower in self._followers:
            follower.stop()

    # Called from the follower threads: hop onto the loop, where the view lives.
    def _listed(self, kind: str, items: list) -> None:
        self._call(self._apply_list, kind, items)

    def _event(self, kind: str, event: str, item: Any) -> None:
        self._call(self._apply_event, kind, event, item)

    def _call(self, fn, *args) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _apply_list(self, kind: str, items: list) -> None:
        was_ready = self.view.ready
        if self.view.replace(kind, items):
            if self.view.ready and not was_ready:
                log.info("kubernetes: %d services, %d pods", len(self.view.objects[SERVICES]),
                         len(self.view.objects[PODS]))
            self._on_change()

    def _apply_event(self, kind: str, event: str, item: Any) -> None:
        if event == "DELETED":
            key: ObjectKey = item
            changed = self.view.delete(kind, key)
        else:
            changed = self.view.upsert(kind, item)
        if changed:
            self._on_change()
