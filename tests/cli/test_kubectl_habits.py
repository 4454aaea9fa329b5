"""The kubectl habits users bring: apply, diff, --dry-run, get KIND/NAME, -o wide|name|jsonpath|
custom-columns, -l, empty Lists, NO_COLOR, down with nothing up. Real entry point, real SQLite."""

import json
import os

import pytest
import yaml

from tests.cli.test_crud import CANARY, EGRESS, mt, write  # noqa: F401 - the fixture

HALF = CANARY.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50")
LABELLED = EGRESS.replace("  name: msgd\n", "  name: msgd\n  labels: {team: payments}\n")


def test_apply_creates_then_updates_then_leaves_unchanged(mt, tmp_path):
    f = write(tmp_path / "r.yaml", CANARY)
    assert mt("apply", "-f", f).err == "Created config route-rule/default/reviews-canary at revision 1\n"
    r = mt("apply", "-f", f)
    assert r.code == 0 and r.err == "Unchanged config route-rule/default/reviews-canary (revision 1)\n"
    g = write(tmp_path / "half.yaml", HALF)
    assert mt("apply", "-f", g).err == "Updated config route-rule/default/reviews-canary at revision 2\n"
    weights = mt("get", "rr/reviews-canary", "-o", "jsonpath={.spec.route[*].weight}").out
    assert weights == "50 50\n"


def test_apply_keeps_the_resource_version_conflict_check(mt, tmp_path):
    mt("apply", "-f", write(tmp_path / "r.yaml", CANARY))
    stale = yaml.safe_load(mt("get", "rr", "reviews-canary", "-o", "yaml").out)
    mt("apply", "-f", write(tmp_path / "half.yaml", HALF))
    stale["spec"]["route"][0]["weight"] = 80
    stale["spec"]["route"][1]["weight"] = 20
    r = mt("apply", "-f", write(tmp_path / "stale.yaml", yaml.safe_dump(stale)))
    assert r.code == 1 and "has been modified: resourceVersion 1 is not the latest (2)" in r.err
    assert "50 50" in mt("get", "rr/reviews-canary", "-o", "jsonpath={.spec.route[*].weight}").out


def test_diff_shows_what_apply_would_change_with_kubectl_exit_codes(mt, tmp_path):
    f, g = write(tmp_path / "r.yaml", CANARY), write(tmp_path / "half.yaml", HALF)
    r = mt("diff", "-f", f)
    assert r.code == 1 and "--- /dev/null" in r.out and "+    weight: 90" in r.out
    mt("apply", "-f", f)
    assert mt("diff", "-f", f).code == 0 and mt("diff", "-f", f).out == ""
    r = mt("diff", "-f", g)
    assert r.code == 1 and "-    weight: 90\n+    weight: 50\n" in r.out


@pytest.mark.parametrize("command", ["create", "apply", "replace", "delete"])
@pytest.mark.parametrize("mode", ["client", "server"])
def test_dry_run_writes_nothing(mt, tmp_path, command, mode):
    f = write(tmp_path / "r.yaml", CANARY)
    if command in ("replace", "delete"):
        mt("create", "-f", f)
    before = mt("get", "all", "-o", "yaml").out
    r = mt(command, "-f", f, f"--dry-run={mode}")
    assert r.code == 0, r.err
    assert r.err.rstrip().endswith("(dry run)" if mode == "client" else "(server dry run)")
    assert mt("get", "all", "-o", "yaml").out == before


def test_server_dry_run_runs_the_store_checks(mt, tmp_path):
    f = write(tmp_path / "r.yaml", CANARY)
    mt("create", "-f", f)
    r = mt("create", "-f", f, "--dry-run=server")
    assert r.code == 1 and "already exists" in r.err
    r = mt("delete", "rr", "ghost", "--dry-run=server")
    assert r.code == 1 and "not found" in r.err


def test_get_name_output_round_trips_into_delete_across_namespaces(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY), "-n", "prod")
    mt("create", "-f", write(tmp_path / "b.yaml", EGRESS))
    names = mt("get", "all", "-A", "-o", "name").out.split()
    assert names == ["egress-rule/default/msgd", "route-rule/prod/reviews-canary"]
    r = mt("delete", *names)
    assert r.code == 0 and mt("get", "all", "-A", "-o", "name").out == ""


def test_get_takes_kind_slash_name_like_delete(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, EGRESS))
    doc = json.loads(mt("get", "rr/reviews-canary", "-o", "json").out)
    assert doc["kind"] == "RouteRule" and doc["metadata"]["name"] == "reviews-canary"
    r = mt("get", "rr/reviews-canary", "er/msgd", "-o", "name")
    assert r.out == "route-rule/default/reviews-canary\negress-rule/default/msgd\n"
    assert mt("get", "rr/ghost").code == 1
    assert mt("get", "rr/a/b/c").code == 64


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_nothing_found_is_an_empty_list_for_machines(mt, fmt):
    r = mt("get", "rr", "-o", fmt)
    data = json.loads(r.out) if fmt == "json" else yaml.safe_load(r.out)
    assert r.code == 0 and data == {"apiVersion": "v1", "kind": "List", "items": []}


def test_wide_custom_columns_and_label_selectors(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, LABELLED))
    wide = mt("get", "rr", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "KIND", "NAMESPACE", "DESTINATION", "ROUTES", "PRECEDENCE",
                               "REVISION", "AGE"]
    assert "version=v1:90 version=v2:10" in wide[1]
    assert mt("get", "all", "-l", "team=payments", "-o", "name").out == "egress-rule/default/msgd\n"
    assert mt("get", "all", "-l", "!team", "-o", "name").out == "route-rule/default/reviews-canary\n"
    assert mt("get", "all", "-l", "team in (ops, payments)", "-o", "name").out.count("\n") == 1
    r = mt("get", "all", "-o", "custom-columns=N:.metadata.name,PORT:.spec.ports[0].port")
    assert r.out.split() == ["N", "PORT", "msgd", "9997", "reviews-canary", "<none>"]
    assert mt("get", "rr", "-l", "a=(").code == 64
    assert mt("get", "rr", "-o", "jsonpath={..[").code == 64
    assert mt("get", "rr", "-o", "xml").code == 64


def test_no_color_turns_off_bold_on_a_terminal(tmp_path):
    import pty
    import subprocess
    import sys

    env = {**os.environ, "MESHTOOL_STORE": str(tmp_path / "s.db")}
    write(tmp_path / "a.yaml", CANARY)
    subprocess.run([sys.executable, "-m", "meshtool", "create", "-f", str(tmp_path / "a.yaml")],
                   env=env, check=True, capture_output=True)

    def on_tty(extra: dict) -> bytes:
        leader, follower = pty.openpty()
        subprocess.run([sys.executable, "-m", "meshtool", "get", "rr"], env={**env, **extra},
                       stdout=follower, stderr=subprocess.DEVNULL, check=True)
        os.close(follower)
        out = os.read(leader, 65536)
        os.close(leader)
        return out

    assert b"\x1b[" in on_tty({})  # the check can fail: on a terminal the header is bold
    assert b"\x1b[" not in on_tty({"NO_COLOR": "1"})


def test_delete_f_needs_only_kind_name_and_namespace(mt, tmp_path):
    mt("create", "-f", write(tmp_path / "a.yaml", CANARY, EGRESS))
    # the file has since been edited into something the schema refuses: it still names the rules
    broken = CANARY.replace("weight: 10", "weight: 99") + "  bogus: field\n"
    f = write(tmp_path / "edited.yaml", broken, EGRESS)
    assert mt("validate", f).code == 65
    r = mt("delete", "-f", f)
    assert r.code == 0, r.err
    assert r.err.splitlines() == ["Deleted config route-rule/default/reviews-canary",
                                  "Deleted config egress-rule/default/msgd"]
    nameless = write(tmp_path / "nameless.yaml", CANARY.replace("  name: reviews-canary\n", ""))
    r = mt("delete", "-f", nameless)
    assert r.code == 65 and "metadata.name: a rule to delete needs its name" in r.err
    r = mt("delete", "-f", write(tmp_path / "prod.yaml", CANARY.replace(
        "  name: reviews-canary\n", "  name: reviews-canary\n  namespace: prod\n")), "-n", "dev")
    assert r.code == 65 and 'namespace "prod" but -n says "dev"' in r.err


def test_version_prints_client_and_reports_an_unreachable_control_plane(mt):
    from meshtool import __version__
    from meshtool.ports import free_port

    r = mt("version", "--client")
    assert r.code == 0 and r.out == f"Client Version: {__version__}\n"
    r = mt("version", "--control-plane", f"127.0.0.1:{free_port()}", "-o", "json")
    assert r.code == 0 and json.loads(r.out) == {"clientVersion": __version__}
    assert "not reachable" in r.err


def test_version_warns_about_minor_skew():
    from meshtool.cli.version import _skew

    assert _skew("0.1.0", "0.1.7") is None
    assert "differ in their minor version" in _skew("0.2.0", "0.1.0")


def test_version_and_proxy_status_find_the_local_meshs_control_plane(tmp_path, monkeypatch):
    """`up --control-plane-port N` records the port; proxy-status and version ask there, not 15010."""
    import subprocess
    import sys

    from meshtool import __version__
    from meshtool.testing.processes import ControlPlaneProcess
    from meshtool.localmesh.processes import ProcessRecord, start_ticks
    from meshtool.localmesh.supervisor import MeshState, _write_state

    state_dir = tmp_path / "state" / "meshtool" / "localmesh"
    state_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHTOOL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    with ControlPlaneProcess(tmp_path / "store.db") as cp:
        pid = cp.proc.pid
        state = MeshState("t", None, None, cp.address, 0.0, [ProcessRecord(
            "control-plane", "control-plane", pid, start_ticks(pid), "", [], {})])
        _write_state(state_dir, state)

        def meshtool(*args):
            return subprocess.run([sys.executable, "-m", "meshtool", *args], env=env,
                                  capture_output=True, text=True, timeout=60)

        r = meshtool("proxy-status", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["address"] == cp.address
        r = meshtool("version")
        assert r.returncode == 0 and r.stdout.splitlines() == [
            f"Client Version: {__version__}", f"Control Plane Version: {__version__} ({cp.address})"]
