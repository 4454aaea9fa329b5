"""The demo engine for real: a local mesh of processes, rules pushed, traffic counted exactly."""

import dataclasses
from collections import Counter

import pytest

from meshtool.localmesh import demo
from meshtool.localmesh.scenarios import SCENARIOS, Stage


class Recorder:
    """A Reporter that keeps what happened, for assertions."""

    def __init__(self):
        self.state = None
        self.results = []
        self.applied = []
        self.table = None
        self.stopped = None

    def mesh_starting(self, scenario, spec):
        return lambda *a: None

    def mesh_up(self, state):
        self.state = state

    def stage_started(self, index, stage):
        pass

    def rules_applied(self, files, messages, synced_in):
        self.applied.append(messages)

    def request_done(self, tags):
        pass

    def stage_finished(self, result):
        self.results.append(result)

    def sync_table(self, table):
        self.table = table

    def mesh_down(self, stopped):
        self.stopped = stopped


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_observes_exactly_what_its_rules_promise(name, tmp_path):
    rec = Recorder()
    ok = demo.run(SCENARIOS[name], rec, tmp_path, timeout=30)
    problems = [p for r in rec.results for p in r.problems]
    assert ok, problems
    assert len(rec.results) == len(SCENARIOS[name].stages)
    for result in rec.results:
        for tag, share in result.stage.expect.items():
            assert result.counts[tag] == round(share * result.stage.requests)
        assert result.counts["error"] == 0
    assert {p["status"] for p in rec.table["proxies"]} == {"SYNCED"}
    # the mesh is down and nothing it started is left running
    assert rec.stopped == len(rec.state.processes)
    assert not any(p.alive() for p in rec.state.processes)


def test_a_broken_promise_is_detected(tmp_path):
    canary = SCENARIOS["canary"]
    wrong = dataclasses.replace(canary, stages=(
        Stage("90/10 rule, but expecting 80/20", ("rules/route-90-10.yaml",), {"v1": 0.8, "v2": 0.2}, 50),
    ))
    rec = Recorder()
    assert demo.run(wrong, rec, tmp_path, timeout=30) is False
    [result] = rec.results
    assert result.counts["v1"] == 45 and result.counts["v2"] == 5
    assert result.problems == ["v1: expected 40 of 50, observed 45", "v2: expected 10 of 50, observed 5"]


def test_check_reports_errors_even_when_not_expected():
    stage = Stage("x", expect={"v2": 1.0}, requests=4)
    assert demo.check(stage, Counter({"v2": 4}), 4) == []
    assert demo.check(stage, Counter({"v2": 3, "error": 1}), 4) == [
        "v2: expected 4 of 4, observed 3", "1 of 4 requests failed"]
