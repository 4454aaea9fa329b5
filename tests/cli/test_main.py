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


def test_meshtool_error_is_one_line_with_its_exit_code(monkeypatch, capsys):
    import click

    from meshtool.cli import main as main_mod
    from meshtool.errors import DataError

    @click.command()
    def boom():
        raise DataError.at("weights sum to 110, must be 100", "r.yaml", 12,
                           "spec.route[1].weight", "RouteRule/x")

    monkeypatch.setitem(main_mod.COMMANDS, "boom", ("tests_boom", "boom", "x"))
    monkeypatch.setitem(sys.modules, "tests_boom", type(sys)("tests_boom"))
    sys.modules["tests_boom"].boom = boom
    with pytest.raises(SystemExit) as exc:
        main_mod.main(["boom"])
    assert exc.value.code == 65
    err = capsys.readouterr().err
    assert err == "error: r.yaml:12: RouteRule/x: spec.route[1].weight: weights sum to 110, must be 100\n"


def test_unexpected_exception_is_reported_as_a_bug(monkeypatch, capsys):
    import click

    from meshtool.cli import main as main_mod

    @click.command()
    def crash():
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("MESHTOOL_DEBUG", raising=False)
    monkeypatch.setitem(main_mod.COMMANDS, "crash", ("tests_crash", "crash", "x"))
    monkeypatch.setitem(sys.modules, "tests_crash", type(sys)("tests_crash"))
    sys.modules["tests_crash"].crash = crash
    with pytest.raises(SystemExit) as exc:
        main_mod.main(["crash"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "bug" in err
    assert "Traceback" not in err
