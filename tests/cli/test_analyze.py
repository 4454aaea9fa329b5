"""`meshtool analyze`: exit codes, thresholds, suppressions, formats, inputs (files, stdin,
store), --list-analyzers."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from meshtool.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "analysis" / "cases"
BASE = str(CASES / "_base" / "reviews.yaml")
CANARY = [str(ROOT / "samples/canary/kubernetes.yaml"),
          str(ROOT / "samples/canary/rules/route-90-10.yaml")]


def run(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exc:
        main(["analyze", *args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_clean_input_exits_0_with_a_summary_on_stderr(capsys):
    code, out, err = run(capsys, *CANARY)
    assert code == 0
    assert out == ""
    assert "no issues found" in err


def test_errors_exit_79_and_print_the_documented_line(capsys):
    code, out, err = run(capsys, "-f", BASE, "-f", str(CASES / "subset-no-workload/fires.yaml"))
    assert code == 79
    first = out.splitlines()[0]
    assert first.startswith("Error [MT0101] (RouteRule reviews-canary.default ")
    assert "subset-no-workload/fires.yaml:13) subset version=v3 selects no workload of service " \
           "reviews" in first
    assert "2 errors" in err


def test_failure_threshold_decides_the_exit_code(capsys):
    warn_only = str(CASES / "port-protocol/fires.yaml")
    assert run(capsys, warn_only)[0] == 0
    assert run(capsys, warn_only, "--failure-threshold", "Warning")[0] == 79
    assert run(capsys, warn_only, "--failure-threshold", "info")[0] == 79


def test_output_threshold_hides_lower_levels_but_not_from_the_exit_code(capsys):
    args = [BASE, str(CASES / "subset-no-workload/fires.yaml"), str(CASES / "port-protocol/fires.yaml")]
    code, out, err = run(capsys, *args, "--output-threshold", "Error")
    assert code == 79
    assert "MT0300" not in out and "MT0101" in out
    assert "below the output threshold" in err
    code, out, _ = run(capsys, str(CASES / "port-protocol/fires.yaml"), "--output-threshold",
                       "Error", "--failure-threshold", "Warning")
    assert code == 79 and out == ""


def test_suppression_by_flag(capsys):
    fires = str(CASES / "port-protocol/fires.yaml")
    code, out, err = run(capsys, fires, "--failure-threshold", "Warning", "-S", "MT0300")
    assert code == 0 and out == "" and "2 suppressed" in err
    code, out, _ = run(capsys, fires, "-S", "MT03*=Service leg*")
    assert out == ""
    code, out, _ = run(capsys, fires, "-S", "MT0300=Deployment legacy")
    assert out.count("MT0300") == 2
    code, out, _ = run(capsys, fires, "-S", "MT0300=service legacy.default")
    assert out == ""


def test_suppression_by_annotation(capsys, tmp_path):
    text = (CASES / "port-protocol/fires.yaml").read_text().replace(
        "  name: legacy\n", "  name: legacy\n  annotations:\n    analysis.meshtool.io/suppress: "
                            "\"MT0300, MT0999\"\n")
    path = tmp_path / "svc.yaml"
    path.write_text(text)
    code, out, err = run(capsys, str(path), "--failure-threshold", "Warning")
    assert (code, out) == (0, "")
    assert "2 suppressed" in err


def test_suppression_on_pod_template_annotation(capsys, tmp_path):
    text = (CASES / "proxy-uid/fires.yaml").read_text().replace(
        "      labels: {app: worker}\n",
        "      labels: {app: worker}\n      annotations:\n"
        "        analysis.meshtool.io/suppress: MT0305\n")
    path = tmp_path / "w.yaml"
    path.write_text(text)
    code, out, _ = run(capsys, str(path))
    assert out.count("MT0305") == 1 and "Pod job" in out


@pytest.mark.parametrize("bad", ["", "=Service x", "MT0300=Service", "MT0300=a b c", "MT 03"])
def test_bad_suppression_is_a_usage_error(capsys, bad):
    code, out, err = run(capsys, BASE, "-S", bad)
    assert code == 64 and out == ""
    assert "suppression" in err


def test_usage_errors_exit_64(capsys):
    assert run(capsys)[0] == 64
    assert run(capsys, "no/such/file.yaml")[0] == 64
    assert run(capsys, BASE, "--failure-threshold", "Fatal")[0] == 64
    assert run(capsys, BASE, "-o", "xml")[0] == 64


def test_unreadable_input_exits_65_naming_file_and_line(capsys, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n")
    code, out, err = run(capsys, str(path))
    assert code == 65 and out == ""
    assert "broken.yaml:" in err and "invalid YAML" in err


def test_schema_errors_are_analysis_messages(capsys):
    code, out, _ = run(capsys, BASE, str(CASES / "schema-error/fires-weights.yaml"))
    assert code == 79
    assert out.startswith("Error [MT0001] (RouteRule reviews-split ")


def test_stdin(capsys, monkeypatch):
    text = (CASES / "port-protocol/fires.yaml").read_text()
    code, out, _ = run(capsys, "-f", "-", "-o", "json", stdin=text, monkeypatch=monkeypatch)
    data = json.loads(out)
    assert [d["code"] for d in data] == ["MT0300", "MT0300"]
    assert data[0]["file"] == "<stdin>"


def test_sarif_on_stdout(capsys):
    code, out, _ = run(capsys, BASE, str(CASES / "subset-no-workload/fires.yaml"), "-o", "sarif")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["MT0101", "MT0101"]


def test_list_analyzers(capsys):
    code, out, _ = run(capsys, "--list-analyzers")
    assert code == 0
    assert "subset-no-workload:" in out and "MT0101 Error" in out
    code, out, _ = run(capsys, "--list-analyzers", "-o", "json")
    names = [a["name"] for a in json.loads(out)]
    assert "schema-error" in names and len(names) == len(set(names))


def test_use_store_merges_stored_rules_and_files_win(capsys, tmp_path):
    store = str(tmp_path / "store.db")
    rule = str(CASES / "subset-no-workload/clean.yaml")  # reviews-canary: v1/v2, fine
    bad = tmp_path / "bad.yaml"
    bad.write_text((CASES / "subset-no-workload/clean.yaml").read_text()
                   .replace("version: v2}", "version: v9}").replace("# with:", "# -"))
    with pytest.raises(SystemExit) as exc:
        main(["create", "--store", store, "-f", str(bad)])
    assert exc.value.code == 0
    capsys.readouterr()
    code, out, _ = run(capsys, BASE, "--use-store", "--store", store)
    assert code == 79 and "MT0101" in out and "version=v9" in out
    assert "(RouteRule reviews-canary.default) " in out  # from the store: no file:line
    code, out, _ = run(capsys, BASE, rule, "--use-store", "--store", store)
    assert (code, out) == (0, "")  # the file's reviews-canary hides the stored one


def test_use_store_compiles_stored_rules_of_other_apis_as_the_control_plane_does(capsys,
                                                                                 tmp_path):
    """An Ingress (and a VirtualService) stored as authored is analysed as what it compiles
    into: a missing backend is found, as for the same Ingress given in a file."""
    store = str(tmp_path / "store.db")
    ingress = str(CASES / "gateway-backend-not-found/fires.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["create", "--store", store, "-f", ingress])
    assert exc.value.code == 0
    capsys.readouterr()
    code, out, _ = run(capsys, BASE, "--use-store", "--store", store, "-o", "json")
    found = sorted((m["code"], m["resource"]["kind"], m.get("field")) for m in json.loads(out))
    assert found == [("MT0105", "GatewayRoute", "spec.backends[0].service.name")] * 2, out
    assert code == 79
    code, out, _ = run(capsys, BASE, ingress, "--use-store", "--store", store, "-o", "json")
    assert code == 79  # the file's Ingress and the stored one: the same findings, not doubled
    assert [(m["code"], m["origin"]) for m in json.loads(out)] == [
        ("MT0105", "file")] * 2, out


def test_unreadable_rule_document_exits_65_too(capsys, tmp_path):
    path = tmp_path / "rule.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: ok}\n---\n"
                    "apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata:\n"
                    "  name: [unclosed\n")
    code, out, err = run(capsys, str(path))
    assert code == 65 and out == ""
    assert "rule.yaml:" in err and "invalid YAML" in err
