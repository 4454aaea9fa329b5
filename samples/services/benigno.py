"""benigno (canary scenario): answers "Hello World, Benigno" (v1) or "..., Canary Release" (v2).

    python benigno.py --port 5001 --version v1
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = {"v1": "Hello World, Benigno", "v2": "Hello World, Benigno, Canary Release"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    version = "v1"

    def do_GET(self):
        body = (TEXT.get(self.version, f"Hello World, Benigno {self.version}") + "\n").encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-version", self.version)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--version", default="v1")
    a = p.parse_args()
    Handler.version = a.version
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
