"""msgd (egress scenario): the external message service outside the mesh; /send says "sent".

    python msgd.py --port 7100
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def _send(self):
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        body = b"message sent by msgd\n" if self.path.startswith("/send") else b"msgd: try /send\n"
        self.send_response(200 if self.path.startswith("/send") else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _send

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=7100)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--version", default="v1")
    a = p.parse_args()
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
