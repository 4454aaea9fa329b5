"""Run a scenario end to end: up, apply rules stage by stage, drive traffic, check, down.

The engine reports through a `Reporter` (the CLI renders it with rich; tests record it) and
returns whether every stage observed exactly what its rules promise.
"""

from __future__ import annotations

import http.client
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from meshtool.errors import MeshtoolError
from meshtool.localmesh.meshfile import MeshSpec, load_meshfile
from meshtool.localmesh.scenarios import Scenario, Stage
from meshtool.localmesh.supervisor import MeshState, down, up
from meshtool.ports import free_port


class Reporter(Protocol):
    def mesh_starting(self, scenario: Scenario, spec: MeshSpec) -> object: ...
    def mesh_up(self, state: MeshState) -> None: ...
    def stage_started(self, index: int, stage: Stage) -> None: ...
    def rules_applied(self, files: list[str], messages: list[str], synced_in: float) -> None: ...
    def request_done(self, tags: set[str]) -> None: ...
    def stage_finished(self, result: "StageResult") -> None: ...
    def sync_table(self, table: dict) -> None: ...
    def mesh_down(self, stopped: int) -> None: ...


@dataclass
class StageResult:
    stage: Stage
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(stage: Stage, counts: Counter, total: int) -> list[str]:
    """What differs from the stage's promise: exact counts per tag, and never an error."""
    problems = []
    for tag, share in stage.expect.items():
        want = round(share * total)
        if counts[tag] != want:
            problems.append(f"{tag}: expected {want} of {total}, observed {counts[tag]}")
    if counts["error"] and "error" not in stage.expect:
        problems.append(f"{counts['error']} of {total} requests failed")
    return problems


def run(scenario: Scenario, reporter: Reporter, state_dir: Path, *, timeout: float = 30.0) -> bool:
    """True when every stage saw what its rules promise. The mesh is always taken down."""
    spec = load_meshfile(scenario.meshfile)
    # gateways on free ports, as the control plane: a demo never collides with a mesh that is up
    spec = replace(spec, gateways=tuple(replace(g, port=None, https_port=None)
                                        for g in spec.gateways))
    store_path = str(state_dir / "store.db")
    Path(store_path).unlink(missing_ok=True)  # each demo starts from no rules
    listener = reporter.mesh_starting(scenario, spec)
    state = up(spec, state_dir, store=store_path, control_plane_port=free_port(),
               timeout=timeout, listener=listener)
    try:
        reporter.mesh_up(state)
        from meshtool.store import open_store

        ok = True
        with open_store(store_path) as store:
            for i, stage in enumerate(scenario.stages):
                reporter.stage_started(i, stage)
                if stage.apply:
                    files = [str(scenario.directory / f) for f in stage.apply]
                    t0 = time.monotonic()
                    messages, revision = apply_files(store, files)
                    wait_synced(state, revision, len(state.proxies()), timeout)
                    reporter.rules_applied(files, messages, time.monotonic() - t0)
                result = drive(scenario, stage, state, reporter)
                reporter.stage_finished(result)
                ok = ok and result.ok
        from meshtool.controlplane.inspect import fetch_sync_table

        reporter.sync_table(fetch_sync_table(state.control_plane))
        return ok
    finally:
        _, stopped = down(state_dir)
        reporter.mesh_down(len(stopped))


def apply_files(store, files: list[str]) -> tuple[list[str], int]:
    """Create the rules that are new and replace the ones that exist, as one write each."""
    from meshtool.errors import DataError
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources

    # As `meshtool create` writes to a local store: as authored (an Ingress stays one), and
    # the control plane compiles it
    loaded = load_rules(read_sources(files), authored=True)
    if loaded.findings:
        raise DataError(findings=loaded.findings)
    resources = loaded.resources
    existing = {r.key for r in store.list()}
    new = [r for r in resources if r.key not in existing]
    old = [r for r in resources if r.key in existing]
    messages = []
    if new:
        messages += [f"Created config {r.display} at revision {r.revision}" for r in store.create(new)]
    if old:
        messages += [f"Updated config {r.display} to revision {r.revision}" for r in store.replace(old)]
    return messages, store.revision()


def wait_synced(state: MeshState, revision: int, proxies: int, timeout: float) -> dict:
    """Until the control plane has seen `revision` and every proxy ACKed its latest snapshot."""
    from meshtool.controlplane.inspect import fetch_sync_table

    deadline = time.monotonic() + timeout
    table: dict = {}
    while time.monotonic() < deadline:
        table = fetch_sync_table(state.control_plane)
        rows = table.get("proxies") or []
        if (table.get("storeRevision") or 0) >= revision and len(rows) >= proxies \
                and all(r["status"] == "SYNCED" for r in rows):
            return table
        time.sleep(0.02)
    statuses = ", ".join(f"{r['proxyId']} {r['status']}" for r in table.get("proxies") or [])
    raise MeshtoolError(f"the sidecars did not all acknowledge store revision {revision} within "
                        f"{timeout:g}s ({statuses or 'no proxy connected'})")


def drive(scenario: Scenario, stage: Stage, state: MeshState, reporter: Reporter) -> StageResult:
    """Send the stage's requests to the entry service through its sidecar (or to the entry
    gateway, from outside the mesh), one at a time."""
    proxy = state.find(scenario.entry, scenario.via)
    if proxy is None:
        raise MeshtoolError(f"scenario {scenario.name}: no {scenario.via} {scenario.entry}")
    port = proxy.ports["inbound" if scenario.via == "sidecar" else "http"]
    result = StageResult(stage)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        for _ in range(stage.requests):
            try:
                conn.request("GET", scenario.path)
                resp = conn.getresponse()
                body = resp.read().decode(errors="replace")
                tags = scenario.classify(resp.status, body)
            except (OSError, http.client.HTTPException):
                conn.close()
                tags = {"error"}
            result.counts.update(tags)
            reporter.request_done(tags)
    finally:
        conn.close()
    result.problems = check(stage, result.counts, stage.requests)
    return result
