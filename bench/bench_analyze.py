"""analyze over 1,000 manifests and 1,000 rules against validate alone on the same files

The corpus: 250 services in 10 namespaces, each with a Service and three versioned
Deployments (1,000 manifests), and per service a 90/10 RouteRule, a header-matched
RouteRule, a DestinationPolicy and an EgressRule (1,000 rules), 10 documents a file; one
service in fifty routes to a version that does not exist, so analysis has messages to
report (and to locate). validate = the loader alone (schema, semantics) on all the files;
analyze = the same loader plus the manifests, the index and every analyzer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.harness import Figure, interleaved

SERVICES = 250
NAMESPACES = 10
PER_FILE = 10

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: ns-{ns}
spec:
  selector:
    app: svc-{i}
  ports:
  - name: http-web
    port: 8080
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}-{v}
  namespace: ns-{ns}
spec:
  selector:
    matchLabels: {{app: svc-{i}, version: {v}}}
  template:
    metadata:
      labels: {{app: svc-{i}, version: {v}}}
      annotations:
        traffic.sidecar.meshtool.io/excludeOutboundPorts: "5432"
    spec:
      containers:
      - name: app
        image: example/svc:{v}
        ports:
        - containerPort: 8080
"""
RULES = """apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: svc-{i}-split
  namespace: ns-{ns}
spec:
  destination:
    name: svc-{i}
  precedence: 1
  route:
  - labels: {{version: v1}}
    weight: 90
  - labels: {{version: {canary}}}
    weight: 10
---
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata:
  name: svc-{i}-testers
  namespace: ns-{ns}
spec:
  destination:
    name: svc-{i}.ns-{ns}.svc.cluster.local
  precedence: 2
  match:
    request:
      headers:
        end-user:
          exact: tester-{i}
  route:
  - labels: {{version: v3}}
  httpReqTimeout:
    simpleTimeout:
      timeout: 2s
---
apiVersion: config.meshtool.io/v1alpha1
kind: DestinationPolicy
metadata:
  name: svc-{i}-cb
  namespace: ns-{ns}
spec:
  destination:
    name: svc-{i}
    labels: {{version: v1}}
  loadBalancing:
    name: LEAST_CONN
  circuitBreaker:
    simpleCb:
      maxConnections: 100
      httpMaxPendingRequests: 10
---
apiVersion: config.meshtool.io/v1alpha1
kind: EgressRule
metadata:
  name: svc-{i}-egress
  namespace: ns-{ns}
spec:
  destination:
    service: api-{i}.partner{p}.example.com
  ports:
  - port: 443
    protocol: https
"""


def write_corpus(root: Path) -> list[str]:
    docs: list[str] = []
    for i in range(SERVICES):
        ns = i % NAMESPACES
        docs.append(SERVICE.format(i=i, ns=ns))
        docs += [DEPLOYMENT.format(i=i, ns=ns, v=v) for v in ("v1", "v2", "v3")]
        docs += RULES.format(i=i, ns=ns, p=i % 7, canary="v9" if i % 50 == 0 else "v2") \
            .split("---\n")
    files = []
    for n in range(0, len(docs), PER_FILE):
        path = root / f"part-{n // PER_FILE:04d}.yaml"
        path.write_text("---\n".join(docs[n:n + PER_FILE]))
        files.append(str(path))
    return files


def run(quick: bool = False) -> list[Figure]:
    from meshtool.analysis import analyze
    from meshtool.analysis.inputs import read_files
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources

    with tempfile.TemporaryDirectory() as tmp:
        files = write_corpus(Path(tmp))
        checks = {}

        def validate():
            result = load_rules(read_sources(files))
            checks["rules"] = len(result.resources)

        def analysis():
            inputs = read_files(read_sources(files))
            report = analyze(inputs)
            checks["objects"] = len(inputs.items)
            checks["messages"] = len(report.messages)

        times = interleaved({"validate": validate, "analyze": analysis},
                            repeat=2 if quick else 6)
    assert checks["rules"] == 4 * SERVICES and checks["objects"] == 8 * SERVICES, checks
    ratio = times["analyze"] / times["validate"]
    return [Figure(
        "analyze: 1,000 manifests + 1,000 rules", times["analyze"], "s",
        "validate (the loader) on the same files", times["validate"],
        target="<= 2x (analysis adds < 1x validate)", met=ratio <= 2.0,
        notes=f"{len(files)} files; {checks['messages']} messages reported and located; "
              "medians of interleaved in-process runs")]
