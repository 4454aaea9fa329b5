"""`meshtool check`: is the cluster ready for meshtool, and is the install healthy?

Each check is one line with a pass, fail or warning mark. A failure means something install
writes is missing or wrong, or that the mesh does not work yet: the control plane's Pods not
ready is a failure, since the injection webhook runs in them. The webhook is proved end to end:
a Pod created (server-side dry run) in a labelled namespace must come back with the sidecar.
Details never include secrets or CA bundles.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Iterator

from meshtool.kube import install, objects

OK, FAIL, WARN = "ok", "fail", "warn"


@dataclass
class Check:
    section: str
    name: str
    status: str
    detail: str = ""


def _api_error(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or exc
    return f"HTTP {status}: {reason}" if status else str(reason)


def run(api_client, settings: install.Settings) -> list[Check]:
    return list(_checks(api_client, settings))


def _checks(api_client, s: install.Settings) -> Iterator[Check]:
    from meshtool.errors import MeshtoolError
    from meshtool.kube.client import api_errors

    api = "kubernetes-api"
    try:
        with api_errors(api_client.configuration.host):  # worded as in every other command
            version = objects.call(api_client, "GET", "/version")
    except MeshtoolError as exc:
        yield Check(api, "can reach the API server", FAIL, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - any failure to connect is this check's answer
        yield Check(api, "can reach the API server", FAIL, _api_error(exc))
        return
    yield Check(api, "can reach the API server", OK, version.get("gitVersion", ""))
    yield _version_check(version)

    for name in _crd_names():
        yield _crd_check(api_client, name)
    yield from _foreign_api_checks(api_client)

    section = "meshtool-install"
    namespace = objects.get(api_client, "Namespace", s.namespace)
    if namespace is None:
        yield Check(section, f"namespace {s.namespace} exists", FAIL, "not found: run `meshtool install`")
    elif namespace["metadata"].get("deletionTimestamp"):
        yield Check(section, f"namespace {s.namespace} exists", FAIL, "it is being deleted")
    else:
        yield Check(section, f"namespace {s.namespace} exists", OK)
    for kind, name, ns in (("ServiceAccount", install.NAME, s.namespace),
                           ("ClusterRole", install.NAME, None),
                           ("ClusterRoleBinding", install.NAME, None)):
        yield _exists(api_client, section, kind, name, ns, s)
    yield _rbac_check(api_client, s)
    deployment = objects.get(api_client, "Deployment", install.NAME, s.namespace)
    yield _exists(api_client, section, "Deployment", install.NAME, s.namespace, s, deployment)
    yield _exists(api_client, section, "Service", install.NAME, s.namespace, s)
    if deployment is not None:
        yield _readiness(deployment)

    yield from _webhook_checks(api_client, s)


def _version_check(version: dict) -> Check:
    name = "API server version >= {}.{}".format(*install.MIN_VERSION)
    try:
        found = (int(version["major"]), int("".join(c for c in version["minor"] if c.isdigit())))
    except (KeyError, ValueError):
        return Check("kubernetes-api", name, FAIL, f"cannot read the version: {version}")
    shown = f"{found[0]}.{found[1]}"
    if found < install.MIN_VERSION:
        return Check("kubernetes-api", name, FAIL, f"found {shown}")
    return Check("kubernetes-api", name, OK, f"found {shown}")


def _crd_names() -> list[str]:
    from meshtool.kube.crds import crd_names

    return crd_names()


def _crd_check(api_client, name: str) -> Check:
    title = f"CRD {name} is installed and Established"
    crd = objects.get(api_client, "CustomResourceDefinition", name)
    if crd is None:
        return Check("meshtool-crds", title, FAIL, "not found: run `meshtool install`")
    if crd["metadata"].get("deletionTimestamp"):
        return Check("meshtool-crds", title, FAIL, "it is being deleted")
    conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}
    established = conditions.get("Established", {})
    if established.get("status") != "True":
        why = established.get("message") or "no Established condition yet"
        return Check("meshtool-crds", title, FAIL, why)
    return Check("meshtool-crds", title, OK)


def _foreign_api_checks(api_client) -> Iterator[Check]:
    """Which API groups of other projects the cluster serves: meshtool stores and compiles
    their rules where their own CRDs are installed, and never installs or shadows them."""
    from meshtool.model.kinds import FOREIGN_KINDS

    groups: dict[str, list] = {}
    for fk in FOREIGN_KINDS:
        groups.setdefault(fk.group, []).append(fk)
    for group, kinds in groups.items():
        found, unreadable = [], []
        for fk in kinds:
            crd = objects.get(api_client, "CustomResourceDefinition", f"{fk.plural}.{group}")
            if crd is None:
                continue
            served = [v.get("name") for v in (crd.get("spec") or {}).get("versions") or ()
                      if v.get("served")]
            readable = [v for v in served if v in fk.versions]
            if readable:
                found.append(f"{fk.kind} {'/'.join(readable)}")
            else:
                unreadable.append(f"{fk.kind} serves {'/'.join(served) or 'no version'}, "
                                  f"meshtool reads {'/'.join(fk.versions)}")
        title = f"API group {group}"
        if unreadable:
            yield Check("other-apis", title, WARN, "; ".join(unreadable))
        elif found:
            yield Check("other-apis", title, OK, "found " + ", ".join(found)
                        + "; its rules are stored as written and compiled")
        else:
            yield Check("other-apis", title, OK, "not installed; meshtool never installs "
                        "another project's CRDs (its rules can still be validated and converted)")


def _exists(api_client, section: str, kind: str, name: str, namespace: str | None,
            s: install.Settings, found: dict | None = None) -> Check:
    where = f"{namespace}/{name}" if namespace else name
    title = f"{kind} {where} exists"
    obj = found if found is not None else objects.get(api_client, kind, name, namespace)
    if obj is None:
        return Check(section, title, FAIL, "not found: run `meshtool install`")
    if not install.owned(obj, s):
        return Check(section, title, FAIL, f"exists but was not installed by meshtool into {s.namespace}")
    return Check(section, title, OK)


def _rbac_check(api_client, s: install.Settings) -> Check:
    """Ask the API server whether the control plane's account may read what it watches."""
    from meshtool.model.kinds import API_GROUP, PLURALS

    title = "the control plane may read rules, Services, Pods and Namespaces"
    user = f"system:serviceaccount:{s.namespace}:{install.NAME}"
    wanted = [(API_GROUP, p) for p in sorted(PLURALS.values())] + \
        [("", r) for r in ("services", "pods", "namespaces")]
    missing: dict[str, list[str]] = {}
    for group, resource in wanted:
        for verb in ("get", "list", "watch"):
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                      "spec": {"user": user,
                               "groups": ["system:serviceaccounts", f"system:serviceaccounts:{s.namespace}",
                                          "system:authenticated"],
                               "resourceAttributes": {"group": group, "resource": resource, "verb": verb}}}
            try:
                answer = objects.call(api_client, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                      body=review)
            except Exception as exc:  # noqa: BLE001 - reported as this check's failure
                return Check("meshtool-install", title, FAIL, f"cannot ask the API server: {_api_error(exc)}")
            if not (answer.get("status") or {}).get("allowed"):
                missing.setdefault(resource, []).append(verb)
    if missing:
        denied = "; ".join(f"{'/'.join(verbs)} {resource}" for resource, verbs in missing.items())
        return Check("meshtool-install", title, FAIL, f"{user} may not {denied}")
    return Check("meshtool-install", title, OK)


def _readiness(deployment: dict) -> Check:
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    ready = (deployment.get("status") or {}).get("readyReplicas") or 0
    title = "control plane Pods are ready"
    if ready >= wanted:
        return Check("meshtool-install", title, OK, f"{ready}/{wanted}")
    # A failure, not a warning: the injection and validating webhooks run in these Pods, so
    # until they are ready no Pod gets a sidecar and no rule is checked on admission.
    return Check("meshtool-install", title, FAIL,
                 f"{ready}/{wanted} ready: the webhooks run in these Pods, so until they are ready "
                 "Pods start without a sidecar; Pods are started by the cluster's controllers and "
                 f"kubelets, not by install: see `kubectl -n {deployment['metadata'].get('namespace')}"
                 f" get pods` and `kubectl describe`")


def _webhook_checks(api_client, s: install.Settings) -> Iterator[Check]:
    section = "meshtool-webhook"
    secret = objects.get(api_client, "Secret", install.SECRET, s.namespace)
    certs = install.usable_certs((secret or {}).get("data"), s) if secret else None
    title = f"Secret {s.namespace}/{install.SECRET} holds a serving certificate for the Service"
    if secret is None:
        yield Check(section, title, FAIL, "not found: run `meshtool install`")
    elif certs is None:
        yield Check(section, title, FAIL, "missing, not signed by its ca.crt, not valid for "
                    f"{install.NAME}.{s.namespace}.svc, or expiring within "
                    f"{install.CERT_RENEW_DAYS} days: run `meshtool install` to renew")
    else:
        yield Check(section, title, OK)

    config = objects.get(api_client, "MutatingWebhookConfiguration", install.WEBHOOK_CONFIG)
    title = f"MutatingWebhookConfiguration {install.WEBHOOK_CONFIG} sends Pods to the webhook"
    hook = next((w for w in (config or {}).get("webhooks") or [] if w.get("name") == install.WEBHOOK), None)
    if config is None or hook is None:
        yield Check(section, title, FAIL, "not found: run `meshtool install`")
        return
    target = (hook.get("clientConfig") or {}).get("service") or {}
    if (target.get("name"), target.get("namespace"), target.get("path")) != (install.NAME, s.namespace, "/inject"):
        yield Check(section, title, FAIL, f"points at {_client_target(hook)}, not the Service "
                    f"{s.namespace}/{install.NAME} path /inject: run `meshtool install` again")
    else:
        yield Check(section, title, OK, f"failurePolicy {hook.get('failurePolicy')}")
    title = "the webhook's caBundle is the CA of its certificate Secret"
    bundle = (hook.get("clientConfig") or {}).get("caBundle")
    if certs is None:
        yield Check(section, title, FAIL, "no usable certificate Secret to compare with")
    elif not bundle or base64.b64decode(bundle) != certs.ca_pem:
        yield Check(section, title, FAIL, "they differ: the API server would refuse the webhook's "
                    "certificate; run `meshtool install` again")
    else:
        yield Check(section, title, OK)
    yield _injection_check(api_client)
    yield from _validating_checks(api_client, s, certs)


def _client_target(hook: dict) -> str:
    """Where a webhook sends requests, without its caBundle."""
    config = hook.get("clientConfig") or {}
    if config.get("url"):
        return f"url {config['url']}"
    svc = config.get("service") or {}
    if svc:
        return (f"Service {svc.get('namespace')}/{svc.get('name')} port {svc.get('port', 443)} "
                f"path {svc.get('path', '/')}")
    return "nothing"


PROBE_NAME = "meshtool-check-probe"


def probe_pod() -> dict:
    """A minimal Pod for the dry-run create: never stored, never scheduled."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": PROBE_NAME, "labels": {"app": PROBE_NAME}},
            "spec": {"automountServiceAccountToken": False,
                     "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}


def injection_probe(api_client, namespace: str) -> tuple[bool, str]:
    """Create a Pod in `namespace` as a server-side dry run (admission webhooks run, nothing is
    stored): (True, detail) when it comes back with the sidecar, else (False, why)."""
    from kubernetes.client.exceptions import ApiException

    from meshtool.conventions import PROXY_CONTAINER
    from meshtool.kube.client import api_message

    try:
        pod = objects.call(api_client, "POST", f"/api/v1/namespaces/{namespace}/pods",
                           query={"dryRun": "All", "fieldManager": objects.FIELD_MANAGER},
                           body=probe_pod())
    except ApiException as exc:
        return False, (f"a Pod created (dry run) in namespace {namespace} was refused: "
                       f"{api_message(exc)}")
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if PROXY_CONTAINER in containers:
        return True, f"a Pod created (dry run) in namespace {namespace} got {PROXY_CONTAINER}"
    return False, (f"a Pod created (dry run) in namespace {namespace} came back without "
                   f"{PROXY_CONTAINER}: the API server did not get an answer from the webhook "
                   "(with failurePolicy Ignore it lets the Pod through without a sidecar); are "
                   "the control plane Pods ready?")


def _injection_check(api_client) -> Check:
    title = f"a Pod in a namespace labelled {install.INJECTION_LABEL}=enabled gets the sidecar"
    labelled = objects.call(api_client, "GET", "/api/v1/namespaces",
                            query={"labelSelector": f"{install.INJECTION_LABEL}=enabled"})
    names = sorted(n["metadata"]["name"] for n in labelled.get("items") or []
                   if not n["metadata"].get("deletionTimestamp"))
    if not names:
        return Check("meshtool-webhook", title, WARN,
                     f"no namespace is labelled yet: `kubectl label namespace NS "
                     f"{install.INJECTION_LABEL}=enabled`, then check again")
    ok, detail = injection_probe(api_client, names[0])
    return Check("meshtool-webhook", title, OK if ok else FAIL, detail)


def _validating_checks(api_client, s: install.Settings, certs) -> Iterator[Check]:
    section = "meshtool-webhook"
    config = objects.get(api_client, "ValidatingWebhookConfiguration", install.VALIDATING_CONFIG)
    title = (f"ValidatingWebhookConfiguration {install.VALIDATING_CONFIG} sends rules to the "
             "webhook")
    hook = next((w for w in (config or {}).get("webhooks") or []
                 if w.get("name") == install.VALIDATING_WEBHOOK), None)
    if hook is None:
        yield Check(section, title, FAIL, "not found: run `meshtool install`")
        return
    target = (hook.get("clientConfig") or {}).get("service") or {}
    if (target.get("name"), target.get("namespace"), target.get("path")) != \
            (install.NAME, s.namespace, "/validate"):
        yield Check(section, title, FAIL, f"points at {_client_target(hook)}, not the Service "
                    f"{s.namespace}/{install.NAME} path /validate: run `meshtool install` again")
        return
    bundle = (hook.get("clientConfig") or {}).get("caBundle")
    if certs is not None and (not bundle or base64.b64decode(bundle) != certs.ca_pem):
        yield Check(section, title, FAIL, "its caBundle is not the CA of the certificate Secret: "
                    "run `meshtool install` again")
        return
    yield Check(section, title, OK, f"failurePolicy {hook.get('failurePolicy')}")
