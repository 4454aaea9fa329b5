"""Shell completion: the committed scripts are current, and completions come from the CLI."""

from pathlib import Path

import pytest

from meshtool.cli.completion import SHELLS, completion_script
from meshtool.model.resource import Resource
from meshtool.store.local import LocalStore

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_script_is_current(shell):
    committed = COMPLETIONS / f"meshtool.{shell}"
    assert committed.is_file(), f"{committed} is missing: run `make completions`"
    assert committed.read_text() == completion_script(shell), (
        f"{committed} is stale: run `make completions` and commit the result")


def test_completion_command_prints_the_script(run_cli):
    r = run_cli("completion", "fish")
    assert r.code == 0
    assert r.out == completion_script("fish")


def test_unknown_shell_is_a_usage_error(run_cli):
    assert run_cli("completion", "tcsh").code == 64


@pytest.fixture
def complete(tmp_path, monkeypatch, run_cli):
    """Ask meshtool for bash completions of a command line, as the bash script does."""
    store = tmp_path / "store.db"
    monkeypatch.setenv("MESHTOOL_STORE", str(store))
    with LocalStore(store) as s:
        s.create([Resource("RouteRule", n, "default", {}) for n in ("reviews-canary", "reviews-v1")]
                 + [Resource("RouteRule", "other-ns", "prod", {})])

    def run(line: str) -> list[str]:
        words = line.split()
        cword = len(words) if line.endswith(" ") else len(words) - 1
        monkeypatch.setenv("_MESHTOOL_COMPLETE", "bash_complete")
        monkeypatch.setenv("COMP_WORDS", line)
        monkeypatch.setenv("COMP_CWORD", str(cword))
        out = run_cli().out
        return [item.split(",", 1)[1] for item in out.splitlines() if item]

    return run


def test_commands_complete(complete):
    assert complete("meshtool cre") == ["create", "create-remote-secret"]
    assert complete("meshtool create-") == ["create-remote-secret"]
    assert complete("meshtool completion ") == ["bash", "zsh", "fish"]


def test_kinds_complete_for_get_and_delete(complete):
    assert "rr" in complete("meshtool get ") and "all" in complete("meshtool get ")
    assert complete("meshtool get route") == ["route-rule", "route-rules", "routerule", "routerules"]
    assert complete("meshtool delete d") == ["destination-policies", "destination-policy",
                                             "destinationpolicies", "destinationpolicy",
                                             "destinationrule", "destinationrules", "dp", "dr"]
    assert "vs" in complete("meshtool get v") and "httproute" in complete("meshtool get h")


def test_stored_names_complete(complete):
    assert complete("meshtool get rr ") == ["reviews-canary", "reviews-v1"]
    assert complete("meshtool get rr reviews-c") == ["reviews-canary"]
    assert complete("meshtool get rr -n prod ") == ["other-ns"]
    assert complete("meshtool delete rr reviews-canary ") == ["reviews-v1"]
    assert complete("meshtool get er ") == []


def test_options_complete(complete):
    assert complete("meshtool get rr -o ") == ["table", "wide", "yaml", "json", "name", "jsonpath=",
                                            "custom-columns="]
