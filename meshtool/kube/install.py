"""`meshtool install`'s manifests, and applying, removing and checking them.

Everything install writes carries the label app.kubernetes.io/managed-by=meshtool and the
control plane's namespace (label meshtool.io/control-plane-namespace), and has a fixed name, so
uninstall removes exactly these objects and nothing else. Objects are plain dicts: the same data
is printed by `--dry-run`, sent with server-side apply and read back by `check`.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass, field
from typing import Callable

from meshtool import __version__
from meshtool.conventions import DISCOVERY_PORT, INJECT_KEY, INJECTION_LABEL, WEBHOOK_PORT
from meshtool.kube import objects
from meshtool.kube.certs import WebhookCerts, generate, service_names, signed_by

NAMESPACE = "meshtool-system"
NAME = "meshtool-control-plane"  # ServiceAccount, ClusterRole(Binding), Deployment, Service
SECRET = "meshtool-webhook-tls"
MESH_CA_SECRET = "meshtool-ca"  # install's self-signed mesh root, when no --ca-secret is given
WEBHOOK_CONFIG = "meshtool-sidecar-injector"
WEBHOOK = "sidecar-injector.meshtool.io"
VALIDATING_CONFIG = "meshtool-validator"
VALIDATING_WEBHOOK = "validation.meshtool.io"
IMAGE = f"meshtool/meshtool:{__version__}"
MANAGED_BY = "app.kubernetes.io/managed-by"
NAMESPACE_LABEL = "meshtool.io/control-plane-namespace"
FAILURE_POLICIES = ("Ignore", "Fail")
# Why Ignore by default: the webhook runs as one replica; with Fail, every Pod creation in every
# labelled namespace stops whenever it is down (an upgrade, a node drain), including the Pods
# that would bring it back. With Ignore such a Pod starts without a sidecar, which
# `meshtool proxy-status` shows (the Pod is missing) and a restart of the Pod repairs.
DEFAULT_FAILURE_POLICY = "Ignore"
MIN_VERSION = (1, 22)  # every API used is v1 there and server-side apply is GA
CERT_RENEW_DAYS = 30
TLS_DIR = "/etc/meshtool/webhook"
CA_DIR = "/etc/cacerts"  # where the cacerts Secret (Istio's layout) is mounted, with --ca-secret


@dataclass(frozen=True)
class Settings:
    namespace: str = NAMESPACE
    image: str = IMAGE
    failure_policy: str = DEFAULT_FAILURE_POLICY
    addons: tuple[str, ...] = ()  # meshtool.kube.addons.ADDONS
    cluster_name: str | None = None  # multi-cluster: this cluster's name (--cluster-name)
    gateway: bool = False  # also the ingress gateway (meshtool.kube.gateway)
    # Multi-cluster: addresses (IPs or DNS names) other clusters' API servers reach the webhook
    # at; the webhook certificate names them besides the Service's in-cluster names.
    webhook_addresses: tuple[str, ...] = ()
    # The mesh CA: a Secret in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem,
    # cert-chain.pem), mounted into the control plane. None: install's own self-signed root in
    # the Secret meshtool-ca (made on the first install, kept after), unless mesh_ca is off.
    ca_secret: str | None = None
    mesh_ca: bool = True  # False (--no-mesh-ca): no CA at all, sidecars speak plaintext

    @property
    def ca_secret_name(self) -> str | None:
        """The Secret the control plane's CA is mounted from, if any."""
        return self.ca_secret or (MESH_CA_SECRET if self.mesh_ca else None)

    @property
    def generates_ca(self) -> bool:
        return self.ca_secret is None and self.mesh_ca

    def webhook_names(self) -> tuple[list[str], list[str]]:
        """(DNS names, IP addresses) the webhook certificate must hold."""
        ips = [a for a in self.webhook_addresses if _is_ip(a)]
        dns = service_names(NAME, self.namespace) + [a for a in self.webhook_addresses
                                                     if not _is_ip(a)]
        return dns, ips

    @property
    def control_plane_address(self) -> str:
        return f"{NAME}.{self.namespace}.svc:{DISCOVERY_PORT}"


def labels(settings: Settings, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "meshtool",
        "app.kubernetes.io/part-of": "meshtool",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/version": __version__,
        MANAGED_BY: "meshtool",
        NAMESPACE_LABEL: settings.namespace,
    }


def _meta(name: str, settings: Settings, component: str, namespaced: bool = True) -> dict:
    meta = {"name": name, "labels": labels(settings, component)}
    if namespaced:
        meta["namespace"] = settings.namespace
    return meta


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the manifests ---------------------------------------------------------------------

def crds(settings: Settings) -> list[dict]:
    from meshtool.kube.crds import committed_crds

    out = []
    for crd in committed_crds():
        crd["metadata"].setdefault("labels", {}).update(
            {MANAGED_BY: "meshtool", NAMESPACE_LABEL: settings.namespace})
        out.append(crd)
    return out


def rbac(settings: Settings) -> list[dict]:
    from meshtool.model.kinds import API_GROUP, FOREIGN_KINDS, PLURALS

    read = ["get", "list", "watch"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": _meta(NAME, settings, "control-plane", namespaced=False),
        "rules": [
            # The rules, the workloads they route to and where those live.
            {"apiGroups": [API_GROUP], "resources": sorted(PLURALS.values()), "verbs": read},
            # Other meshes' routing APIs, read (never installed) where their CRDs exist.
            *({"apiGroups": [group], "resources": sorted(fk.plural for fk in FOREIGN_KINDS
                                                         if fk.group == group), "verbs": read}
              for group in sorted({fk.group for fk in FOREIGN_KINDS})),
            # Nodes only for their zone/region labels (the endpoints' locality).
            {"apiGroups": [""], "resources": ["services", "pods", "namespaces", "nodes"],
             "verbs": read},
            # The only writes: a rule's status condition and an Event when it is invalid.
            {"apiGroups": [API_GROUP], "resources": sorted(f"{p}/status" for p in PLURALS.values()),
             "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            # Workload certificates: the service account token a sidecar's CSR carries.
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
             "verbs": ["create"]},
            # The address of the ingress gateway, in the status of the Ingresses it serves.
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"],
             "verbs": ["get", "patch"]},
            # ...and of the Gateway API Gateways of its class, with their routes' verdicts.
            {"apiGroups": ["gateway.networking.k8s.io"],
             "resources": ["gateways/status", "httproutes/status"], "verbs": ["get", "patch"]},
            # With the gateway: the TLS Secrets that Ingresses (spec.tls) and Gateways
            # (certificateRefs, credentialName) name, in their own namespaces; their keys go
            # to the gateway proxies only (docs/kubernetes.md).
            *([{"apiGroups": [""], "resources": ["secrets"], "verbs": read}]
              if settings.gateway else []),
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": _meta(NAME, settings, "control-plane", namespaced=False),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": settings.namespace}],
    }
    # The remote secrets (multi-cluster) live in the control plane's own namespace: a Role
    # there, never a cluster-wide read of Secrets.
    secrets_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": _meta(NAME, settings, "control-plane"),
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": read}],
    }
    secrets_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": _meta(NAME, settings, "control-plane"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": settings.namespace}],
    }
    return [role, binding, secrets_role, secrets_binding]


def deployment(settings: Settings) -> dict:
    selector = {"app.kubernetes.io/name": "meshtool", "app.kubernetes.io/component": "control-plane"}
    hardened = {
        "runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    control_plane = {
        "name": "control-plane", "image": settings.image, "imagePullPolicy": "IfNotPresent",
        "args": ["control-plane", "--store", "kubernetes", "--listen", f"0.0.0.0:{DISCOVERY_PORT}",
                 "--id", "$(POD_NAME)",
                 *(["--ca-dir", CA_DIR] if settings.ca_secret_name else []),
                 *(["--cluster-name", settings.cluster_name] if settings.cluster_name else [])],
        "env": objects.pod_identity_env(),  # POD_NAMESPACE: where the remote secrets are
        "ports": [{"name": "discovery", "containerPort": DISCOVERY_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": DISCOVERY_PORT}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": hardened,
    }
    volumes = [{"name": "webhook-tls", "secret": {"secretName": SECRET}}]
    if settings.ca_secret_name:  # a Secret volume follows the Secret: a rotated root is reread
        control_plane["volumeMounts"] = [{"name": "cacerts", "mountPath": CA_DIR,
                                          "readOnly": True}]
        volumes.append({"name": "cacerts", "secret": {"secretName": settings.ca_secret_name}})
    webhook = {
        "name": "webhook", "image": settings.image, "imagePullPolicy": "IfNotPresent",
        "args": ["webhook", "--listen", f"0.0.0.0:{WEBHOOK_PORT}",
                 "--tls-cert", f"{TLS_DIR}/tls.crt", "--tls-key", f"{TLS_DIR}/tls.key",
                 "--image", settings.image, "--control-plane", settings.control_plane_address,
                 *(["--cluster", settings.cluster_name] if settings.cluster_name else [])],
        "ports": [{"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": WEBHOOK_PORT, "scheme": "HTTPS"},
                           "periodSeconds": 5},
        "volumeMounts": [{"name": "webhook-tls", "mountPath": TLS_DIR, "readOnly": True}],
        "resources": {"requests": {"cpu": "50m", "memory": "96Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": hardened,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(NAME, settings, "control-plane"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**selector, "app.kubernetes.io/part-of": "meshtool",
                                        # The control plane never gets a sidecar of its own.
                                        INJECT_KEY: "false"}},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [control_plane, webhook],
                    "volumes": volumes,
                },
            },
        },
    }


def service(settings: Settings) -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(NAME, settings, "control-plane"),
        "spec": {
            "selector": {"app.kubernetes.io/name": "meshtool", "app.kubernetes.io/component": "control-plane"},
            "ports": [
                # appProtocol declares what each port speaks (analyze's MT0300 asks for it):
                # the discovery stream is a WebSocket, the webhooks answer HTTPS.
                {"name": "discovery", "port": DISCOVERY_PORT, "targetPort": "discovery",
                 "protocol": "TCP", "appProtocol": "kubernetes.io/ws"},
                {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP",
                 "appProtocol": "https"},
            ],
        },
    }


def secret(settings: Settings, certs: WebhookCerts) -> dict:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": _meta(SECRET, settings, "webhook"),
        "data": {"ca.crt": _b64(certs.ca_pem), "tls.crt": _b64(certs.cert_pem),
                 "tls.key": _b64(certs.key_pem)},
    }


def mesh_ca_secret(settings: Settings, files: dict[str, bytes]) -> dict:
    """The generated mesh root, in the cacerts layout the control plane reads (--ca-dir)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(MESH_CA_SECRET, settings, "mesh-ca"),
            "data": {name: _b64(data) for name, data in sorted(files.items())}}


def new_mesh_ca() -> dict[str, bytes]:
    """A fresh self-signed mesh root (meshtool.security.ca), its files' contents."""
    import tempfile
    from pathlib import Path

    from meshtool.security.ca import CA_FILES, create_root

    with tempfile.TemporaryDirectory(prefix="meshtool-ca-") as tmp:
        create_root(Path(tmp) / "ca")
        return {name: (Path(tmp) / "ca" / name).read_bytes() for name in CA_FILES}


def existing_mesh_ca(data: dict | None) -> dict[str, bytes] | None:
    """The root a previous install made (kept: every workload certificate chains to it)."""
    from meshtool.security.ca import CA_FILES

    try:
        return {name: base64.b64decode(data[name]) for name in CA_FILES}
    except (KeyError, TypeError, ValueError):
        return None


def webhook_configuration(settings: Settings, ca_pem: bytes) -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": _meta(WEBHOOK_CONFIG, settings, "webhook", namespaced=False),
        "webhooks": [{
            "name": WEBHOOK,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": settings.failure_policy,
            "timeoutSeconds": 10,
            "reinvocationPolicy": "Never",
            "clientConfig": {
                "service": {"name": NAME, "namespace": settings.namespace, "path": "/inject", "port": 443},
                "caBundle": _b64(ca_pem),
            },
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {INJECTION_LABEL: "enabled"}},
            # Pods labelled sidecar.meshtool.io/inject=false are not even sent (annotations are
            # decided by the webhook itself, as kube-inject does).
            "objectSelector": {"matchExpressions": [
                {"key": "sidecar.meshtool.io/inject", "operator": "NotIn", "values": ["false"]}]},
        }],
    }


def validating_webhook_configuration(settings: Settings, ca_pem: bytes) -> dict:
    """The API server asks the webhook (/validate, same Service and certificate as injection)
    before it stores a meshtool rule: what `meshtool validate` refuses is refused."""
    from meshtool.model.kinds import API_GROUP, API_VERSION, PLURALS

    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": _meta(VALIDATING_CONFIG, settings, "webhook", namespaced=False),
        "webhooks": [{
            "name": VALIDATING_WEBHOOK,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": settings.failure_policy,
            "timeoutSeconds": 10,
            "clientConfig": {
                "service": {"name": NAME, "namespace": settings.namespace, "path": "/validate",
                            "port": 443},
                "caBundle": _b64(ca_pem),
            },
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [API_GROUP],
                       "apiVersions": [API_VERSION], "resources": sorted(PLURALS.values()),
                       "scope": "Namespaced"}],
        }],
    }


def manifests(settings: Settings, certs: WebhookCerts,
              mesh_ca: dict[str, bytes] | None = None) -> list[dict]:
    """Everything install applies, in the order it applies it (the webhook last: it must not
    point at a Service before the Service and its certificate exist). `mesh_ca`: the generated
    root's files when settings.generates_ca (empty placeholders when not given: uninstall)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": settings.namespace, "labels": labels(settings, "namespace")}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": _meta(NAME, settings, "control-plane")}
    extras = []
    if "prometheus" in settings.addons:
        from meshtool.kube.addons import prometheus_manifests
        extras = prometheus_manifests(settings.namespace, labels(settings, "prometheus"))
    if settings.gateway:
        from meshtool.kube.gateway import gateway_manifests
        extras += gateway_manifests(
            settings.namespace, settings.image, settings.control_plane_address,
            lambda name, component, namespaced=True: _meta(name, settings, component, namespaced))
    ca = [mesh_ca_secret(settings, mesh_ca or {})] if settings.generates_ca else []
    return [*crds(settings), namespace, account, *rbac(settings), secret(settings, certs), *ca,
            service(settings), deployment(settings), *extras,
            webhook_configuration(settings, certs.ca_pem),
            validating_webhook_configuration(settings, certs.ca_pem)]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def new_certs(settings: Settings) -> WebhookCerts:
    return generate(*settings.webhook_names())


def usable_certs(data: dict | None, settings: Settings) -> WebhookCerts | None:
    """The certificates in an existing Secret's data, if still good: signed by its CA, valid for
    the Service's names and not expiring within CERT_RENEW_DAYS. Reusing them keeps install
    idempotent (a second install changes nothing)."""
    from cryptography import x509

    try:
        pems = {k: base64.b64decode(data[k]) for k in ("ca.crt", "tls.crt", "tls.key")}
        cert = x509.load_pem_x509_certificate(pems["tls.crt"])
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (KeyError, TypeError, ValueError, x509.ExtensionNotFound):
        return None
    dns, ips = settings.webhook_names()
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=CERT_RENEW_DAYS)
    has_ips = {str(a) for a in names.get_values_for_type(x509.IPAddress)}
    if (not set(dns) <= set(names.get_values_for_type(x509.DNSName))
            or not {str(ipaddress.ip_address(a)) for a in ips} <= has_ips
            or cert.not_valid_after_utc < soon):
        return None  # expiring, or an address was added: a new certificate
    if not signed_by(pems["tls.crt"], pems["ca.crt"]):
        return None
    return WebhookCerts(ca_pem=pems["ca.crt"], cert_pem=pems["tls.crt"], key_pem=pems["tls.key"])


def display(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind'].lower()}/{where}{meta['name']}"


# --- install / uninstall -----------------------------------------------------------------

def install(api_client, settings: Settings, report: Callable[[str], None] = lambda _: None,
            *, wait: float = 60.0, items: list[dict] | None = None) -> list[dict]:
    """Server-side apply every manifest (`items`, default: the primary's); returns them.
    Reuses the webhook certificates already in the cluster when they are still good."""
    from meshtool.kube.crds import crd_names, wait_established

    if items is None:
        existing = objects.get(api_client, "Secret", SECRET, settings.namespace)
        certs = usable_certs((existing or {}).get("data"), settings) or new_certs(settings)
        mesh_ca = None
        if settings.generates_ca:
            kept = objects.get(api_client, "Secret", MESH_CA_SECRET, settings.namespace)
            mesh_ca = existing_mesh_ca((kept or {}).get("data")) or new_mesh_ca()
        items = manifests(settings, certs, mesh_ca)
    namespace = objects.get(api_client, "Namespace", settings.namespace)
    if namespace and namespace.get("status", {}).get("phase") == "Terminating":
        from meshtool.errors import MeshtoolError

        raise MeshtoolError(f"namespace {settings.namespace} is being deleted; "
                            "wait until it is gone, or install into another one with -n")
    # Refuse before writing anything: the server validates every object it can (namespaced
    # ones only once their namespace exists).
    replace: dict[int, str] = {}  # index -> resourceVersion: objects apply cannot repair
    for i, obj in enumerate(items):
        if not objects.KINDS[obj["kind"]][2] or namespace:
            version = _dry_run(api_client, obj)
            if version is not None:
                replace[i] = version
    for i, obj in enumerate(items):
        if i in replace:
            objects.replace(api_client, obj, replace[i])
            report(f"{display(obj)} replaced (it had been changed in a way apply cannot merge)")
        objects.apply(api_client, obj)
        report(f"{display(obj)} applied")
        if obj["kind"] == "CustomResourceDefinition" and obj is items[len(crd_names()) - 1]:
            wait_established(api_client, crd_names(), timeout=wait)
    return items


def _dry_run(api_client, obj: dict) -> str | None:
    """Check one object with a server-side dry run of the apply. None: apply will do. A
    resourceVersion: the existing object was edited into a shape that apply cannot merge with
    ours (say a webhook's clientConfig switched from service to {url, caBundle}: merged, it
    would hold both) but a replacement at that version is accepted, so install replaces it."""
    from kubernetes.client.exceptions import ApiException

    try:
        objects.apply(api_client, obj, dry_run=True)
        return None
    except ApiException as exc:
        if exc.status != 422:
            raise
        meta = obj["metadata"]
        current = objects.get(api_client, obj["kind"], meta["name"], meta.get("namespace"))
        if current is None:
            raise
        version = current["metadata"]["resourceVersion"]
        try:
            objects.replace(api_client, obj, version, dry_run=True)
        except ApiException:
            raise exc from None
        return version


def owned(obj: dict | None, settings: Settings) -> bool:
    found = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return found.get(MANAGED_BY) == "meshtool" and found.get(NAMESPACE_LABEL) == settings.namespace


@dataclass
class Removal:
    deleted: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # exists but not ours (or CRDs kept on request)


def uninstall(api_client, settings: Settings, *, keep_crds: bool = False,
              report: Callable[[str], None] = lambda _: None,
              items: list[dict] | None = None) -> Removal:
    """Delete what install wrote, webhook first (no Pod creation may wait on a webhook being
    removed), namespace and CRDs last. Objects with the same names that install did not write
    (other labels, another namespace's install) are left alone. Idempotent."""
    placeholder = WebhookCerts(b"", b"", b"")
    done = Removal()
    written = items if items is not None else manifests(settings, placeholder)
    if items is None and not settings.gateway:  # with --gateway or not: its objects go if there
        from dataclasses import replace
        gateway = manifests(replace(settings, gateway=True), placeholder)
        names = {(o["kind"], o["metadata"]["name"]) for o in written}
        extra = [o for o in gateway if (o["kind"], o["metadata"]["name"]) not in names]
        written += [o for o in extra if objects.get(api_client, o["kind"], o["metadata"]["name"],
                                                    o["metadata"].get("namespace")) is not None]
    for obj in reversed(written):
        meta, kind = obj["metadata"], obj["kind"]
        shown = display(obj)
        if keep_crds and kind == "CustomResourceDefinition":
            done.kept.append(shown)
            report(f"{shown} kept (--keep-crds)")
            continue
        current = objects.get(api_client, kind, meta["name"], meta.get("namespace"))
        if current is None or current["metadata"].get("deletionTimestamp"):
            done.absent.append(shown)  # gone, or already on its way out
            continue
        if not owned(current, settings):
            done.kept.append(shown)
            report(f"{shown} kept: not installed by meshtool into {settings.namespace}")
            continue
        if objects.delete(api_client, kind, meta["name"], meta.get("namespace")):
            done.deleted.append(shown)
            report(f"{shown} deleted")
        else:
            done.absent.append(shown)
    return done
