"""Span recording with the OpenTelemetry SDK, exported in batches to Zipkin (or OTLP over HTTP).

Only `TracingConfig` is light: `SpanRecorder` imports the SDK when it is built, so a sidecar with
tracing off never loads it (start-up time matters). Spans go to the SDK's BatchSpanProcessor,
whose worker thread exports them off the request path; when the collector is down or slow the
queue fills and spans are dropped, and requests never wait for an export.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from meshtool.sidecar import flowkeys

log = logging.getLogger("meshtool.sidecar")


@dataclass(frozen=True)
class TracingConfig:
    zipkin: str | None = None  # http://HOST:9411/api/v2/spans
    otlp: str | None = None  # http://HOST:4318/v1/traces
    sampling: float = 1.0  # percent of new traces recorded; a caller's decision is kept
    flush_interval: float = 1.0  # seconds between batches
    queue_size: int = 2048  # spans waiting for export; more are dropped

    @property
    def enabled(self) -> bool:
        return bool(self.zipkin or self.otlp)


def parse_sampling(text: str) -> float:
    """A percentage 0..100 ('1', '0.5', '100'); ValueError otherwise."""
    value = float(text)
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"sampling must be a percentage between 0 and 100, got {text}")
    return value


class SpanRecorder:
    """What the trace addon calls: start a span from the incoming context, give its ids, end it."""

    def __init__(self, config: TracingConfig, service: str, proxy_id: str = "",
                 exporters: list | None = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased
        from opentelemetry.trace import (NonRecordingSpan, SpanContext, SpanKind, StatusCode,
                                         TraceFlags, set_span_in_context)

        self._ctx = (NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context)
        self._kinds = (SpanKind.SERVER, SpanKind.CLIENT)
        self._error = StatusCode.ERROR
        self.bound = TraceIdRatioBased.get_bound_for_rate(config.sampling / 100.0)
        self._ids = _ChosenTraceIds()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service or "unknown",
                                      "service.instance.id": proxy_id or service or "unknown"}),
            sampler=ALWAYS_ON, id_generator=self._ids)  # start() decides; spans it starts record
        for exporter in _exporters(config) if exporters is None else exporters:
            self.provider.add_span_processor(BatchSpanProcessor(
                exporter, max_queue_size=config.queue_size,
                schedule_delay_millis=int(config.flush_interval * 1000),
                export_timeout_millis=5000))
        self.tracer = self.provider.get_tracer("meshtool.sidecar")
        self.proxy_id = proxy_id

    def start(self, flow, inbound: bool, trace_id: bytes | None, parent: bytes | None,
              sampled: bytes | None) -> tuple[object | None, bytes, bytes, bytes]:
        """(span or None, trace id, span id, sampled flag) for the outgoing headers.

        The sampling decision is made here, before the SDK is involved: the caller's when it
        sent one, else the configured percentage of the trace id (the same answer on every hop).
        An unsampled request costs two random ids and no SDK call."""
        tid = pid = 0
        if trace_id and parent:
            try:
                tid, pid = int(trace_id, 16), int(parent, 16)
            except ValueError:
                tid = pid = 0
        if not (tid and pid):
            tid, pid = int.from_bytes(os.urandom(16), "big") or 1, 0
            sampled = None
        if sampled is None:
            on = (tid & 0xFFFFFFFFFFFFFFFF) < self.bound
        else:
            on = sampled in (b"1", b"d", b"true")
        if not on:
            return None, f"{tid:032x}".encode(), os.urandom(8).hex().encode(), b"0"
        NonRecordingSpan, SpanContext, TraceFlags, in_context = self._ctx
        if pid:
            context = in_context(NonRecordingSpan(SpanContext(
                tid, pid, True, TraceFlags(TraceFlags.SAMPLED))))
        else:  # a root span: the SDK takes the trace id chosen above from our id generator
            context, self._ids.trace_id = None, tid
        req = flow.request
        span = self.tracer.start_span(
            f"{req.method} {req.host_header or req.host}{req.path.split('?', 1)[0]}",
            context=context, kind=self._kinds[0] if inbound else self._kinds[1],
            start_time=int(req.timestamp_start * 1e9) if req.timestamp_start else None)
        sc = span.get_span_context()
        return span, f"{sc.trace_id:032x}".encode(), f"{sc.span_id:016x}".encode(), b"1"

    def end(self, span, flow) -> None:
        if not span.is_recording():
            return
        req, resp, md = flow.request, flow.response, flow.metadata
        attrs = {"http.method": req.method, "http.url": req.pretty_url,
                 "meshtool.proxy_id": self.proxy_id,
                 flowkeys.DIRECTION: md.get(flowkeys.DIRECTION, "outbound")}
        if rid := md.get(flowkeys.REQUEST_ID):
            attrs["guid:x-request-id"] = rid.decode("latin-1")
        if (svc := md.get(flowkeys.SERVICE)) is not None:
            attrs["peer.service"] = svc.name
        elif ext := md.get(flowkeys.EXTERNAL):
            attrs["peer.service"] = ext[0]
        if resp is not None:
            attrs["http.status_code"] = resp.status_code
            if resp.status_code >= 500:
                span.set_status(self._error)
        elif flow.error is not None:
            attrs["error"] = str(flow.error.msg)
            span.set_status(self._error)
        span.set_attributes(attrs)
        end = resp.timestamp_end if resp is not None and resp.timestamp_end else time.time()
        span.end(end_time=int(end * 1e9))

    def shutdown(self) -> None:
        """Export what is queued (bounded by the export timeout), then stop the worker."""
        self.provider.shutdown()


class _ChosenTraceIds:
    """The SDK's id generator, except that a root span's trace id is the one start() chose."""

    def __init__(self) -> None:
        self.trace_id = 0

    def generate_span_id(self) -> int:
        return int.from_bytes(os.urandom(8), "big") or 1

    def generate_trace_id(self) -> int:
        tid, self.trace_id = self.trace_id, 0
        return tid or int.from_bytes(os.urandom(16), "big") or 1

    def is_trace_id_random(self) -> bool:
        return True  # from os.urandom, here or at the caller's end


def _exporters(config: TracingConfig) -> list:
    out = []
    if config.zipkin:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter
        out.append(ZipkinExporter(endpoint=config.zipkin, timeout=5))
    if config.otlp:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.error("tracing: OTLP export needs opentelemetry-exporter-otlp-proto-http "
                      "(pip install 'meshtool[otlp]'); spans are not sent there")
        else:
            out.append(OTLPSpanExporter(endpoint=config.otlp, timeout=5))
    return out
