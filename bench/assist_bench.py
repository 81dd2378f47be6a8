#!/usr/bin/env python3
"""Concurrent streamed answers, through Atrium and straight from the model,
in the same run (bench/assist.sh drives it; not a test).

Baseline: N concurrent streamed chat completions sent straight to the model
server. Atrium: N concurrent streamed asks, one per conversation, through
`atrium serve` (retrieval, rewriting, PII masking, the gateway, SSE). The
difference of the time to first token is what Atrium adds.

Prints one JSON object.
Usage: assist_bench.py --atrium URL --token T --model URL --n N
"""
import argparse
import asyncio
import json
import re
import statistics
import time
import urllib.parse
import urllib.request


def pct(a, p):
    if not a:
        return None
    a = sorted(a)
    return a[min(len(a) - 1, int(p * (len(a) - 1) + 0.5))]


async def stream(host, port, path, body, headers, first_marker):
    """POSTs and reads an event stream: (time to the first line matching
    first_marker, a compiled bytes regex, i.e. the first answer text; total)."""
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection(host, port)
    data = json.dumps(body, ensure_ascii=False).encode()
    head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" \
           "Content-Length: %d\r\nConnection: close\r\n" % (path, host, len(data))
    for k, v in headers.items():
        head += "%s: %s\r\n" % (k, v)
    w.write(head.encode() + b"\r\n" + data)
    await w.drain()
    first = None
    status = None
    while True:
        line = await r.readline()
        if not line:
            break
        if status is None:
            status = int(line.split()[1])
        if first is None and first_marker.search(line):
            first = time.perf_counter() - t0
    w.close()
    return status, first, time.perf_counter() - t0


async def run_many(n, make):
    return await asyncio.gather(*(make(i) for i in range(n)), return_exceptions=True)


def summary(results):
    ok = [r for r in results if isinstance(r, tuple) and r[0] == 200 and r[1] is not None]
    ttft = [r[1] * 1000 for r in ok]
    total = [r[2] * 1000 for r in ok]
    return {"ok": len(ok), "failed": len(results) - len(ok),
            "ttft_ms": {"p50": pct(ttft, 0.5), "p99": pct(ttft, 0.99),
                        "mean": statistics.mean(ttft) if ttft else None},
            "total_ms": {"p50": pct(total, 0.5), "p99": pct(total, 0.99)}}


def api(url, token, method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atrium", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=100)
    a = ap.parse_args()
    at = urllib.parse.urlparse(a.atrium)
    mo = urllib.parse.urlparse(a.model)
    question = "大额现金支取需要提前预约吗"
    convs = [api(a.atrium, a.token, "POST", "/api/v1/conversations", {})["id"] for _ in range(a.n)]
    prompt = {"model": "fake", "stream": True,
              "messages": [{"role": "user", "content": "资料：\n[1] 《手册》第四条\n大额现金支取五万元以上的，"
                                                       "应当提前一个营业日预约。\n\n问题：" + question}]}
    base = asyncio.run(run_many(a.n, lambda i: stream(
        mo.hostname, mo.port, mo.path.rstrip("/") + "/chat/completions", prompt, {},
        re.compile(rb'"content":\s*"[^"]'))))
    through = asyncio.run(run_many(a.n, lambda i: stream(
        at.hostname, at.port, "/api/v1/conversations/%d/ask" % convs[i],
        {"question": question, "stream": True}, {"Authorization": "Bearer " + a.token},
        re.compile(rb"^event: delta"))))
    out = {"n": a.n, "baseline_model": summary(base), "atrium": summary(through)}
    b, t = out["baseline_model"]["ttft_ms"], out["atrium"]["ttft_ms"]
    if b["p50"] is not None and t["p50"] is not None:
        out["added_ttft_ms"] = {"p50": t["p50"] - b["p50"], "p99": t["p99"] - b["p99"]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
