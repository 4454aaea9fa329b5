"""sleep (multi-cluster scenario): the client; GET /call calls helloworld /hello and relays it.

    HTTP_PROXY=http://127.0.0.1:15001 python sleep.py --port 5200
"""

import argparse
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    upstream = "http://helloworld:5000/hello"

    def do_GET(self):
        try:
            with urllib.request.urlopen(self.upstream, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except OSError as e:
            status, body = 502, f"sleep: cannot reach helloworld: {e}\n".encode()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=5200)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--version", default="v1")
    p.add_argument("--helloworld", default=Handler.upstream, help="helloworld's /hello URL")
    a = p.parse_args()
    Handler.upstream = a.helloworld
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
