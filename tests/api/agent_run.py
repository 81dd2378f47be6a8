#!/usr/bin/env python3
"""Digital employees answering, end to end against a real `atrium serve` and
the fake model (modes agent / fail): one-off questions (SSE and JSON) through
the tool-calling loop with notices and a trace, kb_search keeping to the KBs
the asker may read, conversations with assistant "agent:<name>" (ask,
regenerate, stored messages), the OpenAI API's "agent:<name>" (listing,
chat, streamed chat), the extractive fallback when the model fails, a user
without access getting 404 everywhere, and a retired agent's conversation.
Prints "api-agent-run: N passed, N failed".

Usage: tests/api/agent_run.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
check, check_eq = base.check, base.check_eq
PASSWORD = "Counter#2026-Ab"

MANUAL = """# 柜面操作手册

第一条 个人客户办理存单挂失，应当出具本人有效身份证件，挂失止付的有效期为七日。

第二条 大额现金支取五万元以上的，应当提前一个营业日预约。
"""
SECRET = """# 内部机密办法

第一条 存单挂失业务的机密风控阈值为绝密数字九九八八七七，不得外传。
"""


class Ctx:
    pass


TESTS = []

sse = base.post_sse  # POST, then the answer's events


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def as_user(ctx, user):
    return {"Authorization": "Bearer " + ctx.tokens[user]}








def upload(srv, kb, name, text):
    body, ctype = base.multipart([(name, text.encode("utf-8"))])
    st, j = srv.json("POST", "/api/v1/kbs/%d/documents" % kb, body, {"Content-Type": ctype})
    check_eq(st, 202, "upload")
    base.wait_job(srv, str(kb), j["jobs"][0]["id"])


def setup_server(ctx):
    """KB A readable by every user, KB B by nobody but the admin; users
    alice (may use the agent) and bob (may not); agent "teller" over A and B
    with kb_search and calculator, published."""
    srv = ctx.srv
    st, a = srv.json("POST", "/api/v1/kbs", {"name": "柜面"})
    check_eq(st, 201, "kb A")
    st, b = srv.json("POST", "/api/v1/kbs", {"name": "机密"})
    check_eq(st, 201, "kb B")
    st, _ = srv.json("POST", "/api/v1/kbs/%d/acl" % a["id"],
                     {"subject_type": "role", "subject": "user", "level": "read"})
    check_eq(st, 201, "grant A")
    upload(srv, a["id"], "手册.md", MANUAL)
    upload(srv, b["id"], "机密.md", SECRET)
    ctx.tokens = {}
    for user in ("alice", "bob"):
        st, _ = srv.json("POST", "/api/v1/users", {"username": user, "password": PASSWORD})
        check_eq(st, 201, "user %s" % user)
        st, t = srv.json("POST", "/api/v1/users/%s/tokens" % user, {"name": "agent-run"})
        check_eq(st, 201, "token")
        ctx.tokens[user] = t["token"]
    spec = {"prompt": "你是柜面业务助手，回答柜员的业务问题。", "kbs": [a["id"], b["id"]],
            "tools": ["kb_search", "calculator"], "max_steps": 4, "max_seconds": 30,
            "opening": "您好，我是柜面助手。"}
    st, ag = srv.json("POST", "/api/v1/agents", {"name": "teller", "title": "柜面助手",
                                                 "spec": spec})
    check_eq(st, 201, "agent: %r" % (ag,))
    st, p = srv.json("POST", "/api/v1/agents/teller/versions/1/publish", {})
    check_eq(st, 200, "publish: %r" % (p,))
    st, g = srv.json("POST", "/api/v1/agents/teller/acl", {"subject": "user", "name": "alice"})
    check(st in (200, 201), "grant: %d %r" % (st, g))
    ctx.kb_a, ctx.kb_b = a["id"], b["id"]


def agent_mode(ctx, **kw):
    ctx.fake.control(mode="agent")
    if kw:
        ctx.fake.control(**kw)


# ---------------------------------------------------------------- one-off asks


@test
def ask_streams_the_tool_loop_and_traces_it(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    agent_mode(ctx, tool="calculator", arguments={"expression": "50000*0.015"})
    ev = sse(srv, "/api/v1/agents/teller/ask", {"question": "五万元手续费率1.5%是多少", "stream": True}, h)
    names = [e for e, _ in ev]
    check("notice" in names and "delta" in names and names[-2:] == ["citations", "done"],
          "events: %r" % names)
    notices = [d["text"] for e, d in ev if e == "notice"]
    check(any("计算器" in n and "calculator" in n for n in notices), "tool notice: %r" % notices)
    check(not any("50000" in n for n in notices), "no arguments in notices")
    check(names.index("notice") < names.index("delta"), "the notice comes first")
    text = "".join(d["text"] for e, d in ev if e == "delta")
    check("根据工具结果" in text and "750" in text, "answer: %s" % text)
    done = dict(ev)["done"]
    check_eq(done["mode"], "model", "mode")
    tid = done["trace_id"]
    check(tid > 0, "trace id")
    st, t = srv.json("GET", "/api/v1/agents/teller/traces/%d" % tid)
    check_eq(st, 200, "trace")
    check_eq([s["kind"] for s in t["steps"]], ["model", "tool", "model"], "steps")
    check_eq(t["steps"][1]["tool"], "calculator", "tool step")
    check(t["steps"][1]["ok"] and t["steps"][1]["result_bytes"] > 0, "tool ok: %r" % t["steps"][1])
    check_eq((t["status"], t["answered"]), ("done", True), "status")
    st, lst = srv.json("GET", "/api/v1/agents/teller/traces?limit=5")
    check_eq(st, 200, "traces")
    check(lst["total"] >= 1 and lst["traces"][0]["id"] == tid, "newest first: %r" % lst)
    st, _ = srv.json("GET", "/api/v1/agents/teller/traces/%d" % tid, None, h)
    check_eq(st, 403, "traces are for the agent's admins")


@test
def kb_search_keeps_to_readable_kbs(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    agent_mode(ctx, tool="kb_search", arguments={"query": "存单挂失"})
    ctx.fake.forget()
    st, a = srv.json("POST", "/api/v1/agents/teller/ask", {"question": "存单挂失怎么办"}, h)
    check_eq(st, 200, "ask: %r" % (a,))
    sent = json.dumps(ctx.fake.requests(), ensure_ascii=False)
    check("挂失止付" in sent, "A's text reached the model")
    check("九九八八七七" not in sent and "机密风控" not in sent, "B's text never did")
    check(a["citations"] and all(c.get("kb_id") == ctx.kb_a for c in a["citations"]),
          "citations from A only: %r" % a["citations"])
    # the admin may read B: the same agent finds it for them
    ctx.fake.forget()
    st, a = srv.json("POST", "/api/v1/agents/teller/ask", {"question": "存单挂失怎么办"})
    check_eq(st, 200, "admin ask")
    sent = json.dumps(ctx.fake.requests(), ensure_ascii=False)
    check("九九八八七七" in sent, "B is searched for who may read it")


@test
def model_failure_and_no_model_answer_from_extracts(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    ctx.fake.control(mode="fail")
    try:
        st, a = srv.json("POST", "/api/v1/agents/teller/ask", {"question": "挂失止付的有效期是几天"}, h)
    finally:
        agent_mode(ctx)
        time.sleep(1.2)  # the endpoint rests ATRIUM_MODEL_COOLDOWN_S after failing
    check_eq(st, 200, "ask")
    check_eq(a["mode"], "extractive", "fallback: %r" % a)
    check(a["notice"] and "摘录" in a["notice"], "notice: %r" % a["notice"])
    check("七日" in a["answer"], "extract: %s" % a["answer"])
    ctx.fake.forget()
    st, a = srv.json("POST", "/api/v1/agents/teller/ask",
                     {"question": "挂失止付的有效期是几天", "no_model": True}, h)
    check_eq((st, a["mode"]), (200, "extractive"), "no_model: %r" % a)
    check_eq(ctx.fake.requests(), [], "the model was not asked")
    st, a = srv.json("POST", "/api/v1/agents/teller/ask",
                     {"question": "量子退相干时间如何测量", "no_model": True}, h)
    check_eq(a["mode"], "none", "not covered: %r" % a)
    check("抱歉" in a["answer"], "says so")
    st, a = srv.json("POST", "/api/v1/agents/teller/ask", {"question": 3}, h)
    check_eq(st, 400, "bad body")


# ---------------------------------------------------------------- conversations


@test
def conversation_with_an_agent(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    agent_mode(ctx, tool="calculator", arguments={"expression": "7*6"})
    st, c = srv.json("POST", "/api/v1/conversations", {"assistant": "agent:teller"}, h)
    check_eq(st, 201, "conversation: %r" % (c,))
    cid = c["id"]
    ev = sse(srv, "/api/v1/conversations/%d/ask" % cid, {"question": "七乘六是多少", "stream": True}, h)
    names = [e for e, _ in ev]
    check(names[-2:] == ["citations", "done"] and "notice" in names, "events: %r" % names)
    text = "".join(d["text"] for e, d in ev if e == "delta")
    check("42" in text, "answer: %s" % text)
    st, msgs = srv.json("GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq([m["role"] for m in msgs["messages"]], ["user", "assistant"], "stored")
    check_eq((msgs["messages"][1]["status"], msgs["messages"][1]["content"]), ("done", text),
             "answer stored")
    st, a = srv.json("POST", "/api/v1/conversations/%d/regenerate" % cid, {}, h)
    check_eq(st, 200, "regenerate: %r" % (a,))
    check("42" in a["answer"], "regenerated")
    st, msgs = srv.json("GET", "/api/v1/conversations/%d/messages" % cid, None, h)
    check_eq(len(msgs["messages"]), 2, "the old answer was replaced")
    st, _ = srv.json("POST", "/api/v1/conversations/%d/stop" % cid, {}, h)
    check_eq(st, 409, "nothing running to stop")


# ---------------------------------------------------------------- OpenAI API


@test
def openai_lists_and_runs_agents(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    st, m = srv.json("GET", "/v1/models", None, h)
    check_eq(st, 200, "models")
    ids = [x["id"] for x in m["data"]]
    check("agent:teller" in ids, "agent listed: %r" % ids)
    check(any(x["id"] == "agent:teller" and x["owned_by"] == "atrium" for x in m["data"]),
          "owned_by")
    agent_mode(ctx, tool="kb_search", arguments={"query": "大额现金预约"})
    st, r = srv.json("POST", "/v1/chat/completions", {
        "model": "agent:teller",
        "messages": [{"role": "user", "content": "大额取现要预约吗"}]}, h)
    check_eq(st, 200, "chat: %r" % (r,))
    check_eq(r["model"], "agent:teller", "model")
    content = r["choices"][0]["message"]["content"]
    check("根据工具结果" in content, "agent answer: %s" % content)
    check(r["citations"] and r["citations"][0]["kind"] == "kb", "citations: %r" % r["citations"])
    ev = sse(srv, "/v1/chat/completions", {
        "model": "agent:teller", "stream": True,
        "messages": [{"role": "user", "content": "大额取现要预约吗"}]}, h)
    check(ev and ev[-1][1] == "[DONE]", "ends with [DONE]")
    chunks = [d for _, d in ev if isinstance(d, dict)]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices"))
    check("根据工具结果" in text, "streamed: %s" % text)
    check(any("citations" in c for c in chunks), "citations in the last chunk")


# ---------------------------------------------------------------- access


@test
def no_access_is_404_everywhere(ctx):
    srv, h = ctx.srv, as_user(ctx, "bob")
    st, _ = srv.json("POST", "/api/v1/agents/teller/ask", {"question": "挂失"}, h)
    check_eq(st, 404, "ask")
    st, _ = srv.json("POST", "/api/v1/agents/nosuch/ask", {"question": "挂失"}, h)
    check_eq(st, 404, "missing agent")
    st, _ = srv.json("POST", "/api/v1/conversations", {"assistant": "agent:teller"}, h)
    check_eq(st, 404, "conversation")
    st, m = srv.json("GET", "/v1/models", None, h)
    check("agent:teller" not in [x["id"] for x in m["data"]], "not listed")
    st, r = srv.json("POST", "/v1/chat/completions", {
        "model": "agent:teller", "messages": [{"role": "user", "content": "挂失"}]}, h)
    check_eq(st, 404, "openai chat: %r" % (r,))
    st, _ = srv.json("GET", "/api/v1/agents/teller/traces", None, h)
    check_eq(st, 403, "traces")


@test
def retired_agent_conversation_is_404(ctx):
    srv, h = ctx.srv, as_user(ctx, "alice")
    agent_mode(ctx)
    st, c = srv.json("POST", "/api/v1/conversations", {"assistant": "agent:teller"}, h)
    check_eq(st, 201, "conversation")
    st, _ = srv.json("POST", "/api/v1/agents/teller/retire", {})
    check(st in (200, 204), "retire: %d" % st)
    st, e = srv.json("POST", "/api/v1/conversations/%d/ask" % c["id"], {"question": "挂失"}, h)
    check_eq(st, 404, "retired: %r" % (e,))
    check("停用" in e["error"]["message"], "clear message: %r" % e)
    st, _ = srv.json("POST", "/api/v1/agents/teller/ask", {"question": "挂失"}, h)
    check_eq(st, 404, "one-off ask")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-agent-run-")
    ctx = Ctx()
    ctx.fake = ctx.srv = None
    passed = failed = 0
    try:
        try:
            ctx.fake = base.FakeModel(workdir)
            ctx.srv = base.Server(atrium, workdir, "agents", {
                "ATRIUM_CHAT_URL": "http://127.0.0.1:%d/v1" % ctx.fake.port,
                "ATRIUM_CHAT_MODEL": "fake",
                "ATRIUM_MODEL_FIRST_TOKEN_TIMEOUT_MS": "1500",
                "ATRIUM_MODEL_TOTAL_TIMEOUT_MS": "20000",
                "ATRIUM_MODEL_COOLDOWN_S": "1",
                "ATRIUM_RATE_LIMIT_BURST": "100", "ATRIUM_RATE_LIMIT_PER_MIN": "1000"}, 20)
            setup_server(ctx)
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
        if ctx.srv:
            if base.stopped_cleanly(ctx.srv):
                passed += 1
            else:
                failed += 1
        if ctx.fake:
            ctx.fake.stop()
        if failed:
            print("logs kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("api-agent-run: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
