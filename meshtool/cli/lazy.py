"""A click group that imports a subcommand's module only when that subcommand runs."""

from __future__ import annotations

import importlib
from typing import Callable

import click

# name -> (module, attribute, short help)
Registry = dict[str, tuple[str, str, str]]


class LazyGroup(click.Group):
    # called once, after the first command module is imported (see meshtool.cli.console)
    after_import: Callable[[], None] | None = None

    def __init__(self, *args, registry: Registry | None = None,
                 sections: dict[str, Registry] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry: Registry = registry if registry is not None else {}
        self.sections = sections or {"Commands": self.registry}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.registry)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = self.registry.get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        command = getattr(importlib.import_module(module), attr)
        if self.after_import is not None:
            hook, self.after_import = self.after_import, None
            hook()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the registry so that --help imports no command module.
        for title, entries in self.sections.items():
            rows = [(name, help_) for name, (_, _, help_) in entries.items() if name in self.registry]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
