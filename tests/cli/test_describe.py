"""`meshtool describe`: one rule, its conditions, and which proxies hold it, against a real
control plane and simulated proxies (real WebSocket clients that ACK, or NACK one rule)."""

import json
import subprocess
import sys

import pytest

from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet, free_port
from meshtool.model.resource import Resource
from meshtool.store import open_store


def meshtool(*args, store):
    return subprocess.run([sys.executable, "-m", "meshtool", *args, "--store", str(store)],
                          capture_output=True, text=True, timeout=60)


def rule(name, weights=(100,)):
    return Resource("RouteRule", name, "default", {
        "destination": {"name": "ds-svc0"},
        "route": [{"labels": {"version": f"v{i}"}, "weight": w} for i, w in enumerate(weights)]})


def synced_on(cp, revision):
    def check(t):
        return (len(t["proxies"]) == 2 and t["storeRevision"] >= revision
                and all(p["acked"] and p["acked"]["version"] == t["version"]
                        or p["status"] == "ERROR" for p in t["proxies"]))
    return check


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("describe")
    store = tmp_path / "store.db"
    with open_store(str(store)) as st:
        st.create([rule("good")])
    with ControlPlaneProcess(store, log=tmp_path / "cp.log") as cp, \
            SimulatedFleet(cp.address, 2, prefix="ds", nack_rule="nacked", admin_base="auto",
                           log=tmp_path / "fleet.log"):
        cp.wait_for(synced_on(cp, 1))
        yield cp, store


def describe(cp, store, *args):
    r = meshtool("describe", *args, "--control-plane", cp.address, "-o", "json", store=store)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_rule_every_proxy_acked_is_held_by_all(mesh):
    cp, store = mesh
    report = describe(cp, store, "rr", "good")
    assert report["resource"]["metadata"]["name"] == "good"
    assert report["conditions"][0]["type"] == "Accepted" and report["conditions"][0]["status"] == "True"
    assert sorted((p["proxyId"], p["holds"]) for p in report["proxies"]) == \
        [("ds-0.default", True), ("ds-1.default", True)]
    text = meshtool("describe", "rr/good", "--control-plane", cp.address, store=store)
    assert text.returncode == 0, text.stderr
    assert "Proxies:      2 of 2 hold this version" in text.stdout
    assert "Accepted   True" in text.stdout


def test_a_nacked_rule_is_held_by_no_proxy_and_an_older_one_still_is(mesh):
    cp, store = mesh
    with open_store(str(store)) as st:
        st.create([rule("nacked")])
        revision = st.revision()
    try:
        cp.wait_for(lambda t: t["storeRevision"] >= revision
                    and {p["status"] for p in t["proxies"]} == {"ERROR"})
        report = describe(cp, store, "rr", "nacked")
        assert report["conditions"][0]["status"] == "True"  # valid; the proxies refused it
        assert [p["holds"] for p in report["proxies"]] == [False, False]
        assert {p["status"] for p in report["proxies"]} == {"ERROR"}
        assert all(p["holds"] for p in describe(cp, store, "rr", "good")["proxies"])
    finally:
        with open_store(str(store)) as st:
            st.delete([("RouteRule", "default", "nacked")])
        cp.wait_for(lambda t: {p["status"] for p in t["proxies"]} == {"SYNCED"})


def test_an_invalid_stored_rule_is_not_accepted_and_held_by_none(mesh):
    cp, store = mesh
    with open_store(str(store)) as st:  # the store takes it; validate would not (90 + 20)
        st.create([rule("overweight", (90, 20))])
        revision = st.revision()
    try:
        cp.wait_for(lambda t: any(i["name"] == "overweight" for i in t["invalid"]))
        cp.wait_for(synced_on(cp, revision))
        report = describe(cp, store, "rr", "overweight")
        accepted = report["conditions"][0]
        assert accepted["status"] == "False" and "100" in accepted["message"]
        assert [p["holds"] for p in report["proxies"]] == [False, False]
    finally:
        with open_store(str(store)) as st:
            st.delete([("RouteRule", "default", "overweight")])


def test_without_a_control_plane_the_rule_is_still_described(tmp_path):
    store = tmp_path / "store.db"
    with open_store(str(store)) as st:
        st.create([rule("alone", (90, 20))])
    port = free_port()
    r = meshtool("describe", "rr", "alone", "--control-plane", f"127.0.0.1:{port}", store=store)
    assert r.returncode == 0, r.stderr
    assert "Proxies:      unknown (" in r.stdout and "cannot reach the control plane" in r.stdout
    assert "Accepted   False" in r.stdout and "the control plane leaves it out" in r.stdout


def test_a_rule_of_another_api_shows_whether_it_resolves(tmp_path):
    store = tmp_path / "store.db"
    vs = tmp_path / "vs.yaml"
    vs.write_text("apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
                  "metadata: {name: hw}\nspec:\n  hosts: [helloworld]\n  http:\n"
                  "  - route:\n    - destination: {host: helloworld, subset: v1}\n")
    created = meshtool("create", "-f", str(vs), store=store)
    assert created.returncode == 0, created.stderr
    r = meshtool("describe", "vs", "hw", "--control-plane", f"127.0.0.1:{free_port()}", "-o",
                 "json", store=store)
    assert r.returncode == 0, r.stderr
    resolved = [c for c in json.loads(r.stdout)["conditions"] if c["type"] == "Resolved"]
    assert resolved and resolved[0]["status"] == "False" and "v1" in resolved[0]["message"]


@pytest.mark.parametrize("args", [("rr",), ("rr", "a", "b"), ("rr", "missing")])
def test_bad_arguments_are_one_line_errors(tmp_path, args):
    r = meshtool("describe", *args, store=tmp_path / "store.db")
    assert r.returncode in (1, 64) and r.stderr.startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr


def test_an_ingress_whose_backend_service_is_missing_is_unresolved_by_the_control_plane(
        mesh, tmp_path):
    """The control plane knows the Services: it leaves the Ingress out (the gateway answers
    404), and describe says so rather than compiling it here, where no Service is known."""
    cp, store = mesh
    ingress = tmp_path / "ingress.yaml"
    ingress.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop}\n"
                       "spec:\n  defaultBackend:\n    service: {name: nowhere, port: {number: 80}}\n")
    created = meshtool("create", "-f", str(ingress), store=store)
    assert created.returncode == 0, created.stderr
    cp.wait_for(lambda t: t["storeRevision"] >= 2)
    resolved = [c for c in describe(cp, store, "ingress", "shop")["conditions"]
                if c["type"] == "Resolved"]
    assert resolved == [{"type": "Resolved", "status": "False", "reason": "UnresolvedReference",
                         "message": "backend Service 'nowhere' (namespace 'default') not found "
                                    "(the control plane leaves it out)"}]
    r = meshtool("describe", "ingress", "shop", "--control-plane", f"127.0.0.1:{free_port()}",
                 "-o", "json", store=store)  # no control plane: compiled here, no Services known
    assert [c["status"] for c in json.loads(r.stdout)["conditions"]
            if c["type"] == "Resolved"] == ["True"]
