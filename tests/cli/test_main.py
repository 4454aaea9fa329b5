"""The entry point: start-up imports, exit codes, the one error handler."""

import json
import subprocess
import sys

import pytest

HEAVY = ("kubernetes", "mitmproxy", "jsonschema", "rich", "aiohttp", "ruamel")


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "meshtool", *args], capture_output=True,
                          text=True, **kw)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["proxy", "--help"]])
def test_startup_imports_no_heavy_module(argv):
    code = ("import sys, json\n"
            "from meshtool.cli.main import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit as e:\n"
            "    code = e.code\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r})]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0
    assert loaded == []


def test_collector_is_back_on_and_startup_frozen_once_a_command_is_loaded():
    """The console script turns the cyclic collector off for its imports only: a command that
    runs for days (control-plane, proxy run) must have it on, and importing the CLI as a
    library (tests, in-process main()) must not turn it off."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0))\n"
            "from meshtool.cli.main import entry\n"
            "print('after import', gc.isenabled())\n"
            "sys.argv = ['meshtool', 'version', '--client']\n"
            "entry()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "after import True", out.stdout + out.stderr
    assert lines[-1] == "True True", out.stdout + out.stderr


def test_version_prints_package_version():
    from meshtool import __version__

    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"meshtool {__version__}"


def test_unknown_command_is_usage_error():
    r = run("no-such-command")
    assert r.returncode == 64
    assert "No such command" in r.stderr
    assert r.stdout == ""


def _register(monkeypatch, name, command):
    """Make `meshtool NAME` run `command`, for this test only."""
    from meshtool.cli import main as main_mod

    module = type(sys)(f"tests_{name}")
    setattr(module, name, command)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(main_mod.COMMANDS, name, (module.__name__, name, "x"))


def test_meshtool_error_is_one_line_with_its_exit_code(monkeypatch, run_cli):
    import click

    from meshtool.errors import DataError

    @click.command()
    def boom():
        raise DataError.at("weights sum to 110, must be 100", "r.yaml", 12,
                           "spec.route[1].weight", "RouteRule/x")

    _register(monkeypatch, "boom", boom)
    r = run_cli("boom")
    assert r.code == 65
    assert r.err == "error: r.yaml:12: RouteRule/x: spec.route[1].weight: weights sum to 110, must be 100\n"


def test_unexpected_exception_is_reported_as_a_bug(monkeypatch, run_cli):
    import click

    @click.command()
    def crash():
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("MESHTOOL_DEBUG", raising=False)
    _register(monkeypatch, "crash", crash)
    r = run_cli("crash")
    assert r.code == 1
    assert "internal error: ZeroDivisionError" in r.err and "bug" in r.err
    assert "Traceback" not in r.err
