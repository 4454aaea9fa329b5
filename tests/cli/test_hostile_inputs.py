"""Inputs that must never break meshtool: each gives one clear line and a documented exit code,
quickly, and writes nothing half-way. The real entry point in a real process (a hang or a crash
of the interpreter is part of what is checked)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from meshtool.localmesh.supervisor import meshtool_command

DEEP_JSON = "[" * 10_000 + "]" * 10_000
BOMB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec: {template: {spec: {containers: [{name: a, image: b}]}}}
"""
ANCHORED = {
    "labels-aliased-into-the-template": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &l
    app: web
spec:
  selector:
    matchLabels: *l
  template:
    metadata:
      labels: *l
    spec:
      containers:
      - name: web
        image: nginx
""",
    "anchored-containers": """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers: &c
  - name: web
    image: nginx
    ports:
    - containerPort: 8080
  initContainers: *c
""",
    "aliased-probe-action": """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 8080
    livenessProbe:
      httpGet: &h
        path: /h
        port: 8080
    readinessProbe:
      httpGet: *h
""",
}
DOCUMENTED = {0, 1, 64, 65, 79}


def meshtool(*args, cwd, env=None, stdin="", timeout=30):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESHTOOL_")}
    full_env.update(XDG_STATE_HOME=str(Path(cwd) / "state"), HOME=str(cwd),
                    MESHTOOL_STORE=str(Path(cwd) / "store.db"), **(env or {}))
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "meshtool", *args], cwd=cwd, env=full_env, input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    r.seconds = time.monotonic() - started
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.returncode in DOCUMENTED, (r.returncode, r.stderr)
    return r


@pytest.mark.parametrize("command", [["validate"], ["analyze", "-f"], ["kube-inject", "-f"],
                                     ["uninject", "-f"], ["create", "-f"], ["convert", "-f"]])
# proxy run answers a deep snapshot with a NACK and keeps serving: tests/sidecar covers that.
def test_ten_thousand_levels_of_json_are_refused(tmp_path, command):
    (tmp_path / "deep.json").write_text(DEEP_JSON)
    r = meshtool(*command, "deep.json", cwd=tmp_path)
    assert r.returncode == 65 and "nested too deeply" in r.stderr + r.stdout


def test_a_deep_mesh_file_is_refused(tmp_path):
    (tmp_path / "mesh.yaml").write_text("apiVersion: local.meshtool.io/v1alpha1\nkind: LocalMesh\n"
                                        f"metadata: {{name: x}}\nspec: {DEEP_JSON}\n")
    r = meshtool("up", "-f", "mesh.yaml", "--state-dir", str(tmp_path / "mesh"), cwd=tmp_path)
    assert r.returncode == 65 and "mesh.yaml" in r.stderr


@pytest.mark.parametrize("command", ["kube-inject", "uninject"])
def test_an_alias_bomb_is_refused_at_once(tmp_path, command):
    (tmp_path / "bomb.yaml").write_text(BOMB)
    r = meshtool(command, "-f", "bomb.yaml", cwd=tmp_path)
    assert r.returncode == 65 and "alias bomb" in r.stderr and r.stdout == ""
    assert r.seconds < 10


@pytest.mark.parametrize("name", sorted(ANCHORED))
def test_anchors_and_aliases_give_yaml_that_parses_or_a_refusal(tmp_path, name):
    (tmp_path / "in.yaml").write_text(ANCHORED[name])
    r = meshtool("kube-inject", "-f", "in.yaml", cwd=tmp_path)
    if r.returncode == 65:
        assert "YAML aliases" in r.stderr and r.stdout == ""
        return
    assert r.returncode == 0
    injected = yaml.safe_load(r.stdout)  # must parse
    names = [c["name"] for c in injected["spec"].get("template", injected)["spec"]["containers"]]
    assert names.count("meshtool-proxy") == 1
    back = meshtool("uninject", "-f", "-", cwd=tmp_path, stdin=r.stdout)
    assert back.returncode == 0 and back.stdout == ANCHORED[name]


def test_a_fifo_as_input_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    for command in (["validate"], ["kube-inject", "-f"], ["create", "-f"], ["analyze", "-f"]):
        r = meshtool(*command, "pipe.yaml", cwd=tmp_path, timeout=20)
        assert r.returncode == 64 and "not a regular file" in r.stderr
    # the sidecar too: at start (exit 64 at once), not an admin port that never answers
    r = meshtool("proxy", "run", "--snapshot", "pipe.yaml", "--service", "x", cwd=tmp_path,
                 timeout=20)
    assert r.returncode == 64 and "not a regular file" in r.stderr, r.stderr


@pytest.mark.parametrize("store", ["", "/dev/null"])
def test_a_store_that_is_no_file_is_refused(tmp_path, store):
    journal = Path("/dev/null-journal")
    existed = journal.exists()
    r = meshtool("get", "rr", "--store", store, cwd=tmp_path)
    assert r.returncode == 64 and "store" in r.stderr
    assert journal.exists() == existed


def test_output_files_follow_the_umask_and_write_through_symlinks(tmp_path):
    (tmp_path / "app.yaml").write_text(ANCHORED["anchored-containers"].replace(
        "  initContainers: *c\n", "").replace("&c", ""))
    env_umask = subprocess.run(["sh", "-c", f"umask 027 && cd {tmp_path} && " + " ".join(
        [sys.executable, "-m", "meshtool", "kube-inject", "-q", "-f", "app.yaml", "-o", "new.yaml"])],
        capture_output=True, text=True)
    assert env_umask.returncode == 0, env_umask.stderr
    assert stat.S_IMODE((tmp_path / "new.yaml").stat().st_mode) == 0o640
    (tmp_path / "target.yaml").write_text("")
    (tmp_path / "target.yaml").chmod(0o604)
    (tmp_path / "link.yaml").symlink_to("target.yaml")
    r = meshtool("kube-inject", "-q", "-f", "app.yaml", "-o", "link.yaml", cwd=tmp_path)
    assert r.returncode == 0
    assert (tmp_path / "link.yaml").is_symlink()
    assert "meshtool-proxy" in (tmp_path / "target.yaml").read_text()
    assert stat.S_IMODE((tmp_path / "target.yaml").stat().st_mode) == 0o604


@pytest.mark.parametrize("command", [["validate"], ["analyze", "-f"]])
def test_checking_nothing_fails_unless_allowed(tmp_path, command):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "empty-dir").mkdir()
    for target in ("empty.yaml", "empty-dir", "-"):
        r = meshtool(*command, target, cwd=tmp_path)
        assert r.returncode == 65 and "nothing was" in r.stderr
        assert meshtool(*command, target, "--allow-empty", cwd=tmp_path).returncode == 0


def test_up_names_a_service_command_that_does_not_exist(tmp_path):
    from meshtool.ports import free_port

    (tmp_path / "mesh.yaml").write_text(
        "apiVersion: local.meshtool.io/v1alpha1\nkind: LocalMesh\nmetadata: {name: x}\n"
        "spec:\n  services:\n  - name: a\n    port: 5000\n"
        "    command: [/no/such/program, --port, '{port}']\n")
    r = meshtool("up", "-f", "mesh.yaml", "--state-dir", str(tmp_path / "mesh"),
                 "--control-plane-port", str(free_port()), cwd=tmp_path, timeout=60)
    assert r.returncode == 65
    assert "cannot start app a: /no/such/program: No such file or directory" in r.stderr


def test_children_import_the_installed_package_whatever_the_working_directory(tmp_path):
    # a clone's parent directory holds a folder named meshtool: `python -m meshtool` would run it
    fake = tmp_path / "meshtool"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("raise SystemExit('the wrong meshtool')\n")
    r = subprocess.run(meshtool_command("--version"), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("meshtool "), r.stderr


def test_a_damaged_store_row_is_named_and_the_rest_still_served(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("---\n".join(
        f"apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata: {{name: {n}}}\n"
        f"spec: {{destination: {{name: benigno}}}}\n" for n in ("good", "notjson", "notobject")))
    assert meshtool("create", "-f", "rules.yaml", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("UPDATE objects SET body = '{not json' WHERE name = 'notjson'")
        db.execute("UPDATE objects SET body = '[1, 2]' WHERE name = 'notobject'")
    r = meshtool("get", "rr", "-o", "name", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "route-rule/default/good\n"
    assert "config route-rule/default/notjson: the stored row is damaged" in r.stderr
    assert "config route-rule/default/notobject: the stored row is damaged" in r.stderr
    r = meshtool("get", "rr", "notjson", cwd=tmp_path)
    assert r.returncode == 1 and "cannot be shown: the stored row is damaged" in r.stderr
    r = meshtool("delete", "route-rule/default/notjson", "rr/notobject", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = meshtool("get", "rr", "-o", "name", cwd=tmp_path)
    assert r.stdout == "route-rule/default/good\n" and r.stderr == ""


def test_the_control_plane_reports_a_damaged_row_once_and_serves_the_rest(tmp_path):
    from meshtool.testing.processes import ControlPlaneProcess

    rules = tmp_path / "rules.yaml"
    rules.write_text("---\n".join(
        f"apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata: {{name: {n}}}\n"
        f"spec: {{destination: {{name: benigno}}}}\n" for n in ("good", "bad")))
    assert meshtool("create", "-f", "rules.yaml", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("UPDATE objects SET body = 'oops' WHERE name = 'bad'")
    log = tmp_path / "cp.log"
    with ControlPlaneProcess(tmp_path / "store.db", log=log) as cp:
        cp.wait_for(lambda t: t.get("storeLoaded"), 15)
        (tmp_path / "more.yaml").write_text(rules.read_text().split("---\n")[0].replace(
            "good", "later"))
        assert meshtool("create", "-f", "more.yaml", cwd=tmp_path).returncode == 0
        cp.wait_for(lambda t: t.get("storeRevision") == 2, 15)
    text = log.read_text()
    assert text.count("damaged") == 1, text  # reported once, not at every poll
