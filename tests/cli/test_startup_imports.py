"""kube-inject's start-up: the modules a fresh `meshtool kube-inject -f FILE` imports, so that the
gain measured by bench/bench_startup.py stays (a new import on this path fails here by name).

The command runs in a fresh interpreter started with -S and the package and its dependencies on
PYTHONPATH: without `site`, the editable install's import finder (which itself imports pathlib,
fnmatch and urllib) is not loaded, so what is seen is what meshtool and its libraries import, as
in a wheel install. The entry point is the one the console script calls.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "canary" / "kubernetes.yaml"

# What the path needs from meshtool: the CLI shell, the command, the injector, reading sources.
ALLOWED_MESHTOOL = {
    "meshtool", "meshtool.errors", "meshtool.conventions",
    "meshtool.cli", "meshtool.cli.main", "meshtool.cli.lazy", "meshtool.cli.kube_inject",
    "meshtool.cli.options", "meshtool.cli.render",
    "meshtool.inject", "meshtool.inject.config", "meshtool.inject.pipeline",
    "meshtool.inject.injector", "meshtool.inject.decide", "meshtool.inject.probes",
    "meshtool.inject.template", "meshtool.inject.traffic", "meshtool.inject.iptables",
    "meshtool.inject.status", "meshtool.inject.datadoc", "meshtool.inject.textdoc",
    "meshtool.inject.emit",
    "meshtool.model", "meshtool.model.lists", "meshtool.model.paths",
    "meshtool.rules", "meshtool.rules.sources", "meshtool.rules.yamlio",
}
# Libraries and stdlib modules that the path must not import: the heavy dependencies of other
# commands, and what a file read and a YAML rewrite to stdout have no use for.
FORBIDDEN = {
    "rich", "jsonschema", "ruamel", "kubernetes", "mitmproxy", "aiohttp", "cryptography",
    "jsonpatch", "jsonpath_ng", "prometheus_client", "opentelemetry", "h11",
    "pathlib", "ipaddress", "urllib", "tempfile", "shutil", "subprocess", "asyncio", "socket",
    "ssl", "sqlite3", "logging", "email", "http", "argparse",
}

CODE = """
import io, json, sys
before = set(sys.modules)
from meshtool.cli.main import main
sys.stdout = io.StringIO()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
out = sys.stdout.getvalue()
sys.stdout = sys.__stdout__
print(json.dumps({"code": code, "out": out, "modules": sorted(set(sys.modules) - before)}))
"""


def _imports(*args: str) -> dict:
    paths = [str(ROOT), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-S", "-c", CODE, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.parametrize("command", ["kube-inject", "uninject"])
def test_kube_inject_imports_only_what_it_needs(command):
    result = _imports(command, "-f", str(SAMPLE))
    assert result["code"] == 0
    assert "kind: Deployment" in result["out"]  # it did the work, not just start
    modules = set(result["modules"])
    assert sorted(m for m in modules if m.split(".")[0] == "meshtool" and m not in ALLOWED_MESHTOOL) == []
    assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN) == []
    assert {"click", "yaml"} <= modules  # sanity: the check sees imports at all


def test_a_traffic_ip_range_still_works_without_ipaddress_at_start(tmp_path):
    """ipaddress is imported only when an annotation gives IP ranges: those still parse."""
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        "    traffic.sidecar.meshtool.io/excludeOutboundIPRanges: 10.0.0.0/8\n"
        "spec:\n  containers:\n  - name: app\n    image: x\n")
    result = _imports("kube-inject", "-f", str(manifest))
    assert result["code"] == 0
    assert "10.0.0.0/8" in result["out"] and "ipaddress" in result["modules"]
