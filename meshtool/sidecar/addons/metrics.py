"""Metrics: the sidecar's Prometheus series, one set of names and labels (docs/observability.md).

Per request the cost is one tuple of labels, one dict lookup and a few additions: the text is
built only when scraped. Reads meshtool.direction, .service, .external, .endpoints,
.attempt_log, .attempts, .overflow, .ejected, .denied, .forbidden, .mtls, .source and .peer.
Label values come from configuration or from a bounded cache of peer headers, so the number of
series stays bounded.
"""

from __future__ import annotations

import bisect
import time

from mitmproxy import http

from meshtool.sidecar.peer import UNKNOWN, PeerCache, local_peer
from meshtool.sidecar import flowkeys

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)
SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

REQUEST_LABELS = ("direction", "source_service", "source_workload", "source_namespace",
                  "source_version", "destination_service", "destination_namespace",
                  "destination_workload", "destination_version", "response_code",
                  "grpc_response_status", "connection_security_policy", "request_protocol")
TCP_LABELS = ("direction",)
CONNECTION_BUCKETS = SIZE_BUCKETS + (16777216, 67108864, 268435456, 1073741824)
_ND, _NS, _NC = len(DURATION_BUCKETS), len(SIZE_BUCKETS), len(CONNECTION_BUCKETS)


def escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(names: tuple[str, ...], values: tuple) -> str:
    return ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values))


class Series:
    """Everything counted for one label set: counts, the duration histogram, size histograms."""

    __slots__ = ("count", "seconds", "durations", "req_bytes", "req_sizes", "resp_bytes",
                 "resp_sizes")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.durations = [0] * (_ND + 1)  # the last one is +Inf
        self.req_bytes = self.resp_bytes = 0
        self.req_sizes = [0] * (_NS + 1)
        self.resp_sizes = [0] * (_NS + 1)


class ConnectionBytes:
    """Bytes per client connection, observed when it closes: one histogram each way."""

    __slots__ = ("count", "received", "sent", "received_sizes", "sent_sizes")

    def __init__(self) -> None:
        self.count = self.received = self.sent = 0
        self.received_sizes = [0] * (_NC + 1)
        self.sent_sizes = [0] * (_NC + 1)

    def observe(self, received: int, sent: int) -> None:
        self.count += 1
        self.received += received
        self.sent += sent
        self.received_sizes[bisect.bisect_left(CONNECTION_BUCKETS, received)] += 1
        self.sent_sizes[bisect.bisect_left(CONNECTION_BUCKETS, sent)] += 1


class Metrics:
    def __init__(self, state, inbound_port: int | None = None) -> None:
        self.state = state
        self.inbound_port = inbound_port
        self.me = local_peer(state.identity)
        self.peers = PeerCache()
        self.series: dict[tuple, Series] = {}
        self.retries: dict[tuple[str, str], int] = {}  # (service, namespace)
        self.overflows: dict[tuple[str, str, str], int] = {}  # + the limit that overflowed
        self.ejections: dict[tuple[str, str], int] = {}
        self.denied: dict[str, int] = {}  # egress, by host
        self.forbidden: dict[tuple[str, str], int] = {}  # traffic permissions, by source service
        self.opened: dict[str, int] = {}  # TCP connections, by direction
        self.closed: dict[str, int] = {}
        self.received: dict[str, int] = {}  # bytes of non-HTTP TCP streams
        self.sent: dict[str, int] = {}
        self.connection_bytes: dict[str, ConnectionBytes] = {}  # by direction, any protocol

    # -- requests --------------------------------------------------------------------------
    def response(self, flow: http.HTTPFlow) -> None:
        md = flow.metadata
        me = self.me
        req, resp = flow.request, flow.response
        direction = md.get(flowkeys.DIRECTION, "outbound")
        if direction == "inbound":
            src = self.peers.source(md.get(flowkeys.SOURCE))
            head = (direction, src.service, src.workload, src.namespace, src.version,
                    me.service, me.namespace, me.workload, me.version)
        else:
            svc = md.get(flowkeys.SERVICE)
            if svc is not None:
                service, namespace = svc.name, svc.namespace
                workload, version = UNKNOWN, _endpoint_version(md)
            else:
                ext = md.get(flowkeys.EXTERNAL)
                service, namespace = (ext[0] if ext else UNKNOWN), UNKNOWN
                workload = version = UNKNOWN
            if (peer := self.peers.destination(md.get(flowkeys.PEER))) is not None:
                workload = peer[0]
                if version == UNKNOWN:
                    version = peer[2]
            head = (direction, me.service, me.workload, me.namespace, me.version,
                    service, namespace, workload, version)
        code = resp.status_code if resp is not None else 0
        if req.http_version == "HTTP/2.0" and req.headers.get("content-type", "").startswith(
                "application/grpc"):
            protocol = "grpc"
            grpc = _grpc_status(resp)
        else:
            protocol, grpc = "http", ""
        key = head + (code, grpc, "mutual_tls" if md.get(flowkeys.MTLS) else "none", protocol)
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = Series()
        elapsed = (resp.timestamp_end or time.time()) if resp is not None else time.time()
        elapsed = max(0.0, elapsed - req.timestamp_start)
        s.count += 1
        s.seconds += elapsed
        s.durations[bisect.bisect_left(DURATION_BUCKETS, elapsed)] += 1
        n = _body_size(req)
        s.req_bytes += n
        s.req_sizes[bisect.bisect_left(SIZE_BUCKETS, n)] += 1
        n = _body_size(resp) if resp is not None else 0
        s.resp_bytes += n
        s.resp_sizes[bisect.bisect_left(SIZE_BUCKETS, n)] += 1
        dest = (head[5], head[6])
        if (attempts := md.get(flowkeys.ATTEMPTS, 0)) > 1:
            self.retries[dest] = self.retries.get(dest, 0) + attempts - 1
        if limit := md.get(flowkeys.OVERFLOW):
            k = dest + (limit,)
            self.overflows[k] = self.overflows.get(k, 0) + 1
        if ejected := md.get(flowkeys.EJECTED):
            self.ejections[dest] = self.ejections.get(dest, 0) + len(ejected)
        if host := md.get(flowkeys.DENIED):
            self.denied[host] = self.denied.get(host, 0) + 1
        if md.get(flowkeys.FORBIDDEN):
            k = (head[1], head[3])
            self.forbidden[k] = self.forbidden.get(k, 0) + 1

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:  # with a response, `response` counted it already
            self.response(flow)

    # -- connections -----------------------------------------------------------------------
    def _direction(self, client) -> str:
        mode = getattr(client, "proxy_mode", None)
        if self.inbound_port is not None and mode is not None and \
                mode.listen_port() == self.inbound_port:
            return "inbound"
        return "outbound"

    def client_connected(self, client) -> None:
        d = self._direction(client)
        self.opened[d] = self.opened.get(d, 0) + 1

    def client_disconnected(self, client) -> None:
        d = self._direction(client)
        self.closed[d] = self.closed.get(d, 0) + 1
        counted = getattr(client, "meshtool_bytes", None)  # [received, sent], by the core
        if counted is not None:
            per = self.connection_bytes.get(d)
            if per is None:
                per = self.connection_bytes[d] = ConnectionBytes()
            per.observe(counted[0], counted[1])

    def tcp_message(self, flow) -> None:
        msg = flow.messages[-1]
        d = self._direction(flow.client_conn)
        table = self.received if msg.from_client else self.sent
        table[d] = table.get(d, 0) + len(msg.content)

    # -- exposition ------------------------------------------------------------------------
    def render(self) -> str:
        out: list[str] = []
        series = sorted(self.series.items(), key=lambda kv: str(kv[0]))
        head = [(labels(REQUEST_LABELS, k), s) for k, s in series]
        out += ["# HELP meshtool_requests_total Requests, by source, destination and outcome.",
                "# TYPE meshtool_requests_total counter"]
        out += [f"meshtool_requests_total{{{lb}}} {s.count}" for lb, s in head]
        for name, unit_help, buckets, pick, total in (
                ("meshtool_request_duration_seconds", "Request duration, first byte in to "
                 "last byte out.", DURATION_BUCKETS, "durations", "seconds"),
                ("meshtool_request_bytes", "Request body sizes.", SIZE_BUCKETS, "req_sizes",
                 "req_bytes"),
                ("meshtool_response_bytes", "Response body sizes.", SIZE_BUCKETS, "resp_sizes",
                 "resp_bytes")):
            out += [f"# HELP {name} {unit_help}", f"# TYPE {name} histogram"]
            for lb, s in head:
                acc = 0
                for le, c in zip(buckets, getattr(s, pick)):
                    acc += c
                    out.append(f'{name}_bucket{{{lb},le="{float(le)}"}} {acc}')
                out.append(f'{name}_bucket{{{lb},le="+Inf"}} {s.count}')
                t = getattr(s, total)
                out.append(f"{name}_sum{{{lb}}} {t:.6f}" if isinstance(t, float)
                           else f"{name}_sum{{{lb}}} {t}")
                out.append(f"{name}_count{{{lb}}} {s.count}")
        dest = ("destination_service", "destination_namespace")
        for name, text, table, names in (
                ("meshtool_retries_total", "Retries beyond the first attempt.", self.retries,
                 dest),
                ("meshtool_circuit_breaker_overflows_total", "Requests refused by a circuit "
                 "breaker limit.", self.overflows, dest + ("limit",)),
                ("meshtool_circuit_breaker_ejections_total", "Endpoints ejected by outlier "
                 "detection.", self.ejections, dest),
                ("meshtool_egress_denied_total", "Requests to external hosts no EgressRule "
                 "allows.", self.denied, ("host",)),
                ("meshtool_permission_denied_total", "Inbound requests refused by traffic "
                 "permissions.", self.forbidden, ("source_service", "source_namespace")),
                ("meshtool_tcp_connections_opened_total", "Client connections accepted.",
                 self.opened, TCP_LABELS),
                ("meshtool_tcp_connections_closed_total", "Client connections closed.",
                 self.closed, TCP_LABELS),
                ("meshtool_tcp_received_bytes_total", "Bytes received from clients on TCP "
                 "(non-HTTP) streams.", self.received, TCP_LABELS),
                ("meshtool_tcp_sent_bytes_total", "Bytes sent to clients on TCP (non-HTTP) "
                 "streams.", self.sent, TCP_LABELS),
                ("meshtool_inbound_connections_total", "Inbound connections by security "
                 "(mutual_tls, plaintext, refused under STRICT, tls_failed) and source (the "
                 "peer's SPIFFE ID over mTLS, else its address): when no plaintext is left, "
                 "STRICT is safe.", self.state.inbound_connections, ("security", "source")),
                ("meshtool_permission_audited_total", "Inbound requests (and TCP connections) "
                 "an AUDIT policy matched (dry run: counted and logged, not denied).",
                 self.state.audited, ("policy", "source")),
                ("meshtool_permission_denied_connections_total", "Inbound TCP (non-HTTP) "
                 "connections closed by traffic permissions at connection time.",
                 self.state.tcp_denied, ("policy", "source"))):
            out += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            out += [f"{name}{{{labels(names, k if isinstance(k, tuple) else (k,))}}} {v}"
                    for k, v in sorted(table.items())]
        for name, text, pick, total in (
                ("meshtool_tcp_connection_received_bytes", "Bytes received from the client per "
                 "connection, any protocol, observed when it closes.", "received_sizes",
                 "received"),
                ("meshtool_tcp_connection_sent_bytes", "Bytes sent to the client per "
                 "connection, any protocol, observed when it closes.", "sent_sizes", "sent")):
            out += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
            for direction, per in sorted(self.connection_bytes.items()):
                lb = labels(TCP_LABELS, (direction,))
                acc = 0
                for le, c in zip(CONNECTION_BUCKETS, getattr(per, pick)):
                    acc += c
                    out.append(f'{name}_bucket{{{lb},le="{float(le)}"}} {acc}')
                out.append(f'{name}_bucket{{{lb},le="+Inf"}} {per.count}')
                out.append(f"{name}_sum{{{lb}}} {getattr(per, total)}")
                out.append(f"{name}_count{{{lb}}} {per.count}")
        st = self.state
        out += ["# HELP meshtool_snapshot_info The snapshot in force (value 1).",
                "# TYPE meshtool_snapshot_info gauge"]
        if st.version is not None:
            out.append(f'meshtool_snapshot_info{{version="{escape(st.version)}"}} 1')
        out += ["# HELP meshtool_snapshots_applied_total Snapshots applied.",
                "# TYPE meshtool_snapshots_applied_total counter",
                f"meshtool_snapshots_applied_total {st.applied_total}",
                "# HELP meshtool_snapshots_rejected_total Snapshots rejected (NACKed).",
                "# TYPE meshtool_snapshots_rejected_total counter",
                f"meshtool_snapshots_rejected_total {st.rejected_total}"]
        return "\n".join(out) + "\n"


def _endpoint_version(md: dict) -> str:
    """The version label of the endpoint that answered (the last attempt), whatever chose it."""
    eps = md.get(flowkeys.ENDPOINTS)
    if not eps:
        return UNKNOWN
    log = md.get(flowkeys.ATTEMPT_LOG)
    ep = eps[0]
    if log and (key := log[-1][0]) != ep.key:
        ep = next((e for e in eps if e.key == key), ep)
    return ep.labels.get("version") or UNKNOWN


def _body_size(message) -> int:
    """The body's length; a streamed body is not kept, so its Content-Length (else 0)."""
    raw = message.raw_content
    if raw is not None:
        return len(raw)
    try:
        return int(message.headers.get("content-length", 0))
    except ValueError:
        return 0


def _grpc_status(resp) -> str:
    if resp is None:
        return ""
    for headers in (resp.trailers, resp.headers):
        if headers is not None and (v := headers.get("grpc-status")) is not None:
            return v
    return ""
