"""Fixtures every test directory sees."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import os

import pytest
from hypothesis import settings

from meshtool.cli.main import main

# The suite draws the same examples on every machine, so a change lands or fails on its own
# merits, not on a draw nobody has seen; `make fuzz` explores new draws (and finds new bugs).
settings.register_profile("suite", derandomize=True)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile(os.environ.get("MESHTOOL_HYPOTHESIS", "suite"))


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run the real entry point in-process, its error handler included: run_cli(*args, stdin=None)
    gives the exit code and what was written to stdout and stderr."""

    def run(*args: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        return Result(exc.value.code, out, err)

    return run
