"""Kubernetes API clients from a kubeconfig (or a pod's service account), and the one place
where the client library's exceptions become one-line MeshtoolErrors.

Which configuration: --kubeconfig PATH, else $KUBECONFIG (a `:`-separated list is merged as
kubectl does), else ~/.kube/config; inside a pod with none of those, the pod's service account.
--context picks a context; the context's namespace is the default namespace.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from meshtool.errors import MeshtoolError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

from meshtool.conventions import DEFAULT_NAMESPACE  # noqa: E402 - re-exported
DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT = 30.0  # seconds, for every call that is not a watch


@dataclass
class Cluster:
    """A connection to one API server: the client, its address and the default namespace."""

    api_client: ApiClient
    server: str
    namespace: str
    context: str | None = None  # None in-cluster

    def close(self) -> None:
        self.api_client.close()


def _kubeconfig_paths(kubeconfig: str | None) -> list[str]:
    spec = kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]


def _in_cluster(kubeconfig: str | None) -> bool:
    """No kubeconfig anywhere, but a pod's service account: use that."""
    if kubeconfig or os.environ.get("KUBECONFIG"):
        return False
    return (not os.path.exists(os.path.expanduser(DEFAULT_KUBECONFIG))
            and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and (SERVICE_ACCOUNT_DIR / "token").exists())


def _check_files(kubeconfig: str | None) -> list[str]:
    paths = _kubeconfig_paths(kubeconfig)
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        env = os.environ.get("KUBECONFIG")
        given = ("$KUBECONFIG" if env and kubeconfig in (None, env)
                 else "--kubeconfig" if kubeconfig else "the default kubeconfig")
        raise MeshtoolError(f"kubeconfig {os.pathsep.join(paths)} not found ({given}); "
                            "give --kubeconfig PATH or set KUBECONFIG")
    return existing


def context_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace of the chosen context (or of the pod, in-cluster), else 'default'.
    Reads files only; never contacts the server."""
    if _in_cluster(kubeconfig):
        try:
            return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or DEFAULT_NAMESPACE
        except OSError:
            return DEFAULT_NAMESPACE
    return _context(kubeconfig, context)[1]


def _context(kubeconfig: str | None, context: str | None) -> tuple[str | None, str]:
    """(name, namespace) of the chosen context; MeshtoolError when there is no such context."""
    from kubernetes import config

    paths = _check_files(kubeconfig)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=os.pathsep.join(paths))
    except Exception as e:  # noqa: BLE001 - YAML, I/O and config errors alike: the file is bad
        raise MeshtoolError(f"kubeconfig {os.pathsep.join(paths)} is not usable: {_one_line(e)}")
    chosen = active
    if context:
        chosen = next((c for c in contexts if c.get("name") == context), None)
        if chosen is None:
            names = ", ".join(c.get("name", "?") for c in contexts) or "none"
            raise MeshtoolError(f'context "{context}" not found in {os.pathsep.join(paths)} '
                                f"(contexts: {names})")
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or DEFAULT_NAMESPACE
    return (chosen or {}).get("name"), namespace


def connect(kubeconfig: str | None = None, context: str | None = None) -> Cluster:
    """A Cluster from the kubeconfig (see the module docstring); MeshtoolError, one line,
    when the kubeconfig is missing or unusable. Does not contact the server."""
    from kubernetes import client, config

    if _in_cluster(kubeconfig):
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as e:
            raise MeshtoolError(f"in-cluster Kubernetes configuration is not usable: {_one_line(e)}")
        return Cluster(client.ApiClient(configuration), configuration.host, context_namespace())
    name, namespace = _context(kubeconfig, context)  # also checks the file and the context
    paths = os.pathsep.join(_check_files(kubeconfig))
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=paths, context=context,
                                client_configuration=configuration, persist_config=False)
    except Exception as e:  # noqa: BLE001 - as above
        raise MeshtoolError(f"kubeconfig {paths} is not usable: {_one_line(e)}")
    configuration.retries = 1  # a refused connection is reported at once, not after 3 tries
    return Cluster(client.ApiClient(configuration), configuration.host, namespace, name)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def api_status(error) -> dict:
    """The Status object a kubernetes ApiException carries as its body ({} when it has none)."""
    import json

    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def api_message(error) -> str:
    """The message of a kubernetes ApiException: the Status message when the body is one."""
    message = api_status(error).get("message")
    return str(message) if message else f"{error.status} {error.reason}".strip()


@contextlib.contextmanager
def api_errors(server: str) -> Iterator[None]:
    """Turn transport failures and authorization refusals into one-line MeshtoolErrors.
    Other ApiExceptions pass through for the caller to interpret (404, 409, 422...)."""
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as e:
        if e.status == 401:
            raise MeshtoolError(f"the Kubernetes API server at {server} refused the credentials: "
                                f"{api_message(e)}") from None
        if e.status == 403:
            raise MeshtoolError(f"forbidden by the Kubernetes API server at {server}: "
                                f"{api_message(e)}") from None
        if e.status == 0 or e.status is None:  # transport error wrapped by the client
            raise MeshtoolError(f"cannot reach the Kubernetes API server at {server}: "
                                f"{_one_line(e)}") from None
        raise
    except (HTTPError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise MeshtoolError(f"cannot reach the Kubernetes API server at {server}: "
                            f"{_one_line(reason)}") from None
