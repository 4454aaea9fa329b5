"""Which documents are workloads, where their pod template is, and whether to inject.

Skip reasons are codes mapped to sentences (the report prints the sentence).
"""

from __future__ import annotations

from meshtool.conventions import TEMPLATE_PATHS
from meshtool.inject.config import INIT_CONTAINER, INJECT_KEY, PROXY_CONTAINER, STATUS_KEY

# apiVersions of workloads that current Kubernetes no longer serves -> (use instead, removed in)
LEGACY = {
    "extensions/v1beta1": ("apps/v1", "1.16"), "apps/v1beta1": ("apps/v1", "1.16"),
    "apps/v1beta2": ("apps/v1", "1.16"), "batch/v1beta1": ("batch/v1", "1.25"),
    "batch/v2alpha1": ("batch/v1", "1.21"),
}

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
OTHER_MESH_CONTAINERS = {
    "istio-proxy": "Istio", "istio-init": "Istio", "istio-validation": "Istio",
    "linkerd-proxy": "Linkerd", "linkerd-init": "Linkerd",
    "kuma-sidecar": "Kuma", "kuma-init": "Kuma",
}

REASONS = {
    "not-workload": "not a workload",
    "opt-out-label": f'label {INJECT_KEY} is "false"',
    "opt-out-annotation": f'annotation {INJECT_KEY} is "false"',
    "system-namespace": "namespace {namespace} is a Kubernetes system namespace",
    "host-network": "host network",
    "other-mesh": "already runs another mesh's sidecar ({container}, {mesh})",
    "unmanaged-sidecar": f"has a {{container}} container but no {STATUS_KEY} annotation",
    "no-containers": "pod template has no containers",
    "not-injected": "not injected",
}


class InvalidValue(ValueError):
    """A field has a value the injector refuses; `path` is relative to the pod template."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


def opt_out(meta: dict) -> str | None:
    """"opt-out-label" / "opt-out-annotation" / None. The label wins over the annotation."""
    for where, code in (("labels", "opt-out-label"), ("annotations", "opt-out-annotation")):
        values = meta.get(where) or {}
        if not isinstance(values, dict) or INJECT_KEY not in values:
            continue
        value = values[INJECT_KEY]
        if value in ("false", False):
            return code
        if value in ("true", True):
            return None
        raise InvalidValue(("metadata", where, INJECT_KEY),
                           f'{INJECT_KEY} must be "true" or "false", not {value!r}')
    return None


def skip_reason(obj: dict, pod: dict) -> tuple[str, dict] | None:
    """(code, sentence arguments) when the pod must not be injected, else None."""
    meta = pod.get("metadata") or {}
    code = opt_out(meta)
    if code:
        return code, {}
    namespace = (obj.get("metadata") or {}).get("namespace")
    if namespace in SYSTEM_NAMESPACES:
        return "system-namespace", {"namespace": namespace}
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork") is True:
        return "host-network", {}
    containers = spec.get("containers") or []
    if not containers:
        return "no-containers", {}
    for c in [*(spec.get("initContainers") or []), *containers]:
        name = c.get("name") if isinstance(c, dict) else None
        if name in OTHER_MESH_CONTAINERS:
            return "other-mesh", {"mesh": OTHER_MESH_CONTAINERS[name], "container": name}
        if name in (PROXY_CONTAINER, INIT_CONTAINER):
            return "unmanaged-sidecar", {"container": name}
    return None


def sentence(code: str, args: dict) -> str:
    return REASONS[code].format(**args)
