"""Metrics: Prometheus counters and a duration histogram, served as text on the admin port.

Reads meshtool.direction, .service, .subset, .external, .attempts, .overflow, .ejected and
.denied; every label value comes from configuration, so the series stay bounded.
"""

from __future__ import annotations

import bisect
import time

from mitmproxy import http

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(names: tuple[str, ...], values: tuple) -> str:
    return ",".join(f'{n}="{str(v).replace(chr(92), "/").replace(chr(34), "")}"'
                    for n, v in zip(names, values))


class Metrics:
    REQ = ("direction", "source", "destination_service", "destination_version", "response_code")

    def __init__(self, state) -> None:
        self.state = state
        self.requests: dict[tuple, int] = {}
        self.durations: dict[tuple, list] = {}  # (direction, service) -> [bucket counts, sum, n]
        self.retries: dict[str, int] = {}
        self.overflows: dict[tuple, int] = {}
        self.ejections: dict[str, int] = {}
        self.denied: dict[str, int] = {}

    def response(self, flow: http.HTTPFlow) -> None:
        md = flow.metadata
        ident = self.state.identity
        direction = md.get("meshtool.direction", "outbound")
        if direction == "inbound":
            source = flow.request.headers.get("x-meshtool-source", "unknown")
            service, version = ident.service, ident.labels.get("version", "")
        else:
            source = ident.service or "unknown"
            svc = md.get("meshtool.service")
            ext = md.get("meshtool.external")
            service = svc.name if svc is not None else (ext[0] if ext else "unknown")
            subset = md.get("meshtool.subset")
            version = subset.version if subset is not None else ""
        code = flow.response.status_code if flow.response is not None else 0
        key = (direction, source, service, version, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.durations.get((direction, service))
        if hist is None:
            hist = self.durations[(direction, service)] = [[0] * len(BUCKETS), 0.0, 0]
        elapsed = max(0.0, time.time() - flow.request.timestamp_start)
        i = bisect.bisect_left(BUCKETS, elapsed)
        if i < len(BUCKETS):
            hist[0][i] += 1
        hist[1] += elapsed
        hist[2] += 1
        if (attempts := md.get("meshtool.attempts", 0)) > 1:
            self.retries[service] = self.retries.get(service, 0) + attempts - 1
        if limit := md.get("meshtool.overflow"):
            self.overflows[(service, limit)] = self.overflows.get((service, limit), 0) + 1
        for _ in md.get("meshtool.ejected", ()):
            self.ejections[service] = self.ejections.get(service, 0) + 1
        if host := md.get("meshtool.denied"):
            self.denied[host] = self.denied.get(host, 0) + 1

    def error(self, flow: http.HTTPFlow) -> None:
        self.response(flow)

    def render(self) -> str:
        out = ["# TYPE meshtool_requests_total counter"]
        out += [f"meshtool_requests_total{{{_labels(self.REQ, k)}}} {v}"
                for k, v in sorted(self.requests.items(), key=str)]
        out.append("# TYPE meshtool_request_duration_seconds histogram")
        for (direction, service), (counts, total, n) in sorted(self.durations.items()):
            base = _labels(("direction", "destination_service"), (direction, service))
            acc = 0
            for le, c in zip(BUCKETS, counts):
                acc += c
                out.append(f'meshtool_request_duration_seconds_bucket{{{base},le="{le}"}} {acc}')
            out.append(f'meshtool_request_duration_seconds_bucket{{{base},le="+Inf"}} {n}')
            out.append(f"meshtool_request_duration_seconds_sum{{{base}}} {total:.6f}")
            out.append(f"meshtool_request_duration_seconds_count{{{base}}} {n}")
        for name, kind, table, names in (
                ("meshtool_retries_total", "counter", self.retries, ("destination_service",)),
                ("meshtool_circuit_breaker_overflows_total", "counter", self.overflows,
                 ("destination_service", "limit")),
                ("meshtool_circuit_breaker_ejections_total", "counter", self.ejections,
                 ("destination_service",)),
                ("meshtool_egress_denied_total", "counter", self.denied, ("host",))):
            out.append(f"# TYPE {name} {kind}")
            out += [f"{name}{{{_labels(names, k if isinstance(k, tuple) else (k,))}}} {v}"
                    for k, v in sorted(table.items())]
        st = self.state
        out.append("# TYPE meshtool_snapshot_info gauge")
        if st.version is not None:
            out.append(f'meshtool_snapshot_info{{version="{st.version}"}} 1')
        out.append("# TYPE meshtool_snapshots_applied_total counter")
        out.append(f"meshtool_snapshots_applied_total {st.applied_total}")
        out.append("# TYPE meshtool_snapshots_rejected_total counter")
        out.append(f"meshtool_snapshots_rejected_total {st.rejected_total}")
        return "\n".join(out) + "\n"
