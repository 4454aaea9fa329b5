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
