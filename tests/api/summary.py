#!/usr/bin/env python3
"""Whole-document summaries ("总结一下") of a conversation's files, against a
real `atrium serve` and the fake model: a long file is read in parts (every
part of it reaches the model in some map request, the final request sums
the parts up and the answer cites the files, progress comes as notices);
without a model the extractive summary covers every document and every
section; a failing model falls back to it. Prints "api-summary: N passed,
N failed".

Usage: tests/api/summary.py [--atrium build/atrium] [--filter NAME]
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
SECTIONS = 30


def long_doc():
    """30 sections of about 400 characters; the first sentence of section n
    holds the marker 标记n号, the last one 尾注n号."""
    out = ["# 恒远银行柜面操作规程\n"]
    for n in range(1, SECTIONS + 1):
        out.append("## 第%d节 操作要求%d\n" % (n, n))
        body = "本节标记%d号规定柜面业务第%d项操作的要求。" % (n, n)
        body += "柜员应当核对客户身份证件、业务凭证和印鉴，确认无误后方可办理，并在系统中登记。" * 5
        body += "本节尾注%d号。\n" % n
        out.append(body)
    return "\n".join(out)


SHORT = "# 会议纪要\n\n## 决定\n\n会议决定柜面轧账时间调整为每日十六点三十分。由运营主管复核签字。\n"


class Ctx:
    pass


TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def jreq(srv, method, path, body=None, headers=None):
    return srv.json(method, path, body, headers)








def setup(ctx):
    srv = ctx.srv
    st, u = jreq(srv, "POST", "/api/v1/users", {"username": "alice", "password": PASSWORD})
    check_eq(st, 201, "user")
    st, t = jreq(srv, "POST", "/api/v1/users/alice/tokens", {"name": "summary"})
    check_eq(st, 201, "token")
    ctx.h = {"Authorization": "Bearer " + t["token"]}
    st, c = jreq(srv, "POST", "/api/v1/conversations", {}, ctx.h)
    check_eq(st, 201, "conversation")
    ctx.conv = c["id"]
    body, ctype = base.multipart([("规程.md", long_doc().encode("utf-8")),
                                  ("纪要.md", SHORT.encode("utf-8"))])
    st, j = jreq(srv, "POST", "/api/v1/conversations/%d/files" % ctx.conv, body,
                 dict(ctx.h, **{"Content-Type": ctype}))
    check_eq(st, 202, "upload: %r" % (j,))
    st, files = jreq(srv, "GET", "/api/v1/conversations/%d/files" % ctx.conv, None, ctx.h)
    fkb = files["kb_id"]
    for job in j["jobs"]:
        deadline = time.time() + 20
        while time.time() < deadline:
            st, jb = jreq(srv, "GET", "/api/v1/kbs/%d/jobs/%d" % (fkb, job["id"]), None, ctx.h)
            if jb.get("status") in ("done", "failed"):
                break
            time.sleep(0.05)
        check_eq(jb.get("status"), "done", "ingested")


def ask(ctx, **kw):
    body = dict({"question": "总结一下这些文件"}, **kw)
    st, a = jreq(ctx.srv, "POST", "/api/v1/conversations/%d/ask" % ctx.conv, body, ctx.h)
    check_eq(st, 200, "ask: %r" % (a,))
    return a


@test
def extractive_covers_every_document_and_section(ctx):
    a = ask(ctx, no_model=True)
    check_eq(a["mode"], "extractive", "mode")
    text = a["answer"]
    check("《恒远银行柜面操作规程》" in text and "《会议纪要》" in text, "both documents: %s" % text)
    missing = [n for n in range(1, SECTIONS + 1) if "标记%d号" % n not in text]
    check(not missing, "leading sentence of every section, missing %r" % missing)
    check("十六点三十分" in text, "the short document's lead")
    check(len(a["citations"]) >= SECTIONS + 1, "every line cited: %d" % len(a["citations"]))


@test
def long_files_are_read_in_parts(ctx):
    ctx.fake.control(mode="ok", delay_ms=0, tokens=0)
    ctx.fake.forget()
    events = base.post_sse(ctx.srv, "/api/v1/conversations/%d/ask" % ctx.conv,
                           {"question": "总结一下这些文件", "stream": True}, ctx.h,
                           expect_type=False)
    names = [e for e, _ in events]
    check("error" not in names, "no error: %r" % events[-3:])
    notices = [d["text"] for e, d in events if e == "notice"]
    check(any("部分阅读" in n for n in notices), "a notice says it reads in parts: %r" % notices)
    check(any("已阅读" in n for n in notices), "progress notices: %r" % notices)
    done = [d for e, d in events if e == "done"][-1]
    check_eq(done["mode"], "model", "the model summed up")
    reqs = [r for r in ctx.fake.requests() if r["path"].endswith("/chat/completions")]
    bodies = [json.dumps(r["body"], ensure_ascii=False) for r in reqs]
    maps = [b for b in bodies if "文件的一部分" in b]
    reduces = [b for b in bodies if "各部分的要点" in b]
    check(len(maps) >= 3, "several map requests: %d" % len(maps))
    check_eq(len(reduces), 1, "one reduce request")
    for n in range(1, SECTIONS + 1):
        for m in ("标记%d号" % n, "尾注%d号" % n):
            check(any(m in b for b in maps), "%s was sent in some map request" % m)
    check(any("十六点三十分" in b for b in maps), "the short document too")
    for b in maps:
        check(len(b) < 3 * 1500 * 3, "a map request fits the budget: %d bytes" % len(b))
    check("《恒远银行柜面操作规程》" in reduces[0], "the reduce names the files")
    cites = [d for e, d in events if e == "citations"][-1]
    check(cites and all("doc_title" in c or "title" in c for c in cites), "cites: %r" % cites)


@test
def failing_model_falls_back_to_extracts(ctx):
    ctx.fake.control(mode="fail")
    try:
        a = ask(ctx)
    finally:
        ctx.fake.control(mode="ok")
    check_eq(a["mode"], "extractive", "extracts")
    check(a.get("notice"), "a notice says so")
    check("标记%d号" % SECTIONS in a["answer"], "still the whole file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-summary-")
    ctx = Ctx()
    ctx.fake = ctx.srv = None
    passed = failed = 0
    try:
        try:
            ctx.fake = base.FakeModel(workdir)
            ctx.srv = base.Server(atrium, workdir, "model", {
                "ATRIUM_CHAT_URL": "http://127.0.0.1:%d/v1" % ctx.fake.port,
                "ATRIUM_CHAT_MODEL": "fake",
                "ATRIUM_MODEL_FIRST_TOKEN_TIMEOUT_MS": "3000",
                "ATRIUM_MODEL_COOLDOWN_S": "1",
                "ATRIUM_SUMMARY_BUDGET_CHARS": "1500",
                "ATRIUM_SUMMARY_PARALLEL": "2",
                "ATRIUM_RATE_LIMIT_BURST": "100", "ATRIUM_RATE_LIMIT_PER_MIN": "1000"}, 20)
            setup(ctx)
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
    print("api-summary: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
