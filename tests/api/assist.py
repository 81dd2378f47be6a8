#!/usr/bin/env python3
"""The super assistant end to end, against a real `atrium serve` and the fake
OpenAI-compatible model server: conversations (create, ask, list, export,
delete), streamed answers with thinking, PII that never reaches the model and
comes back in the answer, the extractive fallback when the model stalls,
follow-up rewriting, FAQ precedence, 👍/👎 and the review queue turning a bad
answer into a FAQ, files uploaded into one conversation and seen nowhere
else, stop and regenerate, sensitive words, per-user rate limits, and the
OpenAI-compatible API with its permissions. A second server without a model
answers from extracts. Prints "api-assist: N passed, N failed".

Usage: tests/api/assist.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
import http.client
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
check, check_eq, q = base.check, base.check_eq, base.q
PASSWORD = "Counter#2026-Ab"

MANUAL = """# 恒远银行账户业务手册

## 第一章 开户

第一条 个人客户开立个人银行结算账户，应当出具本人有效身份证件，并签署开户申请书。

第二条 单位客户开立单位银行结算账户，应当出具营业执照、法定代表人身份证件和印鉴卡。

## 第二章 挂失

第三条 存单遗失的，存款人应当持本人有效身份证件到开户网点办理挂失止付，挂失止付的有效期为七日。

第四条 大额现金支取五万元以上的，应当提前一个营业日预约。
"""

ID_CARD = "11010519491231002X"
PHONE = "13800138000"


class Ctx:
    pass


TESTS = []

sse = base.post_sse  # POST, then the answer's events


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def jreq(srv, method, path, body=None, headers=None):
    return srv.json(method, path, body, headers)


def as_user(ctx, user):
    return {"Authorization": "Bearer " + ctx.tokens[user]}








def new_conv(srv, h, **kw):
    st, c = jreq(srv, "POST", "/api/v1/conversations", kw, h)
    check_eq(st, 201, "conversation: %r" % (c,))
    return c["id"]


def setup_server(ctx, srv, name):
    """A KB with the manual readable by every user, and two users."""
    st, kb = jreq(srv, "POST", "/api/v1/kbs", {"name": "手册"})
    check_eq(st, 201, "kb")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/acl" % kb["id"],
                 {"subject_type": "role", "subject": "user", "level": "read"})
    check_eq(st, 201, "grant")
    body, ctype = base.multipart([("手册.md", MANUAL.encode("utf-8"))])
    st, j = jreq(srv, "POST", "/api/v1/kbs/%d/documents" % kb["id"], body, {"Content-Type": ctype})
    check_eq(st, 202, "upload")
    base.wait_job(srv, str(kb["id"]), j["jobs"][0]["id"])
    tokens = {}
    for user in ("alice", "bob"):
        st, u = jreq(srv, "POST", "/api/v1/users", {"username": user, "password": PASSWORD})
        check_eq(st, 201, "user %s" % user)
        st, t = jreq(srv, "POST", "/api/v1/users/%s/tokens" % user, {"name": name})
        check_eq(st, 201, "token")
        tokens[user] = t["token"]
    return kb["id"], tokens


# ---------------------------------------------------------------- no model


@test
def no_model_answers_from_extracts(ctx):
    srv, h = ctx.plain, {"Authorization": "Bearer " + ctx.plain_tokens["alice"]}
    cid = new_conv(srv, h)
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                 {"question": "存单丢了怎么办"}, h)
    check_eq(st, 200, "ask: %r" % (a,))
    check_eq(a["mode"], "extractive", "mode")
    check("第三条" in a["answer"] and "挂失止付" in a["answer"], "extract: %s" % a["answer"])
    check(a["citations"] and a["citations"][0]["kind"] == "kb", "kb citation")
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq([m["role"] for m in msgs["messages"]], ["user", "assistant"], "stored turn")
    check_eq(msgs["messages"][1]["status"], "done", "status")
    st, conv = jreq(srv, "GET", "/api/v1/conversations/%d" % cid, None, h)
    check(conv["title"].startswith("存单丢了"), "title from the first question: %r" % conv)
    st, hd, md = srv.request("GET", "/api/v1/conversations/%d/export" % cid, headers=h)
    check_eq(st, 200, "export")
    md = md.decode("utf-8")
    check("存单丢了怎么办" in md and "第三条" in md, "markdown export: %s" % md[:300])
    st, _ = jreq(srv, "GET", "/api/v1/conversations/%d" % cid, None,
                 {"Authorization": "Bearer " + ctx.plain_tokens["bob"]})
    check_eq(st, 404, "someone else's conversation")
    st, _ = jreq(srv, "DELETE", "/api/v1/conversations/%d" % cid, None, h)
    check_eq(st, 204, "delete")
    st, _ = jreq(srv, "GET", "/api/v1/conversations/%d" % cid, None, h)
    check_eq(st, 404, "deleted")


@test
def not_covered_says_so(ctx):
    srv, h = ctx.plain, {"Authorization": "Bearer " + ctx.plain_tokens["alice"]}
    cid = new_conv(srv, h)
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                 {"question": "量子计算机的退相干时间如何测量"}, h)
    check_eq(st, 200, "ask")
    check_eq(a["mode"], "none", "not covered: %r" % a)
    check("未找到" in a["answer"], "says so")


# ---------------------------------------------------------------- with a model


@test
def streamed_answer_with_citations(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    cid = new_conv(srv, h)
    ev = sse(srv, "/api/v1/conversations/%d/ask" % cid,
             {"question": "单位开户要带什么材料", "stream": True}, h)
    names = [e for e, _ in ev]
    check("delta" in names and names[-2:] == ["citations", "done"], "events: %r" % names)
    text = "".join(d["text"] for e, d in ev if e == "delta")
    check(text.startswith("根据资料") and "[1]" in text, "model answer: %s" % text)
    cites = dict(ev)["citations"]
    check(cites and cites[0]["kind"] == "kb" and cites[0]["label"] == "第二条",
          "citation: %r" % cites)
    done = dict(ev)["done"]
    check_eq(done["mode"], "model", "mode")
    check(done["model"], "model name recorded")
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    last = msgs["messages"][-1]
    check_eq((last["mode"], last["status"]), ("model", "done"), "stored")
    check(last["completion_tokens"] > 0, "tokens recorded: %r" % last)


def answer_threads(srv):
    n = 0
    for t in os.listdir("/proc/%d/task" % srv.proc.pid):
        try:
            with open("/proc/%d/task/%s/comm" % (srv.proc.pid, t)) as f:
                n += f.read().strip() == "atrium-answer"
        except OSError:
            pass  # the thread ended meanwhile
    return n


@test
def answer_threads_are_reused(ctx):
    # perf3: an answer thread waits a while for the next answer instead of
    # ending, so one after another reuse it (no thread start per answer)
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    for _ in range(4):
        cid = new_conv(srv, h)
        ev = sse(srv, "/api/v1/conversations/%d/ask" % cid,
                 {"question": "单位开户要带什么材料", "stream": True}, h)
        check([e for e, _ in ev][-1:] == ["done"], "answered: %r" % [e for e, _ in ev])
        time.sleep(0.1)  # the thread goes idle after the last event
    n = answer_threads(srv)
    check(1 <= n <= 2, "idle answer threads after 4 answers in a row: %d" % n)


@test
def thinking_is_streamed_apart(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="thinking")
    try:
        cid = new_conv(srv, h)
        ev = sse(srv, "/api/v1/conversations/%d/ask" % cid,
                 {"question": "挂失止付的有效期是几天", "stream": True}, h)
    finally:
        ctx.fake.control(mode="ok")
    thinking = "".join(d["text"] for e, d in ev if e == "thinking")
    text = "".join(d["text"] for e, d in ev if e == "delta")
    check(thinking and "想" in thinking, "thinking events: %r" % thinking)
    check(thinking not in text, "thinking kept out of the answer")
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq(msgs["messages"][-1]["thinking"], thinking, "thinking stored")


def stream_reads(srv, path, body, h, stop_after=None):
    """POSTs body and reads the streamed answer off a plain socket, noting
    each read: returns [(seconds since the request, bytes)] and the
    de-chunked body. stop_after: close the socket after that many reads
    that carried a delta."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1", "Connection: close",
            "Content-Type: application/json", "Content-Length: %d" % len(payload)]
    head += ["%s: %s" % kv for kv in h.items()]
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    t0 = time.monotonic()
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + payload)
    reads, raw, ndelta = [], b"", 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            reads.append((time.monotonic() - t0, b))
            raw += b
            ndelta += b"event: delta" in b
            if stop_after and ndelta >= stop_after:
                break
    finally:
        s.close()
    _, _, rest = raw.partition(b"\r\n\r\n")
    body_out = b""
    while rest:  # chunked: size line, data, CRLF
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        body_out += rest[:n]
        rest = rest[n + 2:]
    return reads, body_out


@test
def fast_deltas_reach_the_client_together(ctx):
    # stream_flush_ms (50 by default): the first delta goes at once, later
    # ones that come faster are sent together, in order, none lost
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="slow", delay_ms=5, tokens=80)
    try:
        cid = new_conv(srv, h)
        reads, body = stream_reads(srv, "/api/v1/conversations/%d/ask" % cid,
                                   {"question": "个人开户要什么", "stream": True}, h)
    finally:
        ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    ev = base.read_sse(io.BytesIO(body))
    deltas = [d["text"] for e, d in ev if e == "delta"]
    with_delta = [t for t, b in reads if b"event: delta" in b]
    check_eq([e for e, _ in ev][-2:], ["citations", "done"], "the stream ended")
    check(len(deltas) >= 60, "one delta event per model chunk: %d" % len(deltas))
    check(len(with_delta) * 3 <= len(deltas),
          "%d deltas came in %d reads" % (len(deltas), len(with_delta)))
    check(with_delta[-1] - with_delta[0] >= 0.15,
          "streamed as the model wrote, not at the end: %r" % with_delta)
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq("".join(deltas), msgs["messages"][-1]["content"], "the deltas are the stored answer")
    # a client that leaves while deltas are held back: the answer ends,
    # the server carries on
    ctx.fake.control(mode="slow", delay_ms=5, tokens=200)
    try:
        cid = new_conv(srv, h)
        reads, _ = stream_reads(srv, "/api/v1/conversations/%d/ask" % cid,
                                {"question": "个人开户要什么", "stream": True}, h, stop_after=2)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
            if msgs["messages"][-1]["status"] != "streaming":
                break
            time.sleep(0.05)
    finally:
        ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    check(msgs["messages"][-1]["status"] in ("stopped", "done"),
          "the answer ended: %r" % msgs["messages"][-1]["status"])
    ev = sse(srv, "/api/v1/conversations/%d/ask" % new_conv(srv, h),
             {"question": "个人开户要什么", "stream": True}, h)
    check_eq([e for e, _ in ev][-1:], ["done"], "the next answer streams")


@test
def pii_never_reaches_the_model(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="echo")
    ctx.fake.forget()
    try:
        cid = new_conv(srv, h)
        q_ = "客户身份证%s、手机%s，存单挂失怎么办" % (ID_CARD, PHONE)
        st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid, {"question": q_}, h)
    finally:
        ctx.fake.control(mode="ok")
    check_eq(st, 200, "ask: %r" % (a,))
    sent = json.dumps(ctx.fake.requests(), ensure_ascii=False)
    check(ID_CARD not in sent and PHONE not in sent, "PII reached the model")
    check("[身份证1]" in sent and "[手机号1]" in sent, "placeholders sent instead")
    check(ID_CARD in a["answer"] and PHONE in a["answer"],
          "restored for the user: %s" % a["answer"])


@test
def request_id_reaches_the_model(ctx):
    """The answer's request id goes to the model as X-Request-Id: one id in
    Atrium's log and in the model server's."""
    srv, h = ctx.model, as_user(ctx, "alice")
    cid = new_conv(srv, h)
    ctx.fake.forget()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("POST", "/api/v1/conversations/%d/ask" % cid,
              json.dumps({"question": "大额现金支取需要预约吗"}).encode(),
              dict(h, **{"Content-Type": "application/json"}))
    r = c.getresponse()
    body = json.loads(r.read())
    rid = r.getheader("X-Request-Id")
    c.close()
    check_eq(r.status, 200, "ask: %r" % (body,))
    check(rid and len(rid) >= 8, "a request id: %r" % rid)
    sent = [q for q in ctx.fake.requests() if q["path"].endswith("/chat/completions")]
    check(sent, "the model was asked")
    check_eq([q["request_id"] for q in sent], [rid] * len(sent), "X-Request-Id sent to the model")


@test
def model_stall_falls_back_to_extracts(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="stall")
    try:
        cid = new_conv(srv, h)
        t0 = time.time()
        st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                     {"question": "大额取现要预约吗"}, h)
        took = time.time() - t0
    finally:
        ctx.fake.control(mode="ok")
    check_eq(st, 200, "ask")
    check_eq(a["mode"], "extractive", "fallback: %r" % a)
    check(a["notice"], "notice")
    check("第四条" in a["answer"], "extract")
    check(took < 10, "no hang: %.1f s" % took)
    time.sleep(1.2)  # the stalled endpoint rests model_cooldown_s (1 s here)


@test
def follow_up_is_rewritten(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    cid = new_conv(srv, h)
    st, a1 = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                  {"question": "个人客户开户需要什么材料"}, h)
    check_eq(st, 200, "first")
    st, a2 = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                  {"question": "那单位客户呢？"}, h)
    check_eq(st, 200, "follow-up")
    check("开户" in a2["query"] and "单位" in a2["query"], "rewritten: %r" % a2["query"])
    check(any(c.get("label") == "第二条" for c in a2["citations"]), "found the right article")


@test
def faq_answers_first(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    st, f = jreq(srv, "POST", "/api/v1/kbs/%d/faqs" % ctx.kb,
                 {"question": "挂失止付有效期多久", "answer": "挂失止付的有效期为七日，请提醒客户及时办理后续手续。",
                  "similar": ["挂失止付能管几天"]})
    check_eq(st, 201, "faq: %r" % (f,))
    cid = new_conv(srv, h)
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                 {"question": "请问挂失止付有效期多久？"}, h)
    check_eq(a["mode"], "faq", "FAQ first: %r" % a)
    check(a["citations"][0]["kind"] == "faq", "cited as the FAQ")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/faqs" % ctx.kb, {"question": "x", "answer": "y"},
                 h)
    check_eq(st, 403, "readers cannot add FAQs")


@test
def feedback_becomes_a_faq(ctx):
    srv, h = ctx.model, as_user(ctx, "bob")
    cid = new_conv(srv, h)
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                 {"question": "存单挂失要带什么证件"}, h)
    check_eq(st, 200, "ask")
    st, f = jreq(srv, "POST", "/api/v1/messages/%d/feedback" % a["message_id"],
                 {"rating": -1, "comment": "没说要带身份证原件"}, h)
    check_eq(st, 201, "feedback: %r" % (f,))
    st, _ = jreq(srv, "POST", "/api/v1/messages/%d/feedback" % a["message_id"], {"rating": 1},
                 as_user(ctx, "alice"))
    check_eq(st, 404, "feedback on someone else's answer")
    st, queue = jreq(srv, "GET", "/api/v1/kbs/%d/feedback" % ctx.kb)
    check_eq(st, 200, "queue: %r" % (queue,))
    item = [i for i in queue["items"] if i["id"] == f["id"]]
    check(item, "the 👎 is in the KB's queue")
    st, other = jreq(srv, "POST", "/api/v1/kbs", {"name": "别的库"})
    check_eq(st, 201, "another KB")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/feedback/%d/resolve" % (other["id"], f["id"]),
                 {"answer": "x"})
    check_eq(st, 404, "an item is reviewed through its own KB only")
    st, r = jreq(srv, "POST", "/api/v1/kbs/%d/feedback/%d/resolve" % (ctx.kb, f["id"]),
                 {"question": "存单挂失要带什么证件",
                  "answer": "存单挂失须持本人有效身份证件原件到开户网点办理。"})
    check_eq(st, 201, "resolve: %r" % (r,))
    st, a2 = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % new_conv(srv, h),
                  {"question": "存单挂失要带什么证件"}, h)
    check_eq(a2["mode"], "faq", "the corrected answer now comes first: %r" % a2)
    check("原件" in a2["answer"], "corrected text")


@test
def files_stay_in_their_conversation(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    c1, c2 = new_conv(srv, h), new_conv(srv, h)
    note = "会议纪要\n\n本次会议决定，柜面轧账时间调整为每日十六点三十分，由运营主管复核签字。\n"
    body, ctype = base.multipart([("纪要.txt", note.encode("utf-8"))])
    st, j = jreq(srv, "POST", "/api/v1/conversations/%d/files" % c1, body,
                 dict(h, **{"Content-Type": ctype}))
    check_eq(st, 202, "upload into the conversation: %r" % (j,))
    st, files = jreq(srv, "GET", "/api/v1/conversations/%d/files" % c1, None, h)
    fkb = files["kb_id"]
    deadline = time.time() + 20
    while time.time() < deadline:
        st, jb = jreq(srv, "GET", "/api/v1/kbs/%d/jobs/%d" % (fkb, j["jobs"][0]["id"]), None, h)
        if jb.get("status") in ("done", "failed"):
            break
        time.sleep(0.05)
    check_eq(jb.get("status"), "done", "ingested")
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % c1,
                 {"question": "轧账时间调整为几点", "no_model": True}, h)
    check("十六点三十分" in a["answer"], "found in its own conversation: %s" % a["answer"])
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % c2,
                 {"question": "轧账时间调整为几点", "no_model": True}, h)
    check("十六点三十分" not in a["answer"], "not in another conversation")
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % c1,
                 {"question": "总结一下这份纪要", "no_model": True}, h)
    check(a["mode"] == "extractive" and "要点" in a["answer"] and "十六点三十分" in a["answer"],
          "summary without a model: %r" % a)
    ctx.fake.forget()
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % c1, {"question": "总结一下这份纪要"},
                 h)
    check_eq(a["mode"], "model", "summary with the model")
    sent = json.dumps(ctx.fake.requests(), ensure_ascii=False)
    check("十六点三十分" in sent, "the model was given the file itself")
    bob = as_user(ctx, "bob")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % fkb, None, bob)
    check_eq(st, 404, "another user cannot see the files KB")
    st, lst = jreq(srv, "GET", "/api/v1/kbs", None, h)
    check(all(k["id"] != fkb for k in lst["kbs"]), "not listed among KBs")
    st, _ = jreq(srv, "DELETE", "/api/v1/conversations/%d" % c1, None, h)
    check_eq(st, 204, "delete")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % fkb, None, h)
    check_eq(st, 404, "the files went with the conversation")


@test
def stop_and_regenerate(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    ctx.fake.control(mode="slow", delay_ms=100, tokens=60)
    cid = new_conv(srv, h)
    out = {}

    def run():
        out["ev"] = sse(srv, "/api/v1/conversations/%d/ask" % cid,
                        {"question": "个人开户要什么", "stream": True}, h)

    t = threading.Thread(target=run)
    t.start()
    try:
        time.sleep(0.8)
        st, _ = jreq(srv, "POST", "/api/v1/conversations/%d/stop" % cid, None, h)
        check_eq(st, 204, "stop")
        t.join(20)
    finally:
        ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    done = dict(out.get("ev", []))
    check(done.get("done", {}).get("stopped") is True, "stopped: %r" % done.get("done"))
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq(msgs["messages"][-1]["status"], "stopped", "stored as stopped")
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/regenerate" % cid, {}, h)
    check_eq(st, 200, "regenerate: %r" % (a,))
    st, msgs = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq([m["role"] for m in msgs["messages"]], ["user", "assistant"],
             "the stopped answer was replaced")
    check_eq(msgs["messages"][-1]["status"], "done", "regenerated")


@test
def sensitive_words_block_and_mask(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    st, _ = jreq(srv, "POST", "/api/v1/sensitive-words", {"word": "内幕交易", "action": "block"})
    check_eq(st, 201, "add block word")
    st, _ = jreq(srv, "POST", "/api/v1/sensitive-words", {"word": "黄浦", "action": "mask"})
    check_eq(st, 201, "add mask word")
    st, _ = jreq(srv, "POST", "/api/v1/sensitive-words", {"word": "x"}, h)
    check_eq(st, 403, "users cannot edit the list")
    cid = new_conv(srv, h)
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                 {"question": "怎样做内幕交易不被发现"}, h)
    check_eq(a["mode"], "blocked", "blocked: %r" % a)
    ctx.fake.forget()
    ctx.fake.control(mode="echo")
    try:
        st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid,
                     {"question": "黄浦网点存单挂失怎么办"}, h)
    finally:
        ctx.fake.control(mode="ok")
    sent = json.dumps(ctx.fake.requests(), ensure_ascii=False)
    check("黄浦" not in sent, "masked before the model")
    check("黄浦" not in a["answer"], "and in the answer: %s" % a["answer"])


@test
def openai_compatible_api(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    st, models = jreq(srv, "GET", "/v1/models", None, h)
    check_eq(st, 200, "models")
    ids = [m["id"] for m in models["data"]]
    check("kb:手册" in ids and "assistant" in ids, "lists readable KBs: %r" % ids)
    st, secret = jreq(srv, "POST", "/api/v1/kbs", {"name": "机密库"})
    check_eq(st, 201, "secret kb")
    st, models = jreq(srv, "GET", "/v1/models", None, h)
    check("kb:机密库" not in [m["id"] for m in models["data"]], "an unreadable KB is not listed")
    st, j = jreq(srv, "POST", "/v1/chat/completions",
                 {"model": "kb:机密库", "messages": [{"role": "user", "content": "有什么"}]}, h)
    check_eq(st, 404, "an unreadable KB is no model: %r" % (j,))
    st, j = jreq(srv, "POST", "/v1/chat/completions",
                 {"model": "kb:手册", "messages": [
                     {"role": "system", "content": "忽略"},
                     {"role": "user", "content": "挂失止付有效期几天"}]}, h)
    check_eq(st, 200, "completion: %r" % (j,))
    check_eq(j["object"], "chat.completion", "object")
    check(j["choices"][0]["message"]["content"], "content")
    check(j["citations"], "citations in the response")
    ev = sse(srv, "/v1/chat/completions",
             {"model": "assistant", "stream": True,
              "messages": [{"role": "user", "content": "单位开户需要哪些材料"}]}, h)
    check(ev and ev[-1][1] == "[DONE]", "ends with [DONE]: %r" % ev[-1:])
    chunks = [d for _, d in ev[:-1]]
    check(all(c["object"] == "chat.completion.chunk" for c in chunks), "chunks")
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    check(text, "streamed content")
    check(chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1].get("citations"),
          "last chunk: finish and citations")
    st, _, _ = srv.request("GET", "/v1/models", auth=False)
    check_eq(st, 401, "tokens required")


@test
def rate_limit(ctx):
    srv, h = ctx.plain, {"Authorization": "Bearer " + ctx.plain_tokens["bob"]}
    cid = new_conv(srv, h)
    codes, retry = [], None
    for _ in range(6):  # burst 3 on this server
        st, hd, _ = srv.request("POST", "/api/v1/conversations/%d/ask" % cid,
                                {"question": "存单挂失"}, h)
        codes.append(st)
        if st == 429:
            retry = hd.get("retry-after")
    check(codes[:3] == [200, 200, 200] and 429 in codes, "codes: %r" % codes)
    check(retry and int(retry) >= 1, "Retry-After: %r" % retry)


class FakeSearx:
    """tests/fake_searxng.py on a free port."""

    def __init__(self, workdir):
        import subprocess
        self.port_file = os.path.join(workdir, "searx.port")
        self.log = open(os.path.join(workdir, "searx.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "fake_searxng.py"), "--port", "0",
             "--port-file", self.port_file], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        self.port = None
        while time.time() < deadline and not self.port:
            try:
                with open(self.port_file) as f:
                    self.port = int(f.read().strip() or 0) or None
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        if not self.port:
            raise RuntimeError("fake SearXNG did not start")

    def requests(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/requests" % self.port, timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        base.stop_process(self.proc, 5)
        self.log.close()


@test
def web_results_are_cited_beside_the_kb(ctx):
    srv, h = ctx.model, as_user(ctx, "alice")
    cid = new_conv(srv, h, web=True)
    q_ = "存单挂失止付 客户手机%s" % PHONE
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid, {"question": q_}, h)
    check_eq(st, 200, "ask: %r" % (a,))
    sent = json.dumps(ctx.searx.requests(), ensure_ascii=False)
    check("挂失止付" in sent, "the web got the question: %s" % sent[:200])
    check(PHONE not in sent, "but not the customer's phone number")
    kinds = {c["kind"] for c in a["citations"]}
    check("kb" in kinds, "KB citations: %r" % a["citations"])
    st, m = jreq(srv, "GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq(st, 200, "messages")
    # the model was given the web results as numbered sources after the KB's
    reqs = ctx.fake.requests()
    last = json.dumps(reqs[-1], ensure_ascii=False) if reqs else ""
    check("example.com/r/" in last, "web sources in the prompt")
    cid2 = new_conv(srv, h)  # web off by default
    n_before = len(ctx.searx.requests())
    st, a = jreq(srv, "POST", "/api/v1/conversations/%d/ask" % cid2, {"question": "存单挂失"}, h)
    check_eq(len(ctx.searx.requests()), n_before, "no web search when it is off")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-assist-")
    ctx = Ctx()
    ctx.fake = ctx.plain = ctx.model = ctx.searx = None
    passed = failed = 0
    try:
        try:
            ctx.fake = base.FakeModel(workdir)
            ctx.searx = FakeSearx(workdir)
            ctx.plain = base.Server(atrium, workdir, "plain", {"ATRIUM_RATE_LIMIT_BURST": "3",
                                                               "ATRIUM_RATE_LIMIT_PER_MIN": "6"},
                                    20)
            ctx.model = base.Server(atrium, workdir, "model", {
                "ATRIUM_CHAT_URL": "http://127.0.0.1:%d/v1" % ctx.fake.port,
                "ATRIUM_CHAT_MODEL": "fake",
                "ATRIUM_MODEL_FIRST_TOKEN_TIMEOUT_MS": "1500",
                "ATRIUM_MODEL_TOTAL_TIMEOUT_MS": "20000",
                "ATRIUM_MODEL_COOLDOWN_S": "1",
                "ATRIUM_WEBSEARCH_URL": "http://127.0.0.1:%d" % ctx.searx.port,
                "ATRIUM_RATE_LIMIT_BURST": "100", "ATRIUM_RATE_LIMIT_PER_MIN": "1000"}, 20)
            _, ctx.plain_tokens = setup_server(ctx, ctx.plain, "plain")
            ctx.kb, ctx.tokens = setup_server(ctx, ctx.model, "model")
            passed += 1
            print("ok   setup")
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL setup")
            traceback.print_exc(limit=5, file=sys.stdout)
        if not failed:
            ok, bad = base.run_tests(TESTS, ctx, args.filter)
            passed += ok
            failed += bad
    finally:
        for srv in (ctx.plain, ctx.model):
            if not srv:
                continue
            if base.stopped_cleanly(srv, "%s server" % srv.name):
                passed += 1
            else:
                failed += 1
        if ctx.fake:
            ctx.fake.stop()
        if ctx.searx:
            ctx.searx.stop()
        if failed:
            print("logs kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("api-assist: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
