#!/usr/bin/env python3
"""A deterministic fake SearXNG server for Atrium's web search tests.

Serves GET /search?q=...&format=json on 127.0.0.1 with canned results built
from the query, so tests can assert that the query arrived URL-decoded: the
title of result i is "结果 i：<query>", its URL https://example.com/r/i, its
content "关于 <query> 的第 i 条摘要。". Like SearXNG with the JSON format
disabled, a request without format=json gets HTTP 403.

Modes (--mode, or POST /control at run time):
        ok        `count` results (default 8)
        fail      HTTP 500 with a small HTML page
        garbage   HTTP 200, Content-Type JSON, a body that is not JSON
        huge      HTTP 200, valid JSON streamed in chunks (no Content-Length)
                  up to 64 MB unless the client hangs up first; the bytes
                  actually sent are recorded (GET /requests "sent")
        slow      sleeps `delay_ms` (default 2000) before the ok answer
        html      snippets and titles with tags (<span class="highlight">,
                  <script>) and entities (&amp; &lt; &#x4E2D; &nbsp;)
        empty     {"results": []}
        dirty     non-http URLs (ftp:, javascript:, relative), a duplicate
                  URL (case and trailing '/' differ), a non-object result,
                  missing fields, and raw invalid UTF-8 bytes in a title
        redirect  HTTP 302 to /search?q=redirected&format=json

Side doors: POST /control {"mode","count","delay_ms"} (each optional), GET
/control, GET /requests (every /search request: {"path", "params" (the
decoded query string, one value per name), "sent" (huge only)}), DELETE
/requests.

Usage:
    python3 tests/fake_searxng.py --port 0 --port-file /tmp/port [--mode ok]
Stop it with SIGTERM or SIGINT. Python 3 standard library only.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "fail", "garbage", "huge", "slow", "html", "empty", "dirty", "redirect")
HUGE_LIMIT = 64 * 1024 * 1024
SLOW_DEFAULT_MS = 2000
MAX_BODY = 1024 * 1024


class State:
    """Behaviour switches and the request log, shared by all handler threads."""

    def __init__(self, mode, count, delay_ms):
        self.lock = threading.Lock()
        self.mode = mode
        self.count = count
        self.delay_ms = delay_ms
        self.requests = []

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "count": self.count, "delay_ms": self.delay_ms}

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)


def result(i, query, **extra):
    r = {
        "url": "https://example.com/r/%d" % i,
        "title": "结果 %d：%s" % (i, query),
        "content": "关于 %s 的第 %d 条摘要。" % (query, i),
        "engine": "bing" if i % 2 else "baidu",
        "engines": ["bing", "baidu"],
        "score": round(10.0 / i, 3),
        "category": "general",
        "parsed_url": ["https", "example.com", "/r/%d" % i, "", "", ""],
    }
    r.update(extra)
    return r


def envelope(query, results):
    return {
        "query": query,
        "number_of_results": len(results),
        "results": results,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-searxng/1"

    def log_message(self, fmt, *args):  # quiet: tests read stderr
        pass

    def send_raw(self, status, ctype, data, extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_raw(status, "application/json", data)

    # -- routing

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path == "/requests":
            with self.server.state.lock:
                self.send_json(200, list(self.server.state.requests))
        elif parts.path == "/control":
            self.send_json(200, self.server.state.snapshot())
        elif parts.path == "/search":
            try:
                self.search(parts)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout, cap)
        else:
            self.send_json(404, {"error": "not found"})

    def do_DELETE(self):
        if self.path == "/requests":
            with self.server.state.lock:
                self.server.state.requests.clear()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/control":
            self.send_json(404, {"error": "not found"})
            return
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0 or n > MAX_BODY:
                raise ValueError("bad length")
            req = json.loads((self.rfile.read(n) if n else b"{}").decode("utf-8") or "{}")
            mode, count, delay = req.get("mode"), req.get("count"), req.get("delay_ms")
            if mode is not None and mode not in MODES:
                raise ValueError("unknown mode")
            for v in (count, delay):
                if v is not None and (not isinstance(v, int) or v < 0):
                    raise ValueError("bad number")
        except (UnicodeDecodeError, ValueError, AttributeError):
            self.close_connection = True
            self.send_json(400, {"error": "bad control request"})
            return
        state = self.server.state
        with state.lock:
            if mode is not None:
                state.mode = mode
            if count is not None:
                state.count = count
            if delay is not None:
                state.delay_ms = delay
        self.send_json(200, state.snapshot())

    # -- the search endpoint

    def search(self, parts):
        state = self.server.state
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        entry = {"path": parts.path, "params": params}
        state.record(entry)
        if params.get("format") != "json":
            self.send_raw(403, "text/html", b"<html><body>403 Forbidden</body></html>")
            return
        conf = state.snapshot()
        mode, query = conf["mode"], params.get("q", "")
        if mode == "fail":
            self.send_raw(500, "text/html", b"<html><body>Internal Server Error</body></html>")
        elif mode == "garbage":
            self.send_raw(200, "application/json", b"<html>this is not json {")
        elif mode == "redirect":
            self.send_raw(302, "text/html", b"", [("Location", "/search?q=redirected&format=json")])
        elif mode == "empty":
            self.send_json(200, envelope(query, []))
        elif mode == "huge":
            self.huge(query, entry)
        elif mode == "html":
            self.send_json(200, envelope(query, [
                result(1, query,
                       title="<b>%s</b> &amp; 更多" % query,
                       content='前文 <span class="highlight">%s</span> 后文 &lt;注意&gt; '
                               "&#x4E2D;&#25991;&nbsp;结束<script>alert(1)</script>" % query),
                result(2, query, content="第一行<br>第二行<p>第三段</p>  多余   空白"),
                result(3, query, content="长" * 500),
            ]))
        elif mode == "dirty":
            self.dirty(query)
        else:
            if mode == "slow":
                time.sleep((conf["delay_ms"] or SLOW_DEFAULT_MS) / 1000.0)
            self.send_json(200, envelope(query, [result(i, query)
                                                for i in range(1, conf["count"] + 1)]))

    def dirty(self, query):
        results = [
            result(1, query, url="ftp://example.com/file"),
            result(2, query, url="javascript:alert(1)"),
            result(3, query, url="/relative/path"),
            "not an object",
            result(4, query),
            result(5, query, url="https://EXAMPLE.com/r/4/"),  # duplicate of 4
            result(6, query, url="https://example.com/r/4#section"),  # duplicate of 4
            {"url": "http://example.org/bare"},  # no title, content, engine or score
            result(7, query, url=12345),
            result(8, query, title="BADUTF8"),
            result(9, query, url="https://example.com/with space"),
        ]
        body = json.dumps(envelope(query, results), ensure_ascii=False).encode("utf-8")
        # Raw invalid bytes (a lone continuation byte, a truncated sequence)
        # inside the JSON string, as a broken instance might send.
        body = body.replace(b"BADUTF8", b"bad\x80utf\xe4\xb8-8")
        self.send_raw(200, "application/json", body)

    def huge(self, query, entry):
        """Valid JSON (so a client without a cap would accept it), streamed in
        1 MB chunks until HUGE_LIMIT or until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0

        def chunk(data):
            nonlocal sent
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)

        one = json.dumps(result(1, query, content="x" * 1000), ensure_ascii=False).encode("utf-8")
        block = b",".join([one] * 1000) + b","
        try:
            chunk(b'{"query":"huge","results":[')
            while sent + len(block) < HUGE_LIMIT:
                chunk(block)
            chunk(one + b"]}")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            entry["sent"] = sent


class Server(ThreadingHTTPServer):
    daemon_threads = True  # slow handlers must not keep the process alive

    def handle_error(self, request, client_address):
        # Clients hanging up (timeouts, size caps) are part of the tests: no noise.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--mode", choices=MODES, default="ok")
    ap.add_argument("--count", type=int, default=8, help="results in ok mode")
    ap.add_argument("--delay-ms", type=int, default=0, help="slow mode's pause (0: 2000)")
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.mode, max(args.count, 0), max(args.delay_ms, 0))

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    print(port, flush=True)
    if args.port_file:
        # Write then rename so a reader never sees a half-written number.
        tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
