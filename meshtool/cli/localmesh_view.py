"""A live rich table of the local mesh's processes while they start."""

from __future__ import annotations

from meshtool.localmesh.meshfile import MeshSpec

_STYLE = {"waiting": "dim", "starting": "yellow", "ready": "green", "failed": "bold red"}


class StartupTable:
    """Context manager: shows one row per process and updates it as `up` reports progress."""

    def __init__(self, spec: MeshSpec):
        self.rows: dict[tuple[str, str], str] = {("control-plane", "control-plane"): "waiting"}
        for w in spec.instances:
            if w.in_mesh:
                self.rows[(w.instance, "app")] = "waiting"
                self.rows[(w.instance, "sidecar")] = "waiting"
            else:
                self.rows[(w.instance, "external")] = "waiting"
        for g in spec.gateways:
            self.rows[(g.name, "gateway")] = "waiting"
        self.live = None

    def _render(self):
        from rich.table import Table

        table = Table(title="meshtool up", title_justify="left")
        for col in ("INSTANCE", "ROLE", "STATUS"):
            table.add_column(col)
        for (instance, role), status in self.rows.items():
            table.add_row(instance, role, f"[{_STYLE[status]}]{status}[/]")
        return table

    def update(self, instance: str, role: str, status: str) -> None:
        self.rows[(instance, role)] = status
        if self.live is not None:
            self.live.update(self._render())

    def __enter__(self) -> "StartupTable":
        from rich.live import Live

        from meshtool.cli.render import stderr_console

        console = stderr_console()
        self.live = Live(self._render(), console=console, auto_refresh=False,
                         transient=False) if console.is_terminal else None
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)
            self.live.__exit__(*exc)
