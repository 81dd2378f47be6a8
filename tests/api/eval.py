#!/usr/bin/env python3
"""Evaluation of digital employees and usage analytics end to end, against a
real `atrium serve` (answers without a model: the extractive path, so the
scores are deterministic): an eval set created over HTTP (and refused when
malformed), runs started in the background and polled to the end, per-case
results, two versions' runs compared case by case, cancel, the quality gate
blocking a publish below its threshold and allowing one above, usage
analytics counting the day's questions (not the evaluation's), unanswered
questions, and the permission agents.manage on every route. Prints
"api-eval: N passed, N failed".

Usage: tests/api/eval.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
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

MANUAL = """# 恒远银行账户业务手册

## 第二章 挂失

第三条 存单遗失的，存款人应当持本人有效身份证件到开户网点办理挂失止付，挂失止付的有效期为七日。

第四条 大额现金支取五万元以上的，应当提前一个营业日预约。
"""

CASES = [
    {"question": "存单遗失了怎么办", "expect": {"keywords": ["挂失止付"]}},
    {"question": "挂失止付的有效期是多久", "expect": {"keywords": ["七日"],
                                                     "citations": ["账户业务手册"]}},
    {"question": "大额现金支取需要预约吗", "expect": {"keywords": ["预约"]}},
    {"question": "今天天气怎么样", "expect": {"refuse": True}},
]


class Ctx:
    pass


TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def upload(srv, kb, name, text):
    body, ctype = base.multipart([(name, text.encode("utf-8"))])
    st, j = srv.json("POST", "/api/v1/kbs/%d/documents" % kb, body, {"Content-Type": ctype})
    check_eq(st, 202, "upload")
    base.wait_job(srv, str(kb), j["jobs"][0]["id"])


def spec(ctx, kbs):
    return {"prompt": "你是柜面业务助手。", "kbs": kbs, "tools": ["kb_search"],
            "max_steps": 3, "max_seconds": 20}


def setup_server(ctx):
    srv = ctx.srv
    st, kb = srv.json("POST", "/api/v1/kbs", {"name": "柜面手册"})
    check_eq(st, 201, "kb")
    upload(srv, kb["id"], "账户业务手册.md", MANUAL)
    ctx.kb = kb["id"]
    st, ag = srv.json("POST", "/api/v1/agents", {"name": "evalbot", "title": "评测助手",
                                                 "minutes_saved": 6,
                                                 "spec": spec(ctx, [kb["id"]])})
    check_eq(st, 201, "agent: %r" % (ag,))
    st, u = srv.json("POST", "/api/v1/users", {"username": "clerk", "password": PASSWORD})
    check_eq(st, 201, "user clerk")
    st, t = srv.json("POST", "/api/v1/users/clerk/tokens", {"name": "eval"})
    check_eq(st, 201, "token")
    ctx.clerk = {"Authorization": "Bearer " + t["token"]}


def start_run(ctx, version, set_ref=None):
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/eval-runs",
                         {"set": set_ref if set_ref is not None else ctx.set_id,
                          "version": version, "no_model": True})
    check_eq(st, 202, "run: %r" % (j,))
    check(j["run"]["status"] in ("queued", "running", "done"), "status %r" % j["run"])
    check_eq(j["run"]["total"], len(CASES), "total")
    return j["run"]["id"]


def wait_run(ctx, run_id, timeout=30):
    deadline = time.time() + timeout
    seen = set()
    while time.time() < deadline:
        st, r = ctx.srv.json("GET", "/api/v1/agents/evalbot/eval-runs/%d" % run_id)
        check_eq(st, 200, "run get")
        check(0 <= r["done"] <= r["total"], "progress in range: %r" % r)
        seen.add(r["done"])
        if r["status"] not in ("queued", "running"):
            return r
        time.sleep(0.05)
    raise AssertionError("run %d did not end" % run_id)


@test
def eval_set_crud_and_validation(ctx):
    srv = ctx.srv
    st, j = srv.json("POST", "/api/v1/agents/evalbot/eval-sets",
                     {"name": "基础", "description": "柜面常见问题", "cases": CASES})
    check_eq(st, 201, "create: %r" % (j,))
    ctx.set_id = j["id"]
    check_eq(len(j["cases"]), len(CASES), "cases")
    check_eq(j["cases"][1]["expect"]["citations"], ["账户业务手册"], "expect kept")
    st, j = srv.json("POST", "/api/v1/agents/evalbot/eval-sets",
                     {"name": "基础", "cases": CASES})
    check_eq(st, 409, "duplicate name")
    st, j = srv.json("POST", "/api/v1/agents/evalbot/eval-sets",
                     {"name": "坏", "cases": [{"question": "q", "expect": {"keyword": ["a"]}}]})
    check_eq(st, 400, "unknown member")
    check("keyword" in j["error"]["message"], "message names it: %r" % j)
    st, j = srv.json("POST", "/api/v1/agents/evalbot/eval-sets",
                     {"name": "坏", "cases": [{"question": "q", "expect": {}}]})
    check_eq(st, 400, "no check")
    st, j = srv.json("POST", "/api/v1/agents/nobody/eval-sets", {"name": "x", "cases": CASES})
    check_eq(st, 404, "unknown agent")
    # a scratch set: replaced, then removed
    st, j = srv.json("POST", "/api/v1/agents/evalbot/eval-sets",
                     {"name": "临时", "cases": CASES[:1]})
    check_eq(st, 201, "scratch")
    sid = j["id"]
    st, j = srv.json("PUT", "/api/v1/agents/evalbot/eval-sets/%d" % sid,
                     {"cases": CASES[:2], "description": "两条"})
    check_eq(st, 200, "put")
    check_eq(len(j["cases"]), 2, "replaced")
    check_eq(j["description"], "两条", "description")
    st, j = srv.json("GET", "/api/v1/agents/evalbot/eval-sets")
    check_eq(st, 200, "list")
    check_eq(sorted(s["name"] for s in j["sets"]), sorted(["基础", "临时"]), "names")
    st, _, _ = srv.request("DELETE", "/api/v1/agents/evalbot/eval-sets/%d" % sid)
    check_eq(st, 204, "delete")
    st, j = srv.json("GET", "/api/v1/agents/evalbot/eval-sets/%d" % sid)
    check_eq(st, 404, "gone")


@test
def run_in_background_with_results(ctx):
    run_id = start_run(ctx, 1, "基础")  # by name
    r = wait_run(ctx, run_id)
    check_eq(r["status"], "done", "status: %r" % r)
    check_eq(r["done"], len(CASES), "done")
    check_eq(len(r["results"]), len(CASES), "results")
    by_q = {x["question"]: x for x in r["results"]}
    check(by_q["挂失止付的有效期是多久"]["passed"], "七日 found and cited: %r"
          % by_q["挂失止付的有效期是多久"])
    check(by_q["挂失止付的有效期是多久"]["citation_ok"] is True, "citation")
    check(by_q["今天天气怎么样"]["refusal_ok"] is True, "refused")
    s = r["scores"]
    for k in ("score", "pass_rate", "keyword_accuracy", "citation_accuracy",
              "refusal_accuracy", "latency_ms_p50", "latency_ms_p95", "cases", "passed"):
        check(k in s, "score member %s" % k)
    check(s["score"] >= 0.9, "v1 scores well: %r" % s)
    ctx.run_v1 = run_id
    st, j = ctx.srv.json("GET", "/api/v1/agents/evalbot/eval-runs")
    check_eq(st, 200, "runs")
    check(any(x["id"] == run_id for x in j["runs"]), "listed")


@test
def compare_two_versions(ctx):
    # version 2 without the KB: it knows nothing
    st, v = ctx.srv.json("POST", "/api/v1/agents/evalbot/versions",
                         {"spec": spec(ctx, []), "note": "没有知识库"})
    check_eq(st, 201, "version 2: %r" % (v,))
    run_id = start_run(ctx, 2)
    r = wait_run(ctx, run_id)
    check_eq(r["status"], "done", "status")
    check(r["scores"]["score"] < 0.5, "v2 scores badly: %r" % r["scores"])
    ctx.run_v2 = run_id
    st, c = ctx.srv.json("GET", "/api/v1/agents/evalbot/eval-compare?a=%d&b=%d"
                         % (ctx.run_v1, ctx.run_v2))
    check_eq(st, 200, "compare: %r" % (c,))
    check_eq(len(c["cases"]), len(CASES), "case by case")
    check(c["regressed"] >= 2, "regressions: %r" % c)
    check_eq(c["a"]["version"], 1, "a summary")
    check_eq(c["b"]["version"], 2, "b summary")
    for case in c["cases"]:
        check(case["change"] in ("improved", "regressed", "same"), "change")
        check("score" in case["a"] and "score" in case["b"], "both scores")
    st, c = ctx.srv.json("GET", "/api/v1/agents/evalbot/eval-compare?a=%d" % ctx.run_v1)
    check_eq(st, 400, "b missing")


@test
def cancel_a_run(ctx):
    run_id = start_run(ctx, 1)
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/eval-runs/%d/cancel" % run_id, {})
    check(st in (200, 409), "cancel: %d %r" % (st, j))
    r = wait_run(ctx, run_id)
    check(r["status"] in ("cancelled", "done"), "ended: %r" % r["status"])
    if st == 200:
        check_eq(r["status"], "cancelled", "cancelled")
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/eval-runs/%d/cancel" % run_id, {})
    check_eq(st, 409, "already ended")
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/eval-runs/999999/cancel", {})
    check_eq(st, 404, "unknown run")


@test
def quality_gate_blocks_then_allows(ctx):
    st, a = ctx.srv.json("PATCH", "/api/v1/agents/evalbot",
                         {"gate": {"set_id": ctx.set_id, "min_score": 0.9}})
    check_eq(st, 200, "gate: %r" % (a,))
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/versions/2/publish", {})
    check_eq(st, 409, "below the gate: %r" % (j,))
    check_eq(j["error"]["code"], "quality_gate", "code")
    st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/versions/1/publish", {})
    check_eq(st, 200, "above the gate: %r" % (j,))


@test
def analytics_count_the_days_questions(ctx):
    today = time.strftime("%Y-%m-%d")
    for qtext in ("存单遗失了怎么办", "挂失止付的有效期是多久", "今天天气怎么样"):
        st, j = ctx.srv.json("POST", "/api/v1/agents/evalbot/ask",
                             {"question": qtext, "no_model": True})
        check_eq(st, 200, "ask: %r" % (j,))
    st, u = ctx.srv.json("GET", "/api/v1/analytics/usage?from=%s&to=%s&agent=evalbot"
                         % (today, today))
    check_eq(st, 200, "usage: %r" % (u,))
    check_eq(len(u["series"]), 1, "one day")
    day = u["series"][0]
    check_eq(day["day"], today, "today")
    check_eq(day["questions"], 3, "the asks, not the evaluations' questions: %r" % day)
    check_eq(day["answered"] + day["unanswered"], 3, "answered + unanswered")
    check(day["answered"] >= 2, "answered: %r" % day)
    check_eq(u["totals"]["questions"], 3, "totals")
    check(abs(u["totals"]["person_days"] - day["answered"] * 6 / 480.0) < 1e-9, "person-days")
    st, u = ctx.srv.json("GET", "/api/v1/analytics/usage?from=%s&to=%s" % (today, today))
    check_eq(st, 200, "all")
    check(any(b["agent"] == "evalbot" for b in u["by_agent"]), "by agent")
    st, q = ctx.srv.json("GET", "/api/v1/analytics/unanswered?limit=5&agent=evalbot")
    check_eq(st, 200, "unanswered")
    check(any(x["question"] == "今天天气怎么样" for x in q["questions"]),
          "the unanswered question: %r" % q)
    st, j = ctx.srv.json("GET", "/api/v1/analytics/usage?from=2026-13-01&to=%s" % today)
    check_eq(st, 400, "bad date")
    st, j = ctx.srv.json("GET", "/api/v1/analytics/usage?agent=nobody")
    check_eq(st, 404, "unknown agent")


@test
def manage_permission_everywhere(ctx):
    h = ctx.clerk
    for method, path in (("GET", "/api/v1/agents/evalbot/eval-sets"),
                         ("POST", "/api/v1/agents/evalbot/eval-runs"),
                         ("GET", "/api/v1/agents/evalbot/eval-runs"),
                         ("GET", "/api/v1/agents/evalbot/eval-compare?a=1&b=2"),
                         ("GET", "/api/v1/analytics/usage"),
                         ("GET", "/api/v1/analytics/unanswered")):
        st, _ = ctx.srv.json(method, path, {} if method == "POST" else None, h)
        check_eq(st, 403, "%s %s" % (method, path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-eval-")
    ctx = Ctx()
    ctx.srv = None
    passed = failed = 0
    try:
        try:
            ctx.srv = base.Server(atrium, workdir, "eval", {
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
        if failed:
            print("logs kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("api-eval: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
