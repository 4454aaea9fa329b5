import subprocess
import sys

from click.testing import CliRunner

from meshtool.cli.main import cli


def test_help_lists_options_and_examples():
    r = CliRunner().invoke(cli, ["proxy", "run", "--help"])
    assert r.exit_code == 0
    for text in ("--snapshot", "--mode", "--app-port", "--control-plane", "--workers", "Examples"):
        assert text in r.output


def test_bad_input_exits_with_usage_or_data_codes(tmp_path):
    def run(*args, env=None):
        return subprocess.run([sys.executable, "-m", "meshtool", "proxy", "run", *args],
                              capture_output=True, text=True, timeout=60, env=env)
    r = run("--label", "version")
    assert r.returncode == 64 and "expected KEY=VALUE" in r.stderr
    r = run("--snapshot", str(tmp_path / "missing.json"))
    assert r.returncode == 65 and "no such snapshot file" in r.stderr
    r = run("--mode", "sideways")
    assert r.returncode == 64
