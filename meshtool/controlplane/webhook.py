"""The injection webhook: AdmissionReview v1 for Pods in, a JSON patch out.

The decision and the injection are kube-inject's own (`meshtool.inject.pipeline.transform_object`);
this module only unwraps the review, diffs the original Pod against the injected one into a JSON
patch (RFC 6902, with the `jsonpatch` library) and wraps the answer. `review()` is pure, so the
golden table can drive it without a server; `serve_webhook()` puts it behind HTTPS with aiohttp.

What a request gets:
- a Pod to inject: allowed, with a JSONPatch;
- a Pod skipped (opt-out, host network, another mesh, ...): allowed, no patch, the reason as message;
- a Pod whose meshtool annotations are invalid: refused (code 400) with the field and the reason,
  as kube-inject would refuse the manifest;
- anything that is not a Pod: allowed, unchanged;
- a body that is not an AdmissionReview v1 with a request: HTTP 400 and a one-line message.

The same server answers the validating webhook at /validate (meshtool.controlplane.admission):
a meshtool rule that `meshtool validate` refuses is refused, with its message.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from meshtool.inject.config import InjectConfig

log = logging.getLogger("meshtool.webhook")

API_VERSION = "admission.k8s.io/v1"
PATH = "/inject"
REMOTE_PARTS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,252}")  # a cluster name, a HOST:PORT
VALIDATE_PATH = "/validate"
DEFAULT_PORT = 15017
# The API server caps objects at a few MB; leave room for the review's wrapping.
MAX_BODY = 16 * 1024 * 1024


class BadReview(ValueError):
    """The body is not an AdmissionReview this webhook can answer (HTTP 400)."""


@dataclass
class Outcome:
    """What happened to one review, for logs and tests."""

    uid: str
    action: str  # injected | skipped | refused | ignored
    message: str
    patch: list[dict] | None = None
    subject: str = "request"  # "pod NS/NAME", for the log line


def parse_review(body: bytes) -> dict:
    """The review's `request`, checked enough to answer it; BadReview otherwise."""
    try:
        review = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadReview(f"body is not JSON: {exc}") from None
    if not isinstance(review, dict):
        raise BadReview("body is not a JSON object (expected an AdmissionReview)")
    if review.get("kind") != "AdmissionReview" or review.get("apiVersion") != API_VERSION:
        raise BadReview(f"expected kind AdmissionReview, apiVersion {API_VERSION}; got "
                        f"kind {review.get('kind')!r}, apiVersion {review.get('apiVersion')!r}")
    request = review.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("request.uid is missing (the API server always sends one)")
    return request


def _is_pod(request: dict) -> bool:
    kind = request.get("kind") if isinstance(request.get("kind"), dict) else {}
    resource = request.get("resource") if isinstance(request.get("resource"), dict) else {}
    return (kind.get("kind") == "Pod" or resource.get("resource") == "pods") \
        and not request.get("subResource")


def decide(request: dict, config: InjectConfig) -> Outcome:
    """Inject (or skip) the Pod of one admission request."""
    from meshtool.inject.pipeline import INJECT, BadInput, transform_object

    uid = request["uid"]
    if not _is_pod(request) or request.get("operation", "CREATE") != "CREATE":
        return Outcome(uid, "ignored", "not a Pod creation: nothing to inject")
    pod = request.get("object")
    if not isinstance(pod, dict):
        raise BadReview("request.object is missing or not an object (expected the Pod)")
    # A Pod being created often has no namespace of its own yet: the request says where it goes,
    # and the injector needs it (system namespaces are skipped).
    original = copy.deepcopy(pod)
    metadata = original.get("metadata")
    if metadata is None:
        metadata = original["metadata"] = {}
    if not isinstance(metadata, dict):
        raise BadReview("request.object.metadata is not an object")
    namespace = request.get("namespace")
    if namespace and not metadata.get("namespace"):
        metadata["namespace"] = namespace
    try:
        injected, reports = transform_object(original, INJECT, config)
    except BadInput as exc:
        field = ".".join(str(p) for p in exc.path)
        return Outcome(uid, "refused", f"meshtool injection: {field}: {exc}" if field
                       else f"meshtool injection: {exc}")
    report = reports[0] if reports else None
    if report is None or report.action != "injected":
        from meshtool.inject.decide import sentence

        reason = sentence(report.reason, report.reason_args) if report and report.reason \
            else "nothing to inject"
        return Outcome(uid, "skipped", reason)
    if namespace and not (pod.get("metadata") or {}).get("namespace"):
        # Never write the namespace into the Pod: the API server sets it.
        injected["metadata"].pop("namespace", None)
        original["metadata"].pop("namespace", None)
    return Outcome(uid, "injected", "injected", patch=make_patch(pod, injected))


def make_patch(before: Any, after: Any) -> list[dict]:
    import jsonpatch

    return jsonpatch.make_patch(before, after).patch


def response(outcome: Outcome) -> dict:
    """The AdmissionReview v1 answer for an outcome."""
    answer: dict[str, Any] = {"uid": outcome.uid, "allowed": outcome.action != "refused"}
    if outcome.action == "refused":
        answer["status"] = {"code": 400, "reason": "BadRequest", "message": outcome.message}
    elif outcome.action != "injected":
        answer["status"] = {"code": 200, "message": outcome.message}
    if outcome.patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(json.dumps(outcome.patch).encode()).decode()
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}


def validation_review(body: bytes) -> tuple[int, dict, Outcome | None]:
    """/validate: HTTP status, JSON body and outcome for one POSTed body. Never raises."""
    from meshtool.controlplane.admission import validate_request

    try:
        request = parse_review(body)
        allowed, message = validate_request(request)
    except BadReview as exc:
        return 400, {"error": str(exc)}, None
    except Exception as exc:  # noqa: BLE001 - a bug must not take the webhook down
        log.exception("internal error while validating a request")
        return 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}, None
    outcome = Outcome(request["uid"], "allowed" if allowed else "refused", message)
    kind = (request.get("kind") or {}).get("kind") if isinstance(request.get("kind"), dict) else None
    outcome.subject = f"{kind or 'object'} {request.get('namespace') or '-'}/{request.get('name') or '?'}"
    answer: dict[str, Any] = {"uid": outcome.uid, "allowed": allowed}
    if not allowed:
        answer["status"] = {"code": 422, "reason": "Invalid", "message": message}
    return 200, {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}, outcome


def review(body: bytes, config: InjectConfig) -> tuple[int, dict, Outcome | None]:
    """HTTP status, JSON body and outcome for one POSTed body. Never raises."""
    try:
        request = parse_review(body)
        outcome = decide(request, config)
        outcome.subject = _describe(request)
    except BadReview as exc:
        return 400, {"error": str(exc)}, None
    except Exception as exc:  # noqa: BLE001 - a bug must not take the webhook down
        log.exception("internal error while reviewing a request")
        return 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}, None
    return 200, response(outcome), outcome


# --- the HTTPS server ----------------------------------------------------------------

def make_app(config: InjectConfig):
    from aiohttp import web

    def handler(answer):
        async def handle(request: web.Request) -> web.Response:
            if request.content_type not in ("application/json", ""):
                return web.json_response({"error": f"content type {request.content_type} is not "
                                          "application/json"}, status=415)
            body = await request.read()
            status, payload, outcome = answer(body)
            if outcome is None:
                log.warning("refused a request: %s", payload.get("error"))
            else:
                log.info("%s %s: %s", outcome.action, outcome.subject, outcome.message)
            return web.json_response(payload, status=status)
        return handle

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def remote(request: web.Request) -> web.Response:
        # A remote cluster's webhook (`install --remote`) says in its URL which cluster the
        # Pods run in and where their sidecars find the control plane (URLs carry no query).
        cluster, address = request.match_info["cluster"], request.match_info["address"]
        if not REMOTE_PARTS.fullmatch(cluster) or not REMOTE_PARTS.fullmatch(address):
            return web.json_response({"error": "bad cluster name or control-plane address in "
                                      "the path"}, status=400)
        remote_config = config.with_overrides(cluster=cluster, control_plane=address)
        return await handler(lambda body: review(body, remote_config))(request)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(PATH, handler(lambda body: review(body, config)))
    app.router.add_post(PATH + "/cluster/{cluster}/control-plane/{address}", remote)
    app.router.add_post(VALIDATE_PATH, handler(validation_review))
    app.router.add_get("/healthz", healthz)
    return app


def _describe(request: dict) -> str:
    try:
        meta = (request.get("object") or {}).get("metadata") or {}
        name = meta.get("name") or meta.get("generateName") or request.get("name") or "<unnamed>"
        return f"pod {request.get('namespace') or meta.get('namespace') or '?'}/{name}"
    except Exception:  # noqa: BLE001 - only for the log line
        return "request"


def tls_context(cert_file: str, key_file: str):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


async def serve_webhook(host: str, port: int, cert_file: str, key_file: str, stop,
                        config: InjectConfig | None = None, started=None) -> None:
    """Serve /inject over HTTPS until `stop` (an asyncio.Event) is set.

    `started`, if given, is an asyncio.Future set to the bound port once listening.
    """
    from aiohttp import web

    runner = web.AppRunner(make_app(config or InjectConfig()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls_context(cert_file, key_file))
    try:
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        log.info("injection webhook listening on https://%s:%s%s", host, bound, PATH)
        if started is not None and not started.done():
            started.set_result(bound)
        await stop.wait()
    finally:
        await runner.cleanup()
