"""kube-inject: 1, 100 and 10,000 Deployments against a plain ruamel.yaml load+dump of the same stream

kube-inject runs in-process on one stream (what `meshtool kube-inject -f big.yaml` does after
reading the file). The reference is what a ruamel round-trip rewriter pays before injecting
anything: load every document and dump it again.
"""

from __future__ import annotations

import io
import time
import tracemalloc

from bench.harness import Figure, interleaved

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  labels:
    app: svc-{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: svc-{i}
  template:
    metadata:
      labels:
        app: svc-{i}
        version: v1
    spec:
      containers:
      - name: app
        image: example/svc:{i}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
        env:
        - name: MODE
          value: "production"  # quoted on purpose
"""


def stream(n: int) -> str:
    return "---\n".join(DEPLOYMENT.format(i=i) for i in range(n))


def inject(text: str) -> str:
    from meshtool.inject.config import InjectConfig
    from meshtool.inject.pipeline import INJECT, transform_source
    from meshtool.rules.sources import Source

    out, _ = transform_source(Source("bench.yaml", text), INJECT, InjectConfig())
    return out


def ruamel_roundtrip(text: str) -> str:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    buf = io.StringIO()
    y.dump_all(list(y.load_all(text)), buf)
    return buf.getvalue()


def timed(fn, text: str) -> float:
    t0 = time.perf_counter()
    fn(text)
    return time.perf_counter() - t0


def peak_mb(fn, text: str) -> float:
    tracemalloc.start()
    try:
        fn(text)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def run(quick: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    inject(stream(2))  # warm imports and caches for both sides
    ruamel_roundtrip(stream(2))
    for n in (1, 100, 10_000):
        text = stream(n)
        if n < 10_000:
            t = interleaved({"inject": lambda: inject(text), "ruamel": lambda: ruamel_roundtrip(text)},
                            repeat=5 if quick else 15)
            t_inject, t_ruamel, note = t["inject"], t["ruamel"], "medians of interleaved runs"
        else:
            t_inject = min(timed(inject, text) for _ in range(1 if quick else 3))
            sample = 1_000 if quick else n
            t_ruamel = timed(ruamel_roundtrip, stream(sample)) * (n / sample)
            note = ("ruamel timed on 1,000 documents and scaled (quick run)" if quick
                    else "best of 3 (ruamel: one run)")
        per_doc, ref_per_doc = t_inject / n, t_ruamel / n
        figures.append(Figure(f"kube-inject {n:,} Deployments, per document", per_doc, "s",
                              "ruamel.yaml load+dump per document", ref_per_doc, target="<= 3x",
                              met=per_doc <= 3 * ref_per_doc, notes=note))
        figures.append(Figure(f"kube-inject {n:,} Deployments, throughput", n / t_inject, "docs/s",
                              "ruamel.yaml load+dump", n / t_ruamel))
        if n == 10_000:
            figures.append(Figure("kube-inject 10,000 Deployments, total", t_inject, "s",
                                  target="< 5 s", met=t_inject < 5))
    for n in (100, 10_000):
        text = stream(n)
        ref = peak_mb(ruamel_roundtrip, text) if n <= 100 else None  # ruamel under tracemalloc: minutes
        figures.append(Figure(f"kube-inject {n:,} Deployments, peak memory", peak_mb(inject, text), "MB",
                              "ruamel.yaml load+dump" if ref is not None else None, ref,
                              notes="Python allocations (tracemalloc), input and output text included"))
    return figures
