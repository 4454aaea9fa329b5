"""A click group that imports a subcommand's module only when that subcommand runs."""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, short help)
Registry = dict[str, tuple[str, str, str]]


class LazyGroup(click.Group):
    def __init__(self, *args, registry: Registry | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry: Registry = registry if registry is not None else {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.registry)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = self.registry.get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the registry so that --help imports no command module.
        rows = [(name, help_) for name, (_, _, help_) in self.registry.items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
