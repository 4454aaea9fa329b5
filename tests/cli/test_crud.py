"""create / replace / delete / get through the real entry point: messages, output, exit codes."""

import json
import os
import subprocess
import sys

import pytest
import yaml

CANARY = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: reviews-canary
spec:
  destination:
    name: benigno
  route:
  - labels: {version: v1}
    weight: 90
  - labels: {version: v2}
    weight: 10
"""

EGRESS = """\
apiVersion: config.meshtool.io/v1alpha1
kind: EgressRule
metadata:
  name: msgd
spec:
  destination:
    service: msgd.example.com
  ports:
  - port: 9997
    protocol: http
"""

BAD_WEIGHTS = """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: broken
spec:
  destination:
    name: benigno
  route:
  - labels: {version: v1}
    weight: 90
  - labels: {version: v2}
    weight: 20
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: benigno
spec:
  ports: [{port: 5000}]
"""


@pytest.fixture
def mt(tmp_path, monkeypatch, run_cli):
    """Run meshtool in-process against a store file in tmp_path (never the user's)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("MESHTOOL_STORE", str(tmp_path / "store.db"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str, stdin: str | None = None):
        r = run_cli(*args, stdin=stdin)
        assert "internal error" not in r.err and "Traceback" not in r.err
        return r

    return run


def write(path, *docs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(docs))
    return os.path.relpath(path)  # the tests run in tmp_path: messages name files as typed


# -- create ------------------------------------------------------------------------------------

def test_create_reports_each_rule_at_one_revision(mt, tmp_path):
    f = write(tmp_path / "rules.yaml", CANARY, EGRESS, SERVICE)
    r = mt("create", "-f", f)
    assert r.code == 0 and r.out == ""
    assert r.err.splitlines() == [
        "rules.yaml:25: Service/benigno is not a rule (skipped)",
        "Created config route-rule/default/reviews-canary at revision 1",
        "Created config egress-rule/default/msgd at revision 1",
    ]
    r = mt("create", "-f", write(tmp_path / "more.yaml", CANARY.replace("reviews-canary", "b")))
    assert r.err == "Created config route-rule/default/b at revision 2\n"


def test_create_existing_is_error_1_and_names_file_and_line(mt, tmp_path):
    f = write(tmp_path / "rules.yaml", CANARY, EGRESS)
    mt("create", "-f", f)
    r = mt("create", "-f", f)
    assert r.code == 1
    assert r.err.splitlines() == [
        "error: rules.yaml:1: config route-rule/default/reviews-canary already exists",
        "  rules.yaml:14: config egress-rule/default/msgd already exists",
        "hint: use `meshtool replace` to change an existing rule",
    ]


def test_one_bad_document_stores_nothing(mt, tmp_path):
    f = write(tmp_path / "rules.yaml", CANARY, EGRESS, BAD_WEIGHTS)
    r = mt("create", "-f", f)
    assert r.code == 65
    assert r.err.startswith("error: rules.yaml:")
    assert "RouteRule/broken" in r.err and "weight" in r.err
    assert "Created" not in r.err
    r = mt("get", "all", "-A")
    assert r.code == 0 and r.out == "" and "No rules found" in r.err


def test_broken_yaml_is_65_with_file_and_line(mt, tmp_path):
    f = write(tmp_path / "bad.yaml", "kind: RouteRule\nmetadata: {name: x\n")
    r = mt("create", "-f", f)
    assert r.code == 65
    assert r.err.startswith("error: bad.yaml:") and "invalid YAML" in r.err


def test_input_without_rules_is_bad_input(mt, tmp_path):
    r = mt("create", "-f", write(tmp_path / "svc.yaml", SERVICE))
    assert r.code == 65
    assert r.err.splitlines()[-1] == "error: no rules found in svc.yaml"


def test_create_usage_errors_are_64(mt, tmp_path):
    assert mt("create").code == 64
    r = mt("create", "-f", "missing.yaml")
    assert r.code == 64 and r.err == "error: missing.yaml: no such file or directory\n"
    assert mt("create", "--bogus").code == 64


def test_create_from_stdin_and_from_a_directory(mt, tmp_path):
    r = mt("create", "-f", "-", stdin=CANARY)
    assert r.err == "Created config route-rule/default/reviews-canary at revision 1\n"
    write(tmp_path / "dir" / "a.yaml", EGRESS)
    write(tmp_path / "dir" / "sub" / "b.yml", CANARY.replace("reviews-canary", "deep"))
    (tmp_path / "dir" / "notes.txt").write_text("ignored")
    r = mt("create", "-f", str(tmp_path / "dir"))
    assert r.err.splitlines() == ["Created config egress-rule/default/msgd at revision 2",
                                  "Created config route-rule/default/deep at revision 2"]


def test_namespace_fills_missing_and_refuses_a_mismatch(mt, tmp_path):
    r = mt("create", "-n", "prod", "-f", write(tmp_path / "a.yaml", CANARY))
    assert r.err == "Created config route-rule/prod/reviews-canary at revision 1\n"
    own = EGRESS.replace("name: msgd", "name: msgd\n  namespace: staging")
    f = write(tmp_path / "b.yaml", own)
    r = mt("create", "-n", "prod", "-f", f)
    assert r.code == 65
    assert "metadata.namespace" in r.err and "staging" in r.err and "prod" in r.err
    r = mt("create", "-f", f)  # without -n the document's own namespace is used
    assert r.err == "Created config egress-rule/staging/msgd at revision 2\n"


# -- replace -----------------------------------------------------------------------------------

def test_replace_updates_and_refuses_a_stale_version(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY))
    got = mt("get", "rr", "reviews-canary", "-o", "yaml")
    manifest = yaml.safe_load(got.out)
    assert manifest["metadata"]["resourceVersion"] == "1"
    manifest["spec"]["route"][0]["weight"], manifest["spec"]["route"][1]["weight"] = 50, 50
    edited = write(tmp_path / "edited.yaml", yaml.safe_dump(manifest))
    r = mt("replace", "-f", edited)
    assert r.code == 0
    assert r.err == "Updated config route-rule/default/reviews-canary to revision 2\n"
    r = mt("replace", "-f", edited)  # still says resourceVersion 1
    assert r.code == 1
    rv_line = (tmp_path / "edited.yaml").read_text().splitlines().index(
        "  resourceVersion: '1'") + 1  # the error points at the line to fix
    assert r.err == (f"error: edited.yaml:{rv_line}: metadata.resourceVersion: config "
                     "route-rule/default/reviews-canary has been "
                     "modified: resourceVersion 1 is not the latest (2); get it again and retry\n")
    r = mt("replace", "-f", str(tmp_path / "a.yaml"))  # no resourceVersion: unconditional
    assert r.err == "Updated config route-rule/default/reviews-canary to revision 3\n"
    weights = [x["weight"] for x in yaml.safe_load(mt("get", "rr", "reviews-canary", "-o",
                                                      "yaml").out)["spec"]["route"]]
    assert weights == [90, 10]


def test_replace_missing_is_error_1_and_stores_nothing(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY))
    r = mt("replace", "-f", write(tmp_path / "b.yaml", CANARY, EGRESS))
    assert r.code == 1
    assert r.err.splitlines() == ["error: b.yaml:14: config egress-rule/default/msgd not found",
                                  "hint: use `meshtool create` to add a new rule"]
    assert "REVISION" in mt("get", "rr").out
    assert mt("get", "rr", "-o", "json").out.count('"resourceVersion": "1"') == 1


# -- get ---------------------------------------------------------------------------------------

def test_get_table_lists_name_kind_namespace_revision_age(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, EGRESS))
    mt("create", "-n", "prod", "-f", write(tmp_path / "b.yaml", CANARY))
    r = mt("get", "rr")
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "NAMESPACE", "REVISION", "AGE"]
    assert lines[1].split()[:4] == ["reviews-canary", "RouteRule", "default", "1"]
    assert lines[1].split()[4].endswith("s")
    assert len(lines) == 2
    r = mt("get", "routerules", "-A")
    assert [line.split()[2] for line in r.out.splitlines()[1:]] == ["default", "prod"]
    r = mt("get", "all")
    assert [line.split()[0] for line in r.out.splitlines()[1:]] == ["msgd", "reviews-canary"]
    assert all(line == line.rstrip() for line in r.out.splitlines())


@pytest.mark.parametrize("alias", ["rr", "routerule", "RouteRules", "route-rule"])
def test_get_accepts_kind_aliases(mt, tmp_path, alias):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY))
    assert mt("get", alias, "-o", "name").out == "route-rule/default/reviews-canary\n"


def test_get_yaml_json_and_name(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, EGRESS))
    one = json.loads(mt("get", "er", "msgd", "-o", "json").out)
    assert one["kind"] == "EgressRule" and one["metadata"] == {
        "name": "msgd", "namespace": "default", "resourceVersion": "1"}
    assert one["spec"]["ports"] == [{"port": 9997, "protocol": "http"}]
    many = json.loads(mt("get", "all", "-o", "json").out)
    assert many["kind"] == "List" and [i["metadata"]["name"] for i in many["items"]] == [
        "msgd", "reviews-canary"]
    docs = list(yaml.safe_load_all(mt("get", "all", "-o", "yaml").out))
    assert [d["kind"] for d in docs] == ["EgressRule", "RouteRule"]
    assert mt("get", "all", "-o", "name").out == "egress-rule/default/msgd\nroute-rule/default/reviews-canary\n"


def test_get_errors(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY))
    r = mt("get", "rr", "nope")
    assert r.code == 1 and r.err == "error: config route-rule/default/nope not found\n"
    r = mt("get", "widgets")
    assert r.code == 64
    assert r.err.startswith('error: unknown kind "widgets"; use one of routerule (rr), '
                            "egressrule (er), destinationpolicy (dp), mtlspolicy, accesspolicy (ap), "
                            "virtualservice (vs), destinationrule (dr), serviceentry (se), ")
    for kind in ("trafficroute", "httproute", "grpcroute", "gateway (gtw)", "ingress (ing)",
                 "peerauthentication (pa)", "gateway.networking.istio.io (gw)"):
        assert kind in r.err  # every stored kind, from the kinds table
        assert mt("get", kind.split(" ")[0]).code == 0
    assert mt("get", "rr", "-o", "xml").code == 64
    assert mt("get", "rr", "reviews-canary", "-A").code == 64
    assert mt("get").code == 64
    r = mt("get", "dp")
    assert r.code == 0 and r.out == "" and r.err == 'No rules found in namespace "default".\n'


# -- delete ------------------------------------------------------------------------------------

def test_delete_by_kind_and_names(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, CANARY.replace("reviews-canary", "b")))
    r = mt("delete", "rr", "reviews-canary", "b")
    assert r.code == 0
    assert r.err.splitlines() == ["Deleted config route-rule/default/reviews-canary",
                                  "Deleted config route-rule/default/b"]
    assert mt("get", "rr").out == ""


def test_delete_missing_deletes_nothing(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY))
    r = mt("delete", "rr", "reviews-canary", "ghost")
    assert r.code == 1 and r.err == "error: config route-rule/default/ghost not found\n"
    assert "reviews-canary" in mt("get", "rr").out


def test_delete_by_file_of_native_security_kinds(mt, tmp_path):
    from pathlib import Path

    rules = Path(__file__).resolve().parents[2] / "samples" / "mtls" / "rules"
    for name in ("deny-magnanimo.yaml", "strict.yaml"):
        assert mt("create", "-f", str(rules / name)).code == 0
        r = mt("delete", "-f", str(rules / name))
        assert r.code == 0 and r.err.startswith("Deleted config "), r.err


def test_delete_by_file_and_by_get_o_name(mt, tmp_path):
    f = write(tmp_path / "a.yaml", CANARY, EGRESS)
    mt("create", "-f", f)
    r = mt("delete", "-f", f)
    assert r.err.splitlines() == ["Deleted config route-rule/default/reviews-canary",
                                  "Deleted config egress-rule/default/msgd"]
    mt("create", "-f", f)
    names = mt("get", "all", "-o", "name").out.split()
    r = mt("delete", *names)
    assert r.code == 0 and r.err.count("Deleted config") == 2


def test_delete_usage_errors(mt, tmp_path):
    f = write(tmp_path / "a.yaml", CANARY)
    assert mt("delete").code == 64
    assert mt("delete", "rr").code == 64
    assert mt("delete", "rr", "x", "-f", f).code == 64
    assert mt("delete", "rr/x", "y").code == 64
    r = mt("delete", "widget", "x")
    assert r.code == 64 and "unknown kind" in r.err


# -- the store option ----------------------------------------------------------------------------

def test_store_option_overrides_the_environment(mt, tmp_path):
    other = tmp_path / "elsewhere" / "other.db"
    mt("create", "--store", str(other), "-f", write(tmp_path / "a.yaml", CANARY))
    assert other.is_file()
    assert mt("get", "rr").out == ""
    assert "reviews-canary" in mt("get", "rr", "--store", str(other)).out


def test_kubernetes_store_and_a_non_store_file_are_one_line_errors(mt, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    r = mt("get", "rr", "--store", "kubernetes")
    assert r.code == 1 and r.err.startswith(f"error: kubeconfig {tmp_path / 'no-kubeconfig'} not found")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00garbage" * 1000)
    r = mt("get", "rr", "--store", str(junk))
    assert r.code == 1
    assert r.err == f"error: store {junk} is not a meshtool store: file is not a database\n"


# -- two real processes --------------------------------------------------------------------------

def test_two_cli_replaces_with_the_same_version_one_conflicts(tmp_path):
    env = {"MESHTOOL_STORE": str(tmp_path / "s.db"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "meshtool"]
    (tmp_path / "a.yaml").write_text(CANARY)
    subprocess.run([*cmd, "create", "-f", "a.yaml"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    for who, weights in (("p1", (50, 50)), ("p2", (0, 100))):
        doc = CANARY.replace("reviews-canary", "reviews-canary\n  resourceVersion: \"1\"")
        doc = doc.replace("weight: 90", f"weight: {weights[0]}").replace(
            "weight: 10", f"weight: {weights[1]}")
        (tmp_path / f"{who}.yaml").write_text(doc)
    procs = [subprocess.Popen([*cmd, "replace", "-f", f"{who}.yaml"], cwd=tmp_path, env=env,
                              stderr=subprocess.PIPE, text=True) for who in ("p1", "p2")]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    winner = 0 if results[0][0] == 0 else 1
    assert results[winner][1].endswith("to revision 2\n")
    assert "is not the latest (2)" in results[1 - winner][1]
    out = subprocess.run([*cmd, "get", "rr", "reviews-canary", "-o", "json"], cwd=tmp_path,
                         env=env, check=True, capture_output=True, text=True).stdout
    stored = [r["weight"] for r in json.loads(out)["spec"]["route"]]
    assert stored == ([50, 50] if winner == 0 else [0, 100])
    assert json.loads(out)["metadata"]["resourceVersion"] == "2"


def test_help_of_every_store_command_has_examples(mt):
    for command in ("create", "replace", "delete", "get", "completion"):
        r = mt(command, "--help")
        assert r.code == 0 and "Examples:" in r.out, command


# -- random and mutated input ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-200, 200), st.text(max_size=8),
                     st.floats(allow_nan=False))
_json = st.recursive(_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)),
    max_leaves=12)


@st.composite
def mutated_rules(draw):
    """The canary rule with a random cut, insertion or replaced field."""
    text = CANARY + "---\n" + EGRESS
    choice = draw(st.integers(0, 3))
    if choice == 0:  # cut a random slice
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        return text[:i] + text[j:]
    if choice == 1:  # insert random characters (YAML punctuation included)
        i = draw(st.integers(0, len(text)))
        return text[:i] + draw(st.text(alphabet=":-[]{}#&*!|>'\"%@ \n\tab1", max_size=12)) + text[i:]
    if choice == 2:  # a field replaced by random data
        doc = yaml.safe_load(CANARY)
        path = draw(st.sampled_from([("spec",), ("spec", "route"), ("spec", "destination"),
                                     ("metadata",), ("metadata", "name"), ("kind",),
                                     ("apiVersion",), ("spec", "route", 0, "weight")]))
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = draw(_json)
        return yaml.safe_dump(doc)
    return draw(st.text(max_size=200))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=mutated_rules(), command=st.sampled_from(["create", "replace"]))
def test_random_and_mutated_yaml_gives_only_meshtool_errors(mt, text, command):
    r = mt(command, "-f", "-", stdin=text)  # mt asserts: no internal error, no traceback
    assert r.code in (0, 1, 65), r.err
    if r.code:
        assert "error: " in r.err


# -- other APIs, stored as authored -------------------------------------------------------------
# Istio VirtualService and DestinationRule applied as separate commands, in either order, shown
# back as written with a Resolved condition saying whether (and why not) they compile.

VS_AUTHORED = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: helloworld
spec:
  hosts: [helloworld]
  http:
  - route:
    - destination: {host: helloworld, subset: v2}
"""
DR_AUTHORED = """\
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def _vs_condition(mt):
    doc = yaml.safe_load(mt("get", "vs", "helloworld", "-o", "yaml").out)
    return doc["status"]["conditions"][0]


def test_vs_then_dr_as_separate_commands(mt, tmp_path):
    r = mt("create", "-f", write(tmp_path / "vs.yaml", VS_AUTHORED))
    assert r.code == 0, r.err
    assert "virtualservice.networking.istio.io/default/helloworld" in r.err
    shown = yaml.safe_load(mt("get", "vs", "helloworld", "-o", "yaml").out)
    assert shown["apiVersion"] == "networking.istio.io/v1beta1" and shown["kind"] == "VirtualService"
    assert shown["spec"] == yaml.safe_load(VS_AUTHORED)["spec"]
    c = _vs_condition(mt)
    assert (c["status"], c["reason"]) == ("False", "UnresolvedReference")
    assert "subset 'v2' needs the DestinationRule of 'helloworld'" in c["message"]
    assert mt("create", "-f", write(tmp_path / "dr.yaml", DR_AUTHORED)).code == 0
    assert mt("get", "dr", "-o", "name").out == (
        "destinationrule.networking.istio.io/default/helloworld\n")
    assert (_vs_condition(mt)["status"], _vs_condition(mt)["message"]) == (
        "True", "compiled into RouteRule/helloworld")
    assert mt("delete", "dr", "helloworld").code == 0
    assert _vs_condition(mt)["reason"] == "UnresolvedReference"


def test_dr_then_vs_and_convert_still_prints_the_native_form(mt, tmp_path):
    assert mt("create", "-f", write(tmp_path / "dr.yaml", DR_AUTHORED)).code == 0  # no "no rules found"
    assert mt("create", "-f", write(tmp_path / "vs.yaml", VS_AUTHORED)).code == 0
    assert _vs_condition(mt)["status"] == "True"
    out = mt("convert", "-f", "vs.yaml", "-f", "dr.yaml").out
    assert "kind: RouteRule" in out and "version: v2" in out
    assert [d["kind"] for d in yaml.safe_load_all(mt("get", "all", "-o", "yaml").out)] == [
        "DestinationRule", "VirtualService"]
