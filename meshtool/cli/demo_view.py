"""How `meshtool demo` looks: a live start-up table, then per stage the rules applied and
rich progress bars of where the requests went, then proxy-status."""

from __future__ import annotations

import os

from meshtool.cli.localmesh_view import StartupTable
from meshtool.cli.render import stderr_console
from meshtool.localmesh.meshfile import MeshSpec
from meshtool.localmesh.scenarios import Scenario, Stage


class DemoView:
    """A demo Reporter rendering to stderr with rich (plain text when not a terminal)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.console = stderr_console()
        if not self.console.is_terminal:  # logs and CI: room for proxy-status's columns
            self.console.width = max(self.console.width, 150)
        self.startup: StartupTable | None = None
        self.progress = None
        self.bars: dict[str, int] = {}
        self.stage: Stage | None = None
        self.dashboard = None  # a BackgroundDashboard while the mesh is up

    # -- the mesh -------------------------------------------------------------------------
    def mesh_starting(self, scenario: Scenario, spec: MeshSpec):
        self.console.rule(f"[bold]meshtool demo {scenario.name}")
        self.console.print(scenario.summary)
        self.startup = StartupTable(spec).__enter__()
        return self.startup.update

    def mesh_up(self, state) -> None:
        self._close_startup()
        self.console.print(f"mesh [bold]{state.name}[/] is up: {len(state.processes)} processes, "
                           f"control plane {state.control_plane}, store {state.store}")
        from meshtool import __version__
        from meshtool.controlplane.dashboard.background import BackgroundDashboard

        self.dashboard = BackgroundDashboard(state.control_plane, __version__)
        try:
            url = self.dashboard.start()
            self.console.print(f"dashboard: {url} (live while the demo runs)", highlight=False)
        except OSError as exc:
            self.console.print(f"[yellow]dashboard not started: {exc}[/]")

    def mesh_down(self, stopped: int) -> None:
        self._close_startup()
        self._stop_dashboard()
        self.console.print(f"mesh down: stopped {stopped} processes")

    # -- stages ---------------------------------------------------------------------------
    def stage_started(self, index: int, stage: Stage) -> None:
        self.console.print()
        self.console.rule(f"[{index + 1}/{len(self.scenario.stages)}] {stage.title}", align="left")
        self.stage = stage

    def rules_applied(self, files: list[str], messages: list[str], synced_in: float) -> None:
        verb = "replace" if any(m.startswith("Updated") for m in messages) else "create"
        for f in files:
            self.console.print(f"[dim]$[/] meshtool {verb} -f {_shown(f)}", highlight=False)
        for m in messages:
            self.console.print(f"  {m}")
        self.console.print(f"  every sidecar acknowledged it within {synced_in * 1000:.0f} ms")

    def request_done(self, tags: set[str]) -> None:
        if self.progress is None:
            self._start_progress()
        for tag in sorted(tags):
            if tag not in self.bars:
                self._add_bar(tag)
            self.progress.advance(self.bars[tag])

    def stage_finished(self, result) -> None:
        self._stop_progress()
        if result.ok:
            promise = ", ".join(f"{t} {share:.0%}" for t, share in result.stage.expect.items())
            self.console.print(f"[green]✓[/] observed exactly what the rules promise"
                               + (f" ({promise})" if promise else " (no errors)"))
        else:
            for p in result.problems:
                self.console.print(f"[bold red]✗ {p}[/]")

    def sync_table(self, table: dict) -> None:
        from meshtool.cli.proxy_status import sync_table_view

        self.console.print()
        self.console.print("[dim]$[/] meshtool proxy-status")
        self.console.print(sync_table_view(table))

    def summary(self, ok: bool) -> None:
        if ok:
            self.console.print(f"[bold green]demo {self.scenario.name}: every stage behaved as "
                               f"its rules promise[/]")
        else:
            self.console.print(f"[bold red]demo {self.scenario.name}: observed traffic differs "
                               f"from what the rules promise[/]")

    def close(self) -> None:
        self._stop_progress()
        self._close_startup()
        self._stop_dashboard()

    def _stop_dashboard(self) -> None:
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None

    # -- internals ------------------------------------------------------------------------
    def _start_progress(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._stop_progress()
        self.progress = Progress(TextColumn("  {task.description:>8}"), BarColumn(bar_width=40),
                                 MofNCompleteColumn(), TextColumn("[dim]{task.fields[expect]}"),
                                 console=self.console)
        self.bars = {}
        for tag in self.scenario.tags:
            self._add_bar(tag)
        self.progress.start()

    def _add_bar(self, tag: str) -> None:
        total = self.stage.requests if self.stage else 100
        share = self.stage.expect.get(tag) if self.stage else None
        expect = f"rules promise {round(share * total)}" if share is not None else ""
        self.bars[tag] = self.progress.add_task(tag, total=total, expect=expect)

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _close_startup(self) -> None:
        if self.startup is not None:
            self.startup.__exit__(None, None, None)
            self.startup = None


def _shown(path: str) -> str:
    """The sample's path as a user in the repository would type it (not via the package link)."""
    real = os.path.realpath(path)
    rel = os.path.relpath(real)
    return rel if not rel.startswith("..") else real
