"""magnanimo (canary scenario): GET /hw2 calls benigno and returns its answer.

Calls go through $HTTP_PROXY (the sidecar) in local mode, or straight out in a pod.

    HTTP_PROXY=http://127.0.0.1:15001 python magnanimo.py --port 4000
"""

import argparse
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The trace headers an app must pass on for its sidecars' spans to join one trace (as in Istio).
TRACE_HEADERS = ("x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled",
                 "x-b3-flags", "traceparent", "tracestate")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    upstream = "http://benigno:5000/"

    def do_GET(self):
        if self.path.startswith("/hw2"):
            try:
                with urllib.request.urlopen(self._onward(self.upstream), timeout=10) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            except OSError as e:
                status, body = 502, f"magnanimo: cannot reach benigno: {e}\n".encode()
        else:
            status, body = 200, b"Hello World, Magnanimo\n"
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _onward(self, url):
        return urllib.request.Request(url, headers={
            h: v for h in TRACE_HEADERS if (v := self.headers.get(h)) is not None})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=4000)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--version", default="v1")
    p.add_argument("--benigno", default=Handler.upstream, help="benigno's URL")
    a = p.parse_args()
    Handler.upstream = a.benigno
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
