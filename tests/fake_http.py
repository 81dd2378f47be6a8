#!/usr/bin/env python3
"""A tiny HTTP peer for the HTTP tool's unit tests (tests/unit/test_tools.c).

Routes (127.0.0.1 only):
  GET|POST /api/echo        200 application/json {"method","path","query","body","ctype"}
  GET      /api/big         200 text/plain, 100000 bytes of "汇率" repeated
  GET      /api/bin         200 image/png
  GET      /api/status/N    status N with a small JSON body
  GET      /api/redirect    302 to /api/echo
  GET      /api/slow        sleeps 3 s, then 200
  GET      /admin/secret    200 "secret" (a path the allow-list must keep out)
Usage: python3 tests/fake_http.py --port 0 --port-file F. Standard library only.
"""

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, ctype, body):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def handle_any(self, method):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        if u.path == "/api/echo":
            self.send(200, "application/json", json.dumps(
                {"method": method, "path": u.path, "query": u.query, "body": body,
                 "ctype": self.headers.get("Content-Type", "")}, ensure_ascii=False))
        elif u.path == "/api/big":
            self.send(200, "text/plain; charset=utf-8", "汇率" * 16667)
        elif u.path == "/api/bin":
            self.send(200, "image/png", b"\x89PNG\r\n\x1a\n")
        elif u.path.startswith("/api/status/"):
            self.send(int(u.path.rsplit("/", 1)[1]), "application/json", '{"error":"x"}')
        elif u.path == "/api/redirect":
            self.send_response(302)
            self.send_header("Location", "/admin/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif u.path == "/api/slow":
            time.sleep(3)
            self.send(200, "application/json", "{}")
        elif u.path == "/admin/secret":
            self.send(200, "text/plain", "secret")
        else:
            self.send(404, "application/json", '{"error":"not found"}')

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up early (the truncation test) are expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
