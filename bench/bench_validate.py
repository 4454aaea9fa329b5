"""Validation throughput: 1,000 generated rule files through the loader, against yaml.safe_load"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Figure, interleaved, python

FILES = 1000
TARGET_S = 1.0

_ROUTE = """\
# generated route rule {i}
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: route-{i}
  namespace: ns-{ns}
spec:
  destination:
    name: svc-{i}
  precedence: {prec}
  match:
    request:
      headers:
        uri:
          prefix: /api/{i}
        x-user:
          regex: "^user-[0-9]+$"
  route:
  - labels:
      version: v1
    weight: {w}
  - labels:
      version: v2
    weight: {w2}
  httpReqTimeout:
    simpleTimeout:
      timeout: 2s
  httpReqRetries:
    simpleRetry:
      attempts: 3
      perTryTimeout: 500ms
"""
_EGRESS = """\
apiVersion: config.meshtool.io/v1alpha1
kind: EgressRule
metadata:
  name: egress-{i}
spec:
  destination:
    service: "*.ext-{i}.example.com"
  ports:
  - port: 443
    protocol: https
  - port: {port}
    protocol: http
"""
_POLICY = """\
apiVersion: config.meshtool.io/v1alpha1
kind: DestinationPolicy
metadata:
  name: policy-{i}
spec:
  destination:
    name: svc-{i}
    labels:
      version: v1
  loadBalancing:
    name: LEAST_CONN
  circuitBreaker:
    simpleCb:
      maxConnections: 100
      httpMaxPendingRequests: 10
      sleepWindow: 15m
      httpDetectionInterval: 5m
      httpMaxEjectionPercent: 50
"""


def generate(directory: Path, count: int = FILES) -> list[Path]:
    """`count` valid rule files (70% RouteRules, the rest EgressRules and policies)."""
    rnd = random.Random(7)
    paths = []
    for i in range(count):
        w = rnd.randint(0, 100)
        kind = rnd.random()
        if kind < 0.7:
            text = _ROUTE.format(i=i, ns=i % 5, prec=rnd.randint(0, 9), w=w, w2=100 - w)
        elif kind < 0.85:
            text = _EGRESS.format(i=i, port=8000 + i)
        else:
            text = _POLICY.format(i=i)
        path = directory / f"rule-{i:04d}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def run(quick: bool = False) -> list[Figure]:
    import yaml

    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources

    with tempfile.TemporaryDirectory(prefix="meshtool-bench-") as tmp:
        directory = Path(tmp)
        paths = generate(directory)

        def through_loader() -> None:
            result = load_rules(read_sources([str(directory)]))
            assert len(result.resources) == FILES and not result.findings

        def safe_load() -> None:
            for p in paths:
                yaml.safe_load(p.read_text())

        def c_safe_load() -> None:
            for p in paths:
                yaml.load(p.read_text(), Loader=yaml.CSafeLoader)

        through_loader()  # compile the validators once, as a long-lived process would
        warm = interleaved({"loader": through_loader, "safe_load": safe_load,
                            "c_safe_load": c_safe_load}, repeat=3 if quick else 7)
        cpu = {name: _cpu(fn, 3 if quick else 5) for name, fn in
               (("loader", through_loader), ("safe_load", safe_load))}
        cold = interleaved({
            "loader": lambda: _fresh(f"from meshtool.rules.loader import load_rules\n"
                                     f"from meshtool.rules.sources import read_sources\n"
                                     f"r = load_rules(read_sources([{str(directory)!r}]))\n"
                                     f"assert len(r.resources) == {FILES}\n"),
            "safe_load": lambda: _fresh(f"import yaml, pathlib\n"
                                        f"for p in sorted(pathlib.Path({str(directory)!r})"
                                        f".glob('*.yaml')):\n"
                                        f"    yaml.safe_load(p.read_text())\n"),
        }, repeat=2 if quick else 5)
        n = f"{FILES:,} files"
        return [
            Figure(f"validate {n} through the loader (warm)", warm["loader"], "s",
                   "yaml.safe_load of the same files", warm["safe_load"],
                   target=f"< {TARGET_S:g} s", met=warm["loader"] < TARGET_S,
                   notes="read, split, parse (libyaml), detect kind, schema check (compiled once "
                         "per process; jsonschema only for invalid files), semantic checks, "
                         "Resource"),
            Figure(f"validate {n} through the loader (warm)", warm["loader"], "s",
                   "yaml.load with CSafeLoader (libyaml) alone", warm["c_safe_load"],
                   notes="the share of the work that is parsing"),
            Figure(f"validate {n} through the loader (CPU time)", cpu["loader"], "s",
                   "yaml.safe_load of the same files (CPU time)", cpu["safe_load"],
                   target=f"< {TARGET_S:g} s", met=cpu["loader"] < TARGET_S,
                   notes="process CPU time, best of several runs: what the work costs when the "
                         f"machine is shared (load average at the end: {_load()})"),
            Figure(f"validate {n} in a fresh process", cold["loader"], "s",
                   "yaml.safe_load in a fresh process", cold["safe_load"],
                   target=f"< {TARGET_S:g} s", met=cold["loader"] < TARGET_S,
                   notes="includes interpreter start-up, imports and schema compilation"),
        ]


def _cpu(fn, repeat: int) -> float:
    """Least process CPU time of `fn`: unlike wall time, not inflated by other processes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:  # pragma: no cover
        return "unknown"


def _fresh(code: str) -> None:
    subprocess.run([python(), "-c", code], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":  # pragma: no cover
    for f in run(quick="--quick" in sys.argv):
        print(f.name, f"{f.value:.3f}", f.reference, f"{f.reference_value:.3f}")
