"""The injection webhook without a cluster: the golden table through `review()`, refusals, TLS."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path

import jsonpatch
import pytest
import yaml

from meshtool.controlplane.webhook import review, serve_webhook
from meshtool.inject.config import STATUS_KEY, InjectConfig
from meshtool.inject.decide import sentence
from meshtool.inject.pipeline import INJECT, transform_source
from meshtool.kube.certs import generate
from meshtool.rules.sources import Source

TESTDATA = Path(__file__).resolve().parents[1] / "inject" / "testdata"


def _pods(path: Path) -> list[dict]:
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        out += [d for d in items if isinstance(d, dict) and d.get("kind") == "Pod"]
    return out


CASES = [(p, i) for p in sorted(TESTDATA.iterdir()) if p.suffix in (".yaml", ".json")
         for i in range(len(_pods(p)))]


def admission(pod: dict, uid: str = "u-1", namespace: str | None = None, **extra) -> bytes:
    meta = pod.get("metadata") or {}
    request = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": namespace or meta.get("namespace") or "default",
        "name": meta.get("name", ""),
        "object": pod,
        **extra,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": request}).encode()


def as_data(pod: dict) -> dict:
    """The Pod with the status annotation's probe originals parsed: the text of a probe kept by
    kube-inject follows the input's formatting, the webhook's (from data) does not; both must
    hold the same probe."""
    pod = json.loads(json.dumps(pod))
    annotations = pod.get("metadata", {}).get("annotations", {})
    if STATUS_KEY in annotations:
        status = json.loads(annotations[STATUS_KEY])
        for probes in status.get("probes", {}).values():
            for name, text in probes.items():
                probes[name] = yaml.safe_load(text)
        annotations[STATUS_KEY] = status
    return pod


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name}#{c[1]}" if isinstance(c, tuple) else c)
def test_golden_pods_through_the_webhook(case):
    path, index = case
    pod = _pods(path)[index]
    golden = _pods(path.with_name(path.name + ".injected"))[index]
    status, body, outcome = review(admission(pod, uid=f"uid-{index}"), InjectConfig())
    assert status == 200
    answer = body["response"]
    assert answer["uid"] == f"uid-{index}" and answer["allowed"] is True
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    # kube-inject's own report for this case says what the webhook must do.
    _, located = transform_source(Source(path.name, path.read_text(), path), INJECT, InjectConfig())
    reports = [r.report for r in located if r.report.kind == "Pod"]
    report = reports[index]
    if report.action == "injected":
        assert answer["patchType"] == "JSONPatch"
        patch = json.loads(base64.b64decode(answer["patch"]))
        patched = jsonpatch.apply_patch(pod, patch)
        assert as_data(patched) == as_data(golden)
        assert not any(op["path"] == "/metadata/namespace" for op in patch)
    else:
        assert "patch" not in answer and outcome.action == "skipped"
        assert golden == pod
        assert answer["status"]["message"] == sentence(report.reason, report.reason_args)


def test_the_golden_table_has_pods_of_both_fates():
    actions = {review(admission(_pods(p)[i]), InjectConfig())[2].action for p, i in CASES}
    assert actions == {"injected", "skipped"}


def _pod(**meta) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta},
            "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}]}}


def test_the_request_namespace_counts_when_the_pod_has_none():
    status, body, outcome = review(admission(_pod(), namespace="kube-system"), InjectConfig())
    assert status == 200 and outcome.action == "skipped"
    assert "kube-system" in body["response"]["status"]["message"]


def test_injection_uses_the_configured_control_plane():
    config = InjectConfig().with_overrides(control_plane="cp.mesh.svc:15010")
    _, body, _ = review(admission(_pod()), config)
    patch = json.loads(base64.b64decode(body["response"]["patch"]))
    assert "cp.mesh.svc:15010" in json.dumps(patch)


def test_other_objects_and_operations_pass_unchanged():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    extra = {"kind": {"group": "", "version": "v1", "kind": "Service"},
             "resource": {"group": "", "version": "v1", "resource": "services"}}
    status, body, outcome = review(admission(svc, **extra), InjectConfig())
    assert status == 200 and body["response"]["allowed"] and "patch" not in body["response"]
    status, body, outcome = review(admission(_pod(), operation="UPDATE"), InjectConfig())
    assert status == 200 and outcome.action == "ignored" and "patch" not in body["response"]


def test_an_invalid_annotation_refuses_the_pod_with_the_field():
    pod = _pod(annotations={"sidecar.meshtool.io/inject": "maybe"})
    status, body, outcome = review(admission(pod), InjectConfig())
    assert status == 200 and outcome.action == "refused"
    answer = body["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 400
    assert "sidecar.meshtool.io/inject" in answer["status"]["message"]


def test_an_already_injected_pod_gets_no_patch():
    _, body, _ = review(admission(_pod()), InjectConfig())
    injected = jsonpatch.apply_patch(_pod(), json.loads(base64.b64decode(body["response"]["patch"])))
    status, again, outcome = review(admission(injected), InjectConfig())
    assert status == 200 and again["response"]["allowed"] and "patch" not in again["response"]


@pytest.mark.parametrize("body, words", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {"uid": "x"}}',
     "apiVersion admission.k8s.io/v1"),
    (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', "no request"),
    (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"kind": {"kind": "Pod"}}}',
     "uid"),
    (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", '
     b'"request": {"uid": "x", "kind": {"kind": "Pod"}, "object": 3}}', "request.object"),
    (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", '
     b'"request": {"uid": "x", "kind": {"kind": "Pod"}, "object": {"metadata": []}}}', "metadata"),
])
def test_a_broken_review_is_a_400_with_a_message(body, words):
    status, payload, outcome = review(body, InjectConfig())
    assert status == 400 and outcome is None
    assert words in payload["error"]


def test_odd_pod_shapes_never_crash():
    odd = [{"spec": None}, {"spec": {"containers": None}}, {"spec": {"containers": [3]}},
           {"metadata": {"annotations": None}, "spec": {}}, {"spec": {"containers": [{"ports": "x"}]}}]
    for obj in odd:
        status, payload, _ = review(admission({"apiVersion": "v1", "kind": "Pod", **obj}), InjectConfig())
        assert status in (200, 400), payload


# --- over HTTPS ------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path):
    certs = generate(["localhost"], ["127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(certs.cert_pem)
    (tmp_path / "tls.key").write_bytes(certs.key_pem)
    loop = asyncio.new_event_loop()
    ready: dict = {}
    started = threading.Event()

    async def main():
        ready["stop"] = asyncio.Event()
        fut = loop.create_future()
        task = asyncio.ensure_future(serve_webhook("127.0.0.1", 0, str(tmp_path / "tls.crt"),
                                                   str(tmp_path / "tls.key"), ready["stop"],
                                                   started=fut))
        ready["port"] = await fut
        started.set()
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    context = ssl.create_default_context(cadata=certs.ca_pem.decode())
    yield f"https://127.0.0.1:{ready['port']}", context
    loop.call_soon_threadsafe(ready["stop"].set)
    thread.join(10)
    loop.close()


def post(url: str, context, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_https_inject_and_garbage_then_still_serving(served):
    url, context = served
    status, body = post(f"{url}/inject", context, admission(_pod()))
    assert status == 200 and body["response"]["patchType"] == "JSONPatch"
    status, body = post(f"{url}/inject", context, b"{garbage")
    assert status == 400 and "not JSON" in body["error"]
    status, body = post(f"{url}/inject", context, admission(_pod(labels={"sidecar.meshtool.io/inject": "false"})))
    assert status == 200 and "patch" not in body["response"]
    with urllib.request.urlopen(f"{url}/healthz", context=context, timeout=10) as response:
        assert response.read() == b"ok\n"


def test_the_serving_certificate_is_checked_against_its_ca(served):
    url, _ = served
    other = ssl.create_default_context(cadata=generate(["localhost"], ["127.0.0.1"]).ca_pem.decode())
    with pytest.raises(urllib.error.URLError):
        post(f"{url}/inject", other, admission(_pod()))
