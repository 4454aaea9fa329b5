import io
import json

from mitmproxy import http

from meshtool.sidecar.addons.accesslog import AccessLog


def test_one_json_line_per_request(outbound_flow):
    out = io.StringIO()
    log = AccessLog(out)
    f = outbound_flow(headers={"x-request-id": "r-9"})
    f.response = http.Response.make(204)
    f.metadata.update({"meshtool.direction": "outbound", "meshtool.attempts": 1,
                       "meshtool.attempt_log": [("127.0.0.1:5001", 204)]})
    log.response(f)
    log.response(f)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[0])
    assert entry["status"] == 204 and entry["request_id"] == "r-9"
    assert entry["upstream"] == ["127.0.0.1:5001"] and entry["path"] == "/hw2"
