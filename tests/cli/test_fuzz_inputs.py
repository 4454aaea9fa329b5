"""Fuzzing every command that reads files: whatever the bytes, the answer is a meshtool message
and a documented exit code (0, 1, 64, 65, 79), never an internal error, within a time bound.

The inputs: mutations of the real samples (bytes flipped, cut, lines shuffled or repeated),
random JSON-like trees written as YAML or JSON, and seeds from the bugs found by hand (deep
nesting, alias bombs, anchors, YAML 1.1 booleans as names, bytes that are not UTF-8).
In-process through the real entry point (its one error handler included), in a scratch
directory and store per example.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meshtool.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*.yaml"))
DOCUMENTED = {0, 1, 64, 65, 79}
SECONDS_PER_RUN = 20  # one command on one input; the alias bomb took minutes before

SEEDS = [
    b"[" * 10_000 + b"]" * 10_000,
    b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
    b"apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata: {name: yes}\n"
    b"spec: {destination: {name: a}}\n",
    b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w, labels: &l {app: w}}\n"
    b"spec:\n  selector: {matchLabels: *l}\n  template:\n    metadata: {labels: *l}\n"
    b"    spec: {containers: &c [{name: w, image: i}], initContainers: *c}\n",
    b"\xd0\x00\xff\xfe",
    b"",
    b"---\n---\n...\n",
    b"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [1, null, {}]}",
    b"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: 7}}]\n",
    b"!!python/object/apply:os.system ['true']\n",
    b"a: !!timestamp 2020-02-30\n",
    b"&a [*a]\n",
]

COMMANDS = [
    ("validate",), ("analyze", "-f"), ("kube-inject", "-f"), ("uninject", "-f"), ("convert", "-f"),
    ("create", "-f"), ("apply", "--dry-run=server", "-f"), ("replace", "-f"), ("delete", "-f"),
    ("diff", "-f"),
]

json_trees = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["apiVersion", "kind", "metadata", "name", "namespace", "spec", "items",
                         "containers", "route", "weight", "labels", "destination", "template",
                         "annotations", "ports", "image", "x"]) | st.text(max_size=6),
        children, max_size=5),
    max_leaves=30)


@st.composite
def manifests(draw) -> bytes:
    kind = draw(st.sampled_from(["mutated", "tree-yaml", "tree-json", "seed"]))
    if kind == "seed":
        return draw(st.sampled_from(SEEDS))
    if kind.startswith("tree"):
        tree = draw(json_trees)
        if kind == "tree-json":
            return json.dumps(tree).encode()
        return yaml.safe_dump(tree, allow_unicode=True).encode()
    data = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "dup", "shuffle", "insert"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            data = data[:pos]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b"&x ", b"*x", b"- ", b": ", b"{", b"[", b"\n  ",
                                                   b"---\n", b"\t", b"'", b'"', b"!!binary ", b"<<: "]))
        else:
            lines = bytes(data).split(b"\n")
            if op == "dup":
                lines = lines + lines[: draw(st.integers(0, len(lines)))]
            else:
                lines = draw(st.permutations(lines))
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def run(args: list[str], cwd: Path, stdin: bytes = b"") -> tuple[int, str]:
    """The real entry point in this process; its exit code and stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors="strict")
    sys.stdout, sys.stderr = out, err
    os.chdir(cwd)
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = old[:3]
        os.chdir(old[3])
    return code, err.getvalue()


@pytest.fixture
def scratch(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("fuzz")
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
    monkeypatch.setenv("HOME", str(base))
    monkeypatch.delenv("MESHTOOL_CONTROL_PLANE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return base


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=manifests(), suffix=st.sampled_from([".yaml", ".json", ".yml"]),
       via_stdin=st.booleans())
@example(data=SEEDS[0], suffix=".json", via_stdin=False)
@example(data=SEEDS[1], suffix=".yaml", via_stdin=False)
@example(data=SEEDS[3], suffix=".yaml", via_stdin=True)
def test_any_input_gets_a_meshtool_answer(scratch, command, data, suffix, via_stdin):
    work = scratch / f"w{time.monotonic_ns()}"
    work.mkdir()
    os.environ["MESHTOOL_STORE"] = str(work / "store.db")
    (work / f"in{suffix}").write_bytes(data)
    target = "-" if via_stdin else f"in{suffix}"
    started = time.monotonic()
    code, err = run([*command, target], work, stdin=data if via_stdin else b"")
    assert time.monotonic() - started < SECONDS_PER_RUN, f"{command}: too slow"
    assert code in DOCUMENTED, (code, err)
    assert "internal error" not in err and "Traceback" not in err, err
    assert not (work / "in.yaml.tmp").exists()
