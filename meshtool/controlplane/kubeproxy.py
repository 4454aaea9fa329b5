"""Reach the cluster's control plane through the API server's service proxy.

`meshtool proxy-status --kubernetes` reads /debug/syncz and /debug/config_dump at
`/api/v1/namespaces/NS/services/meshtool-control-plane:15010/proxy/...` with the kubeconfig's
credentials, so it needs no port-forward and no network route to the pods: only the right to
`get services/proxy` in the control plane's namespace.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from meshtool.conventions import DISCOVERY_PORT
from meshtool.errors import MeshtoolError, NotFoundError

NAMESPACE = "meshtool-system"
SERVICE = "meshtool-control-plane"
PORT = DISCOVERY_PORT


@dataclass
class ServiceProxy:
    """The control plane behind a Service, as `inspect.fetch_*` accept it instead of HOST:PORT."""

    api_client: Any  # kubernetes.client.ApiClient: its TLS settings and credentials are used
    namespace: str = NAMESPACE
    service: str = SERVICE
    port: int | str = PORT

    @property
    def service_path(self) -> str:
        ns, name = (urllib.parse.quote(s, safe="") for s in (self.namespace, self.service))
        return f"/api/v1/namespaces/{ns}/services/{name}"

    @property
    def base_path(self) -> str:
        return f"{self.service_path}:{self.port}/proxy"

    def url(self, path: str) -> str:
        """`path` ("/debug/syncz?summary=1") on the control plane -> the API server's URL."""
        return self.api_client.configuration.host.rstrip("/") + self.base_path + path

    def _get(self, url: str, timeout: float):
        """GET through the client's own connection pool: it carries the CA, the client
        certificate and the proxy of the kubeconfig."""
        return self.api_client.rest_client.pool_manager.request(
            "GET", url, headers=self.headers(), timeout=timeout, retries=False)

    def headers(self) -> dict[str, str]:
        """The kubeconfig's credentials as request headers (tokens of exec plugins and
        service accounts are refreshed by the client's configuration)."""
        headers = {"Accept": "application/json"}
        for setting in self.api_client.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def __str__(self) -> str:
        return f"service {self.namespace}/{self.service}:{self.port} (through the API server)"

    def get_json(self, path: str, what: str, timeout: float, hint: str | None = None) -> Any:
        import urllib3

        url = self.url(path)
        try:
            resp = self._get(url, timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise MeshtoolError(f"cannot reach the Kubernetes API server at "
                                f"{self.api_client.configuration.host}: {exc}") from None
        body = resp.data
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if resp.status == 200 and doc is not None:
            return doc
        if resp.status == 200:
            raise MeshtoolError(f"{what} at {url} answered with something that is not JSON")
        raise _refusal(resp.status, doc, body, what, self, hint)

    def replicas(self, timeout: float = 5.0) -> list["ServiceProxy"]:
        """One proxy per ready control-plane pod behind the Service (from its Endpoints), so
        that proxy-status reads every replica's sync table; [] when they cannot be listed."""
        ns, name = (urllib.parse.quote(s, safe="") for s in (self.namespace, self.service))
        url = f"{self.api_client.configuration.host.rstrip('/')}/api/v1/namespaces/{ns}" \
              f"/endpoints/{name}"
        try:
            resp = self._get(url, timeout)
            doc = json.loads(resp.data) if resp.status == 200 else {}
        except Exception:  # noqa: BLE001 - fall back to the Service itself
            return []
        pods = set()  # (pod, the port it listens on: the Endpoints' port, not the Service's)
        for subset in doc.get("subsets") or []:
            ports = [p.get("port") for p in subset.get("ports") or [] if p.get("port")]
            for a in subset.get("addresses") or []:
                ref = a.get("targetRef") or {}
                if ref.get("kind") == "Pod" and ref.get("name") and ports:
                    pods.add((ref["name"], ports[0]))
        return [PodProxy(self.api_client, self.namespace, self.service, port, pod)
                for pod, port in sorted(pods)]

    def service_exists(self, timeout: float = 5.0) -> bool:
        """The API server answers 404 alike for a missing Service and for a Service without
        an Endpoints object: ask which."""
        try:
            resp = self._get(self.api_client.configuration.host.rstrip("/") + self.service_path,
                             timeout)
        except Exception:  # noqa: BLE001 - only refines a message
            return False
        return resp.status == 200


@dataclass
class PodProxy(ServiceProxy):
    """One control-plane pod, through the API server's pod proxy (`get pods/proxy`)."""

    pod: str = ""

    @property
    def base_path(self) -> str:
        ns, pod = (urllib.parse.quote(s, safe="") for s in (self.namespace, self.pod))
        return f"/api/v1/namespaces/{ns}/pods/{pod}:{self.port}/proxy"

    def __str__(self) -> str:
        return f"pod {self.namespace}/{self.pod}:{self.port} (through the API server)"


def _refusal(status: int, doc: Any, body: bytes, what: str, target: ServiceProxy,
             hint: str | None) -> MeshtoolError:
    """An error answer: the API server's own (a Status object) or the control plane's."""
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        message = doc.get("message") or f"HTTP {status}"
        if status == 404 and target.service_exists():
            return MeshtoolError(f"{what}: service {target.namespace}/{target.service} has no "
                                 f"endpoints", hint="the control plane's pod is not running or "
                                                    "not ready: `meshtool install --check`")
        if status == 404:
            return NotFoundError(f"{what}: {message} (namespace {target.namespace})",
                                 hint="is meshtool installed there? `meshtool install --check`; "
                                      "or -n NAMESPACE")
        if status == 503:
            return MeshtoolError(f"{what}: {message}",
                                 hint="the control plane's pod is not running or not ready: "
                                      "`meshtool install --check`")
        if status in (401, 403):
            return MeshtoolError(f"{what}: the API server refused: {message}",
                                 hint=f"proxy-status needs `get services/proxy` in namespace "
                                      f"{target.namespace}")
        return MeshtoolError(f"{what}: HTTP {status}: {message}", hint=hint)
    detail = doc.get("error") if isinstance(doc, dict) else None
    detail = detail or body[:200].decode(errors="replace").strip() or f"HTTP {status}"
    if status == 404:
        return NotFoundError(f"{what}: {detail}", hint=hint)
    return MeshtoolError(f"{what}: HTTP {status}: {detail}", hint=hint)
