"""svcb (egress scenario): /notify sends a message through the external msgd service.

Version v0.1 or v0.2 shows in the answer, for the traffic-shift part of the scenario.

    HTTP_PROXY=http://127.0.0.1:15001 python svcb.py --port 7001 --version v0.1
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
    upstream = "http://msgd.example.com/send"
    version = "v0.1"

    def _notify(self):
        try:
            with urllib.request.urlopen(self._onward(self.upstream), timeout=10) as r:
                status, sent = r.status, r.read().decode().strip()
        except urllib.error.HTTPError as e:
            status, sent = e.code, f"msgd refused: {e.read().decode().strip()}"
        except OSError as e:
            status, sent = 502, f"cannot reach msgd: {e}"
        body = f"svcb {self.version}: {sent}\n".encode()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-version", self.version)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _notify

    def _onward(self, url):
        return urllib.request.Request(url, headers={
            h: v for h in TRACE_HEADERS if (v := self.headers.get(h)) is not None})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=7001)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--version", default="v0.1")
    p.add_argument("--msgd", default=Handler.upstream, help="msgd's /send URL")
    a = p.parse_args()
    Handler.upstream, Handler.version = a.msgd, a.version
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
