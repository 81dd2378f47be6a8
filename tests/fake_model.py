#!/usr/bin/env python3
"""A deterministic fake OpenAI-compatible model server for Atrium's tests.

Serves /v1/models, /v1/chat/completions (streamed or not), /v1/embeddings and
/v1/rerank on 127.0.0.1 with answers that depend only on the request, so tests
can assert on them. Failure modes (fail, stall, slow, garbage, empty, thinking,
tools, json) are chosen by --mode or at run time with POST /control, so one
server can serve many tests. Every model request is recorded: GET /requests
returns them, DELETE /requests forgets them (tests use this to prove that PII
never reached the model).

Answers: when the last user message lists sources "[1] ...", the answer is
"根据资料：<first sentence of source 1>[1]"; otherwise FIXED_REPLY. Streams come
in 3-character chunks, or exactly --tokens N chunks (padded with FILLER),
--delay-ms D apart, then a finish chunk, a usage chunk and [DONE].
Embeddings hash character bigrams into 64 dims (L2-normalised); rerank scores
are the share of the query's bigrams found in each document.

Modes:  ok        normal answers
        fail      HTTP 500 with a JSON error, on every model endpoint (another
                  status with /control "fail_status")
        stall     headers, then silence until the client hangs up
        slow      like ok, 100 ms between chunks unless --delay-ms says
        garbage   chat: non-JSON data lines; embeddings/rerank: JSON of the
                  wrong shape (a vector short, ragged dims; index out of range)
        empty     chat stream ends after the role chunk: no content, no [DONE]
        thinking  reasoning_content deltas before the content
        tools     a search_kb tool call streamed in pieces, no content
        json      one JSON completion even when stream=true was asked
        echo      like ok, but the answer repeats the question ("问题：…" line of
                  the last user message, else the whole message) after the
                  grounded answer: tests see what the model was given
        agent     the tool-calling loop of digital employees: when the request
                  carries "tools" and no "tool" message yet, one tool call
                  (the /control "tool" and "arguments", by default the first
                  tool with {"query": <question>} for kb_search, else {});
                  after a tool message, the answer "根据工具结果：<the last
                  tool result, on one line, at most 200 characters> [1]"
        agent_loop  calls a tool on every turn that carries "tools" (step limits)
        agent_slow  agent_loop after sleeping delay_ms (400 ms by default) before
                  each answer (time limits)

Side doors: POST /control {"mode","tokens","delay_ms","tool","arguments",
"fail_status"} (each optional; setting "mode" resets "tool" and "arguments",
and "fail_status" to 500), GET /control, GET /requests (every model
request: method, path, authorization, body), DELETE /requests.

Usage:
    python3 tests/fake_model.py --port 0 --port-file /tmp/port [--mode ok]
                                [--tokens N] [--delay-ms D]
Stop it with SIGTERM or SIGINT. Python 3 standard library only.
"""

import argparse
import hashlib
import json
import math
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "fail", "stall", "slow", "garbage", "empty", "thinking", "tools", "json", "echo",
         "agent", "agent_loop", "agent_slow")
AGENT_SLOW_DEFAULT_MS = 400
EMBED_DIM = 64
FIXED_REPLY = "这是测试模型的固定回答。This is the fake model's fixed reply."
# Used to pad the answer when --tokens asks for more chunks than it has characters.
FILLER = "这是用于性能测试的填充文本。"
REASONING = "让我想一想：先找到相关条款，再组织回答。"
MAX_BODY = 64 * 1024 * 1024
STALL_LIMIT_S = 120  # a stalled response gives up by itself after this long
SLOW_DEFAULT_MS = 100
FAIL_STATUS_DEFAULT = 500  # mode fail answers with this unless told otherwise


def valid_fail_status(v):
    """An HTTP error status mode fail may answer with: 400..599."""
    return isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 599


class State:
    """Behaviour switches and the request log, shared by all handler threads."""

    def __init__(self, mode, tokens, delay_ms):
        self.lock = threading.Lock()
        self.mode = mode
        self.tokens = tokens
        self.delay_ms = delay_ms
        self.fail_status = FAIL_STATUS_DEFAULT  # mode fail: the HTTP status it answers with
        self.tool = None  # agent modes: the tool to call (None: the first offered)
        self.arguments = None  # agent modes: its arguments (None: a default)
        self.requests = []

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "tokens": self.tokens, "delay_ms": self.delay_ms,
                    "tool": self.tool, "arguments": self.arguments,
                    "fail_status": self.fail_status}

    def record(self, method, path, headers, body):
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            parsed = body.decode("utf-8", "replace")
        entry = {
            "method": method,
            "path": path,
            "authorization": headers.get("Authorization"),
            "request_id": headers.get("X-Request-Id"),
            "body": parsed,
        }
        with self.lock:
            self.requests.append(entry)


# ---------------------------------------------------------------- answers


def bigrams(text):
    """Character bigrams of the lower-cased text, ignoring whitespace; a lone
    character counts as its own gram so short texts still get a vector."""
    s = "".join(text.lower().split())
    if len(s) < 2:
        return [s] if s else []
    return [s[i : i + 2] for i in range(len(s) - 1)]


def embed(text):
    """Hashes the bigrams into a 64-dim bag and L2-normalises it. md5 (not
    hash()) keeps the vectors identical across runs and processes."""
    v = [0.0] * EMBED_DIM
    for g in bigrams(text):
        h = hashlib.md5(g.encode("utf-8")).digest()
        v[int.from_bytes(h[:4], "little") % EMBED_DIM] += 1.0
    norm = math.sqrt(sum(x * x for x in v))
    if norm == 0:
        v[0] = 1.0
        return v
    return [x / norm for x in v]


def overlap_score(query, doc):
    """Share of the query's distinct bigrams that also occur in the document."""
    q = set(bigrams(query))
    if not q:
        return 0.0
    return len(q & set(bigrams(doc))) / len(q)


SOURCE_RE = re.compile(r"\[1\]\s*(.*?)(?=\n\s*\[\d+\]|\Z)", re.S)


def first_sentence(text):
    """Text up to and including the first 。！？!? or a '.' that ends a word."""
    for i, c in enumerate(text):
        if c in "。！？!?" or (c == "." and (i + 1 == len(text) or text[i + 1].isspace())):
            return text[: i + 1]
    return text.splitlines()[0]


def last_user_text(messages):
    last = ""
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            last = m["content"]
    return last


def echo_for(messages):
    """The grounded answer followed by the question the model was asked."""
    text = last_user_text(messages)
    q = text.rsplit("问题：", 1)[-1].strip()
    return answer_for(messages) + " 问：" + q


def answer_for(messages):
    """The grounded answer: quote the first sentence of source [1] when the
    last user message lists numbered sources, otherwise the fixed reply."""
    m = SOURCE_RE.search(last_user_text(messages))
    if not m or not m.group(1).strip():
        return FIXED_REPLY
    source = m.group(1).strip()
    first = " ".join(first_sentence(source).split())  # one line, even if the source wraps
    return "根据资料：" + first + "[1]"


def has_tool_message(messages):
    return any(isinstance(m, dict) and m.get("role") == "tool"
               for m in (messages if isinstance(messages, list) else []))


def last_tool_text(messages):
    last = ""
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("role") == "tool" and isinstance(m.get("content"), str):
            last = m["content"]
    return last


def agent_call(req, conf):
    """The tool call of the agent modes: (name, arguments JSON text), or None
    when the request offers no tools."""
    tools = req.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    name = conf.get("tool")
    if not name:
        first = tools[0] if isinstance(tools[0], dict) else {}
        name = (first.get("function") or {}).get("name") or "unknown"
    args = conf.get("arguments")
    if args is None:
        args = {"query": last_user_text(req.get("messages"))} if name == "kb_search" else {}
    return name, json.dumps(args, ensure_ascii=False)


def agent_answer(messages):
    """After a tool result: quote it and cite [1]."""
    text = " ".join(last_tool_text(messages).split())[:200]
    return "根据工具结果：" + text + " [1]"


def split_chunks(text, tokens):
    """Splits the answer into stream chunks: about 3 characters each, or
    exactly `tokens` chunks (padding the text with FILLER when too short)."""
    if tokens <= 0:
        return [text[i : i + 3] for i in range(0, len(text), 3)]
    while len(text) < tokens:
        text += FILLER
    size, extra = divmod(len(text), tokens)
    out, pos = [], 0
    for i in range(tokens):
        n = size + (1 if i < extra else 0)
        out.append(text[pos : pos + n])
        pos += n
    return out


# ---------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-model/1"

    def log_message(self, fmt, *args):  # quiet: tests read stderr
        pass

    # -- plumbing

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)  # ValueError when not a number
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad body length")
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_raw(self, status, ctype, data):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self):
        """Sends SSE headers; the body follows in HTTP/1.1 chunks."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def event(self, obj):
        self.chunk(b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n")

    def stall(self):
        """Holds the connection open without sending anything until the client
        hangs up (or STALL_LIMIT_S passes)."""
        self.close_connection = True
        end = time.monotonic() + STALL_LIMIT_S
        conn = self.connection
        while time.monotonic() < end:
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        return  # the client closed the connection
                except OSError:
                    return
                time.sleep(0.05)  # unexpected pipelined bytes: keep stalling

    # -- routing

    def do_GET(self):
        if self.path in ("/v1/models", "/models"):
            ids = ("fake-chat", "fake-embed", "fake-rerank")
            data = [{"id": i, "object": "model", "owned_by": "atrium-tests"} for i in ids]
            self.send_json(200, {"object": "list", "data": data})
        elif self.path == "/requests":
            with self.server.state.lock:
                self.send_json(200, list(self.server.state.requests))
        elif self.path == "/control":
            self.send_json(200, self.server.state.snapshot())
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_DELETE(self):
        if self.path == "/requests":
            with self.server.state.lock:
                self.server.state.requests.clear()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.send_json(413, {"error": {"message": "bad or too large Content-Length"}})
            return
        path = self.path[3:] if self.path.startswith("/v1/") else self.path
        if path == "/control":
            self.control(body)
            return
        routes = {
            "/chat/completions": self.chat,
            "/embeddings": self.embeddings,
            "/rerank": self.rerank,
        }
        if path not in routes:
            self.send_json(404, {"error": {"message": "not found"}})
            return
        state = self.server.state
        state.record("POST", self.path, self.headers, body)
        try:
            req = json.loads(body.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError):
            self.send_json(400, {"error": {"message": "body is not a JSON object"}})
            return
        conf = state.snapshot()
        mode = conf["mode"]
        if mode == "fail":
            status = conf["fail_status"]
            kind = "server_error" if status >= 500 else "invalid_request_error"
            self.send_json(status, {"error": {"message": "fake model failure", "type": kind}})
        elif mode == "stall":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.flush()
            self.stall()
        else:
            try:
                routes[path](req, conf)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. cancelled)

    def control(self, body):
        """POST /control {"mode": ..., "tokens": N, "delay_ms": D, "fail_status": S, ...};
        each key optional."""
        try:
            req = json.loads(body.decode("utf-8") or "{}")
            mode = req.get("mode")
            tokens = req.get("tokens")
            delay = req.get("delay_ms")
            tool = req.get("tool")
            arguments = req.get("arguments")
            fail_status = req.get("fail_status")
            if fail_status is not None and not valid_fail_status(fail_status):
                raise ValueError("bad fail_status")
            if mode is not None and mode not in MODES:
                raise ValueError("unknown mode")
            if tool is not None and not isinstance(tool, str):
                raise ValueError("bad tool")
            if arguments is not None and not isinstance(arguments, dict):
                raise ValueError("bad arguments")
            for v in (tokens, delay):
                if v is not None and (not isinstance(v, int) or v < 0):
                    raise ValueError("bad number")
        except (UnicodeDecodeError, ValueError, AttributeError):
            self.send_json(400, {"error": {"message": "bad control request"}})
            return
        state = self.server.state
        with state.lock:
            if mode is not None:
                state.mode = mode
                state.tool = state.arguments = None
                state.fail_status = FAIL_STATUS_DEFAULT
            if fail_status is not None:
                state.fail_status = fail_status
            if "tool" in req:
                state.tool = tool
            if "arguments" in req:
                state.arguments = arguments
            if tokens is not None:
                state.tokens = tokens
            if delay is not None:
                state.delay_ms = delay
        self.send_json(200, state.snapshot())

    # -- endpoints

    def chat(self, req, conf):
        mode = conf["mode"]
        messages = req.get("messages")
        answer = echo_for(messages) if mode == "echo" else answer_for(messages)
        call = None  # agent modes: (tool name, arguments) to call instead of answering
        if mode in ("agent", "agent_loop", "agent_slow"):
            if mode == "agent_slow":
                time.sleep((conf["delay_ms"] or AGENT_SLOW_DEFAULT_MS) / 1000.0)
            if mode != "agent" or not has_tool_message(messages):
                call = agent_call(req, conf)
            if call is None and has_tool_message(messages):
                answer = agent_answer(messages)
        model = req.get("model") or "fake-chat"
        prompt_tokens = 0
        for m in messages if isinstance(messages, list) else []:
            if isinstance(m, dict) and isinstance(m.get("content"), str):
                prompt_tokens += len(m["content"])
        chunks = split_chunks(answer, conf["tokens"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(chunks),
            "total_tokens": prompt_tokens + len(chunks),
        }
        if not req.get("stream") or mode == "json":
            self.chat_json(model, mode, answer, usage, call)
            return
        delay = conf["delay_ms"] / 1000.0 if mode != "agent_slow" else 0
        if mode == "slow" and delay == 0:
            delay = SLOW_DEFAULT_MS / 1000.0
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}

        def delta(d, finish=None):
            return dict(base, choices=[{"index": 0, "delta": d, "finish_reason": finish}])

        self.start_stream()
        self.chunk(b": fake-model keep-alive comment\n\n")
        if mode == "garbage":
            self.chunk(b"data: this is not json {\n\n")
            self.chunk(b"data: [DONE]\n\n")
            self.end_chunks()
            return
        self.event(delta({"role": "assistant", "content": ""}))
        if mode == "empty":
            self.end_chunks()  # ends without content, finish_reason or [DONE]
            return
        if mode == "thinking":
            for piece in split_chunks(REASONING, 0):
                self.event(delta({"reasoning_content": piece}))
                time.sleep(delay)
        finish = "stop"
        if call is not None:
            finish = "tool_calls"
            first = {"index": 0, "id": "call_agent_%d" % len(messages or []), "type": "function",
                     "function": {"name": call[0], "arguments": ""}}
            self.event(delta({"tool_calls": [first]}))
            for i in range(0, len(call[1]), 7):
                part = {"index": 0, "function": {"arguments": call[1][i : i + 7]}}
                self.event(delta({"tool_calls": [part]}))
        elif mode == "tools":
            finish = "tool_calls"
            args = json.dumps({"query": last_user_text(messages)[:20]}, ensure_ascii=False)
            call = {"index": 0, "id": "call_fake_1", "type": "function",
                    "function": {"name": "search_kb", "arguments": ""}}
            self.event(delta({"tool_calls": [call]}))
            for i in range(0, len(args), 7):
                part = {"index": 0, "function": {"arguments": args[i : i + 7]}}
                self.event(delta({"tool_calls": [part]}))
        else:
            for piece in chunks:
                time.sleep(delay)
                self.event(delta({"content": piece}))
        self.event(delta({}, finish))
        self.event(dict(base, choices=[], usage=usage))
        self.chunk(b"data: [DONE]\n\n")
        self.end_chunks()

    def chat_json(self, model, mode, answer, usage, call=None):
        if mode == "garbage":
            self.send_raw(200, "application/json", b"this is not json {")
            return
        message = {"role": "assistant", "content": "" if mode == "empty" else answer}
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_agent_1", "type": "function",
                 "function": {"name": call[0], "arguments": call[1]}}]}
        if mode == "thinking":
            message["reasoning_content"] = REASONING
        self.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if call is not None else "stop"}],
            "usage": usage,
        })

    def embeddings(self, req, conf):
        texts = req.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self.send_json(400, {"error": {"message": "input must be a string or strings"}})
            return
        data = [{"object": "embedding", "index": i, "embedding": embed(t)}
                for i, t in enumerate(texts)]
        if conf["mode"] == "garbage":
            # Well-formed JSON of the wrong shape: one vector short, one ragged.
            data = data[:-1]
            if data:
                data[0]["embedding"] = data[0]["embedding"][:3]
        n = sum(len(t) for t in texts)
        self.send_json(200, {"object": "list", "data": data, "model": req.get("model"),
                             "usage": {"prompt_tokens": n, "total_tokens": n}})

    def rerank(self, req, conf):
        query, docs = req.get("query"), req.get("documents")
        if not isinstance(query, str) or not isinstance(docs, list):
            self.send_json(400, {"error": {"message": "need query and documents"}})
            return
        texts = [d if isinstance(d, str) else (d or {}).get("text", "") for d in docs]
        results = [{"index": i, "relevance_score": overlap_score(query, t)}
                   for i, t in enumerate(texts)]
        results.sort(key=lambda r: (-r["relevance_score"], r["index"]))
        top_n = req.get("top_n")
        if isinstance(top_n, int) and top_n >= 0:
            results = results[:top_n]
        if conf["mode"] == "garbage":
            # Well-formed JSON of the wrong shape: an index out of range.
            results = [{"index": len(texts) + 5, "relevance_score": 1.0}]
        self.send_json(200, {"model": req.get("model"), "results": results})


# ---------------------------------------------------------------- main


class Server(ThreadingHTTPServer):
    daemon_threads = True  # stalled handlers must not keep the process alive
    request_queue_size = 4096  # benchmarks open hundreds of streams at once

    def handle_error(self, request, client_address):
        # Clients hanging up (cancel, timeouts) are part of the tests: no noise.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)



def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--mode", choices=MODES, default="ok")
    ap.add_argument("--tokens", type=int, default=0, help="stream exactly N content chunks")
    ap.add_argument("--delay-ms", type=int, default=0, help="pause between streamed chunks")
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.mode, max(args.tokens, 0), max(args.delay_ms, 0))

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        # Write then rename so a reader never sees a half-written number.
        tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
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
