import asyncio

from meshtool.sidecar.addons.trace import Trace


def test_new_trace_gets_ids_in_both_formats(chain, outbound_flow):
    f = asyncio.run(chain([Trace("magnanimo")]).run(outbound_flow()))
    h = f.request.headers
    assert len(h["x-request-id"]) == 36
    assert len(h["x-b3-traceid"]) == 32 and len(h["x-b3-spanid"]) == 16
    assert "x-b3-parentspanid" not in h
    assert h["traceparent"] == f"00-{h['x-b3-traceid']}-{h['x-b3-spanid']}-01"
    assert h["x-meshtool-source"] == "magnanimo"


def test_existing_b3_trace_continues_with_a_child_span(chain, outbound_flow):
    f = asyncio.run(chain([Trace()]).run(outbound_flow(headers={
        "x-request-id": "abc", "x-b3-traceid": "1" * 32, "x-b3-spanid": "2" * 16,
        "x-b3-sampled": "0"})))
    h = f.request.headers
    assert h["x-request-id"] == "abc"
    assert h["x-b3-traceid"] == "1" * 32
    assert h["x-b3-parentspanid"] == "2" * 16 and h["x-b3-spanid"] != "2" * 16
    assert h["traceparent"].endswith("-00")


def test_w3c_traceparent_is_carried_into_b3(chain, outbound_flow):
    tp = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    f = asyncio.run(chain([Trace()]).run(outbound_flow(headers={"traceparent": tp})))
    h = f.request.headers
    assert h["x-b3-traceid"] == "a" * 32 and h["x-b3-parentspanid"] == "b" * 16
    assert h["traceparent"].startswith("00-" + "a" * 32 + "-") and "b" * 16 not in h["traceparent"]


def test_request_id_echoed_on_the_response(outbound_flow):
    from mitmproxy import http
    f = outbound_flow(headers={"x-request-id": "r-1"})
    t = Trace()
    t.request(f)
    f.response = http.Response.make(200)
    t.response(f)
    assert f.response.headers["x-request-id"] == "r-1"


def test_peer_metadata_goes_out_on_inbound_responses_and_is_stripped_on_outbound(outbound_flow):
    from mitmproxy import http
    inbound = Trace(b"benigno;benigno-v1;default;v1", b"benigno-v1;default;v1")
    f = outbound_flow(headers={"x-meshtool-source": "magnanimo;magnanimo-v1;default;v1"})
    f.metadata["meshtool.direction"] = "inbound"
    inbound.request(f)
    assert f.metadata["meshtool.source"] == b"magnanimo;magnanimo-v1;default;v1"
    f.response = http.Response.make(200)
    inbound.response(f)
    assert f.response.headers["x-meshtool-peer"] == "benigno-v1;default;v1"

    outbound = Trace(b"magnanimo;magnanimo-v1;default;v1")
    g = outbound_flow()
    outbound.request(g)
    g.response = http.Response.make(200, b"", {"x-meshtool-peer": "benigno-v1;default;v1"})
    outbound.response(g)
    assert "x-meshtool-peer" not in g.response.headers
    assert g.metadata["meshtool.peer"] == b"benigno-v1;default;v1"


def _recorder(percent):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from meshtool.sidecar.tracing import SpanRecorder, TracingConfig
    memory = InMemorySpanExporter()
    rec = SpanRecorder(TracingConfig(sampling=percent, flush_interval=0.05), "magnanimo",
                       "magnanimo-v1.local", exporters=[memory])
    return rec, memory


def test_spans_continue_the_callers_trace_and_carry_their_own_ids(outbound_flow):
    from mitmproxy import http
    rec, memory = _recorder(0)
    t = Trace(b"magnanimo", recorder=rec)
    f = outbound_flow(headers={"x-b3-traceid": "a" * 32, "x-b3-spanid": "b" * 16,
                               "x-b3-sampled": "1"})
    t.request(f)
    f.response = http.Response.make(503)
    t.response(f)
    rec.shutdown()
    (span,) = memory.get_finished_spans()
    h = f.request.headers
    assert f"{span.context.trace_id:032x}" == h["x-b3-traceid"] == "a" * 32
    assert f"{span.context.span_id:016x}" == h["x-b3-spanid"]
    assert f"{span.parent.span_id:016x}" == h["x-b3-parentspanid"] == "b" * 16
    assert span.kind.name == "CLIENT" and span.attributes["http.status_code"] == 503
    assert span.status.status_code.name == "ERROR"
    assert h["traceparent"].endswith("-01")


def test_sampling_percentage_decides_new_traces_and_a_parents_no_is_kept(outbound_flow):
    from mitmproxy import http
    for percent, expect in ((0, 0), (100, 20)):
        rec, memory = _recorder(percent)
        t = Trace(recorder=rec)
        for _ in range(20):
            f = outbound_flow()
            t.request(f)
            assert f.request.headers["x-b3-sampled"] == ("1" if expect else "0")
            f.response = http.Response.make(200)
            t.response(f)
        f = outbound_flow(headers={"traceparent": f"00-{'c' * 32}-{'d' * 16}-00"})
        t.request(f)
        f.response = http.Response.make(200)
        t.response(f)
        assert f.request.headers["x-b3-sampled"] == "0"
        rec.shutdown()
        assert len(memory.get_finished_spans()) == expect


def test_tracing_off_never_imports_the_sdk():
    import subprocess
    import sys
    code = ("import sys; from meshtool.sidecar.master import SidecarConfig, build_addons; "
            "from meshtool.sidecar.state import SidecarState; "
            "build_addons(SidecarState(), SidecarConfig()); "
            "print(any(m.startswith('opentelemetry') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
