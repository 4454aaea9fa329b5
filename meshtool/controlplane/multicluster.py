"""Several clusters, one control plane: the endpoints of every cluster, merged per service.

The control plane's own cluster is the primary. Remote clusters are registered at run time by
Secrets in the control plane's namespace labelled `multicluster.meshtool.io/cluster=true`
(`meshtool create-remote-secret` makes one): each data key names a cluster, its value is a
kubeconfig with read access to that cluster's Services and Pods. Adding, changing or deleting
such a Secret starts, restarts or stops the watches of that cluster; no restart needed.

Endpoints of a service with the same namespace and name in several clusters are merged (the
network is flat: pod addresses are routable across clusters), each labelled with its cluster
(`topology.meshtool.io/cluster`). With a mesh CA, the endpoints of meshed pods carry the SPIFFE
ID of their service account in every cluster alike: the clusters share the trust domain and
the root (the `cacerts` of each install), so a caller verifies a remote pod as a local one.

Warming: a (re)started control plane is not ready, and pushes no endpoint set, until the remote
secrets have been read once and every cluster they name has listed its Services and Pods, or
`warmup` seconds have passed (an unreachable cluster then stops holding the others back, and
is logged). Otherwise the first push after a restart could lack a slower remote cluster's
endpoints, and sidecars would drop them until the next one.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from typing import Any, Callable

from meshtool.controlplane.kubewatch import KubernetesWorkloads
from meshtool.conventions import CLUSTER_LABEL, DEFAULT_NAMESPACE, REMOTE_SECRET_LABEL

log = logging.getLogger("meshtool.controlplane")


def merge_services(per_cluster: dict[str, list[dict]]) -> list[dict]:
    """{cluster: services} -> one list: endpoints of same-named services together, each
    labelled with its cluster; ports and virtual addresses united."""
    merged: dict[tuple[str, str], dict] = {}
    for cluster in sorted(per_cluster):
        for svc in per_cluster[cluster]:
            key = (svc.get("namespace") or DEFAULT_NAMESPACE, svc["name"])
            into = merged.setdefault(key, {**svc, "ports": [], "endpoints": []})
            into["ports"] = _union_ports(into["ports"], svc.get("ports") or [])
            if svc.get("addresses"):
                into["addresses"] = sorted(set(into.get("addresses") or [])
                                           | set(svc["addresses"]))
            into["endpoints"] = into["endpoints"] + [
                {**ep, "labels": {**(ep.get("labels") or {}), CLUSTER_LABEL: cluster}}
                for ep in svc.get("endpoints") or []]
    return [merged[k] for k in sorted(merged)]


def kubeconfigs_of(secret: Any) -> dict[str, str]:
    """A remote secret's clusters: data key -> kubeconfig text."""
    out = {}
    for name, value in (secret.data or {}).items():
        try:
            out[name] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            log.warning("remote secret %s: key %s is not a base64 kubeconfig; ignored",
                        secret.metadata.name, name)
    return out


class MultiCluster:
    """A WorkloadSource (see meshtool.controlplane.server): the primary cluster's workloads
    plus those of every cluster a remote secret names."""

    def __init__(self, primary: KubernetesWorkloads, api_client: Any, secrets_namespace: str,
                 *, cluster: str = "primary", namespace: str | None = None,
                 interval: float = 1.0, warmup: float = 10.0,
                 connect: Callable[[str], Any] | None = None):
        self.primary = primary
        self.cluster = cluster
        self.api_client = api_client  # the primary cluster: where remote secrets live
        self.secrets_namespace = secrets_namespace
        self.namespace = namespace  # scope of the watches in every cluster
        self.interval = interval
        self.warmup = warmup  # at start, how long remote clusters may hold back the first push
        self._started: float | None = None  # monotonic time of start()
        self._polled = False  # the remote secrets were read (and their clusters started) once
        self._warm = False  # ready once: a cluster added later does not hold pushes back
        self._warmup_told = False
        self._connect = connect or _client_from_kubeconfig
        self.remotes: dict[str, tuple[str, KubernetesWorkloads]] = {}  # name -> (config, source)
        self.trust_domain: str | None = None  # name_identities: for the remotes added later too
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change: Callable[[], None] = lambda: None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="remote-secrets", daemon=True)

    @property
    def ready(self) -> bool:
        """The primary cluster listed, and at start the remote clusters too (see warming)."""
        if not self._warm and self.primary.ready and (
                (self._polled and all(source.ready for _, source in self.remotes.values()))
                or self._warmup_over()):
            self._warm = True
        return self._warm

    def _warmup_over(self) -> bool:
        return self._started is not None and time.monotonic() - self._started >= self.warmup

    def services(self) -> list[dict]:
        per = {self.cluster: self.primary.services()}
        for name, (_, source) in list(self.remotes.items()):
            if source.ready:
                per[name] = source.services()
        return merge_services(per)

    def name_identities(self, trust_domain: str) -> None:
        """Endpoints of meshed pods carry their SPIFFE IDs, in the primary and every remote."""
        self.trust_domain = trust_domain
        self.primary.name_identities(trust_domain)
        for _, source in self.remotes.values():
            source.name_identities(trust_domain)

    def start(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None:
        self._loop, self._on_change = loop, on_change
        self._started = time.monotonic()
        self.primary.start(loop, on_change)
        self._thread.start()

    def api_client_of(self, cluster: str) -> Any:
        """The API client of a remote cluster a remote secret names; None if none does."""
        entry = self.remotes.get(cluster)
        return entry[1].api_client if entry is not None else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self.primary.stop()
        for _, source in self.remotes.values():
            source.stop()

    # -- the remote-secret poller (its own thread: starting and stopping watches blocks) ------
    def _run(self) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api_client)
        while not self._stop.is_set():
            try:
                listed = core.list_namespaced_secret(
                    self.secrets_namespace, label_selector=f"{REMOTE_SECRET_LABEL}=true")
                wanted: dict[str, str] = {}
                for secret in listed.items:
                    wanted.update(kubeconfigs_of(secret))
                wanted.pop(self.cluster, None)  # the primary is watched already
                self._reconcile(wanted)
                self._polled = True
            except Exception as exc:  # noqa: BLE001 - keep polling: the API server may come back
                log.warning("remote secrets in %s: %s", self.secrets_namespace, exc)
            if not self._warm and not self._warmup_told and self._warmup_over():
                self._warmup_told = True
                self._warmup_ended()
            self._stop.wait(self.interval)

    def _warmup_ended(self) -> None:
        """The warm-up is over with clusters still unlisted: say which, and let the control
        plane push without them (it asks `ready` again on the change)."""
        slow = sorted(name for name, (_, source) in self.remotes.items() if not source.ready)
        if slow or not self._polled:
            log.warning("warm-up of %gs over: pushing without %s", self.warmup,
                        f"remote clusters {', '.join(slow)} (not listed yet)" if slow
                        else f"the remote secrets of {self.secrets_namespace} (not read yet)")
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_change)

    def _reconcile(self, wanted: dict[str, str]) -> None:
        changed = False
        for name in [n for n in self.remotes if wanted.get(n) != self.remotes[n][0]]:
            _, source = self.remotes[name]
            self.remotes = {k: v for k, v in self.remotes.items() if k != name}  # copy on write
            source.stop()
            log.info("remote cluster %s removed", name)
            changed = True
        for name, config in wanted.items():
            if name in self.remotes:
                continue
            try:
                api_client = self._connect(config)
            except Exception as exc:  # noqa: BLE001 - a bad secret must not stop the others
                log.warning("remote cluster %s: cannot use its kubeconfig: %s", name, exc)
                continue
            source = KubernetesWorkloads(api_client, self.namespace)
            if self.trust_domain:
                source.name_identities(self.trust_domain)
            self.remotes = {**self.remotes, name: (config, source)}
            source.start(self._loop, self._on_change)
            log.info("remote cluster %s added (%s)", name, api_client.configuration.host)
        if changed and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_change)


def _client_from_kubeconfig(text: str) -> Any:
    import yaml
    from kubernetes import config

    return config.new_client_from_config_dict(yaml.safe_load(text))


def _union_ports(ours: list, theirs: list) -> list:
    """Ports of both clusters, each once (a bare number or {port, protocol}), by number."""
    by_port: dict[int, int | dict] = {}
    for p in [*ours, *theirs]:
        number = p.get("port") if isinstance(p, dict) else p
        if not isinstance(by_port.get(number), dict):
            by_port[number] = p
    return [by_port[n] for n in sorted(by_port)]
