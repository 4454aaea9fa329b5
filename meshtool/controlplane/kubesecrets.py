"""The cluster's TLS Secrets, for the ingress gateway's certificates (Kubernetes mode).

A list + watch of Secrets in the control plane's namespace (or all of them), on a thread, as
the workloads are followed (meshtool.controlplane.kubewatch). Only `kubernetes.io/tls` Secrets
keep their data (tls.crt, tls.key as text); of any other Secret only its type is kept, so that a
gateway resource naming one is told "wrong type", not "not found". The data stays in this
process: the control plane sends it to gateway proxies only (meshtool.controlplane.gatewaytls).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from meshtool.conventions import DEFAULT_NAMESPACE

log = logging.getLogger("meshtool.controlplane")

SECRETS = "secrets"
TLS_TYPE = "kubernetes.io/tls"


@dataclass(frozen=True)
class SecretInfo:
    namespace: str
    name: str
    type: str
    data: dict[str, str] = field(default_factory=dict, repr=False)  # TLS Secrets only

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def _text(value: Any) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        return None  # reported as "not PEM" when a gateway resource names it


def secret_info(obj: dict) -> SecretInfo:
    meta = obj.get("metadata") or {}
    kind = obj.get("type") or "Opaque"
    data = {}
    if kind == TLS_TYPE:
        raw = obj.get("data") or {}
        data = {k: t for k in ("tls.crt", "tls.key") if (t := _text(raw.get(k))) is not None}
    return SecretInfo(meta.get("namespace") or DEFAULT_NAMESPACE, meta["name"], kind, data)


class KubernetesSecrets:
    """Secrets by (namespace, name); `on_change` (on the loop) after each listing and change."""

    def __init__(self, api_client: Any, namespace: str | None = None, *, retry: float = 1.0):
        from meshtool.controlplane.kubewatch import ResourceFollower

        self.secrets: dict[tuple[str, str], SecretInfo] = {}
        self.ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change: Callable[[], None] = lambda: None
        self._follower = ResourceFollower(api_client, SECRETS, namespace, self._listed,
                                          self._event, retry=retry, convert=secret_info,
                                          optional="gateways get no certificates from Secrets "
                                                   "(install --gateway grants the read)")

    def start(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None:
        self._loop, self._on_change = loop, on_change
        self._follower.start()

    def stop(self) -> None:
        self._follower.stop()

    def get(self, namespace: str, name: str) -> SecretInfo | None:
        return self.secrets.get((namespace, name))

    # Called from the follower's thread: hop onto the loop, where the map is read.
    def _listed(self, kind: str, items: list[SecretInfo]) -> None:
        self._call(self._replace, {s.key: s for s in items})

    def _event(self, kind: str, event: str, item: Any) -> None:
        self._call(self._apply, event, item)

    def _call(self, fn, *args) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _replace(self, secrets: dict) -> None:
        self.secrets, self.ready = secrets, True
        self._on_change()

    def _apply(self, event: str, item: Any) -> None:
        if event == "DELETED":
            if self.secrets.pop(tuple(item), None) is None:
                return
        elif self.secrets.get(item.key) == item:
            return
        else:
            self.secrets[item.key] = item
        self._on_change()
