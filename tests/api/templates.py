#!/usr/bin/env python3
"""Built-in digital-employee templates against a real `atrium serve`: a manager
(agents.manage, without kb.admin) lists the 12 templates, installs one (201:
the agent as a version-1 draft, its demo KB that only the installer may read,
its eval set and gate), installs it again under another name (the identical
demo KB is reused), gets 409 / 404 / 400 for a taken name, an unknown template
and a bad name; publishing is refused by the gate until an eval run without a
model passes it; tellers get 403 on every template route; each install is in
the audit log. Prints "api-templates: N passed, N failed".

Usage: tests/api/templates.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (the Server class and helpers of the API suite)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "Branch#2026-ok"
check, check_eq = base.check, base.check_eq


class Ctx:
    pass


TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def as_user(ctx, user):
    return {"Authorization": "Bearer " + ctx.tokens[user]}


def jreq(srv, method, path, body=None, headers=None):
    return srv.json(method, path, body, headers)


def setup(ctx):
    srv = ctx.srv
    ctx.tokens = {}
    for user, role in (("tpl_mgr", "agent_admin"), ("teller", None)):
        st, u = jreq(srv, "POST", "/api/v1/users",
                     {"username": user, "password": PASSWORD, "display_name": user})
        check_eq(st, 201, "user %s: %r" % (user, u))
        if role:
            st, x = jreq(srv, "POST", "/api/v1/users/%s/roles" % user, {"role": role})
            check_eq(st, 201, "role of %s: %r" % (user, x))
        st, t = jreq(srv, "POST", "/api/v1/users/%s/tokens" % user, {"name": "tpl"})
        check_eq(st, 201, "token of %s" % user)
        ctx.tokens[user] = t["token"]


@test
def list_and_get(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "tpl_mgr")
    st, j = jreq(srv, "GET", "/api/v1/agent-templates", headers=mgr)
    check_eq(st, 200, "list: %r" % (j,))
    ts = j["templates"]
    check(len(ts) >= 12, "12 templates: %d" % len(ts))
    domains = {}
    for t in ts:
        domains[t["domain"]] = domains.get(t["domain"], 0) + 1
        check(t["cases"] >= 6, "cases of %s" % t["name"])
        check("kb_search" in t["tools"], "kb_search in %s" % t["name"])
        check(all("示例" in d["title"] for d in t["documents"]), "demo titles of %s" % t["name"])
    check_eq(sorted(domains), sorted(["运营", "风控", "信贷", "合规", "客服/营销", "办公"]), "domains")
    check(all(n >= 2 for n in domains.values()), "two per domain: %r" % domains)
    st, t = jreq(srv, "GET", "/api/v1/agent-templates/doc-writing", headers=mgr)
    check_eq(st, 200, "get")
    check_eq(t["title"], "公文写作助手", "title")
    check("kbs" not in t["spec"] and t["spec"]["prompt"], "spec without kbs")
    check(any(c["expect"].get("refuse") for c in t["eval"]["cases"]), "a refusal case")
    st, j = jreq(srv, "GET", "/api/v1/agent-templates/no-such", headers=mgr)
    check_eq(st, 404, "unknown template: %r" % (j,))


@test
def install_and_reuse(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "tpl_mgr")
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/counter-qa/install", None, mgr)
    check_eq(st, 201, "install: %r" % (j,))
    a = j["agent"]
    check_eq((a["name"], a["status"], a["version"], a["template"]),
             ("counter-qa", "draft", 1, "counter-qa"), "agent")
    check_eq(a["gate"]["set_id"], j["eval_set"]["id"], "gate set")
    check(abs(a["gate"]["min_score"] - 0.8) < 1e-9, "gate score")
    check(j["eval_set"]["cases"] >= 6, "eval set cases")
    check_eq(j["kb_reused"], False, "new KB")
    kb = j["kbs"][0]
    check_eq((kb["name"], kb["access"]), ("示例-柜面业务知识助手", "admin"), "the installer's KB")
    ctx.kb_id = kb["id"]
    st, v = jreq(srv, "GET", "/api/v1/agents/counter-qa/versions/1", headers=mgr)
    check_eq((st, v["spec"]["kbs"]), (200, [kb["id"]]), "spec.kbs")
    # nobody else was granted the KB
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % kb["id"], headers=as_user(ctx, "teller"))
    check_eq(st, 404, "the teller may not read the demo KB")
    st, g = jreq(srv, "GET", "/api/v1/kbs/%d/acl" % kb["id"], headers=mgr)
    check_eq(st, 200, "acl: %r" % (g,))
    check_eq(len(g["grants"]), 1, "one grant: %r" % (g,))
    # again: the name is taken; under another name the KB is reused
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/counter-qa/install", {}, mgr)
    check_eq((st, j["error"]["code"]), (409, "conflict"), "taken name: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/counter-qa/install", {"name": "counter"}, mgr)
    check_eq(st, 201, "second install: %r" % (j,))
    check_eq((j["kb_reused"], j["kbs"][0]["id"]), (True, kb["id"]), "reused")
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/no-such/install", {}, mgr)
    check_eq(st, 404, "unknown template")
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/counter-qa/install", {"name": "Bad Name"},
                 mgr)
    check_eq(st, 400, "bad name: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agent-templates/counter-qa/install", {"name": 7}, mgr)
    check_eq(st, 400, "name not a string")


@test
def gate_then_publish(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "tpl_mgr")
    st, j = jreq(srv, "POST", "/api/v1/agents/counter-qa/versions/1/publish", {}, mgr)
    check_eq((st, j["error"]["code"]), (409, "quality_gate"), "gate first: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agents/counter-qa/eval-runs",
                 {"set": "示例评测集", "version": 1, "no_model": True}, mgr)
    check_eq(st, 202, "run: %r" % (j,))
    run = j["run"]["id"]
    deadline = time.time() + 30
    while True:
        st, r = jreq(srv, "GET", "/api/v1/agents/counter-qa/eval-runs/%d" % run, headers=mgr)
        check_eq(st, 200, "run status")
        if r["status"] in ("done", "failed", "cancelled") or time.time() > deadline:
            break
        time.sleep(0.2)
    check_eq(r["status"], "done", "run finished: %r" % (r,))
    check(r["scores"]["score"] >= 0.8, "meets the gate: %r" % (r["scores"],))
    st, a = jreq(srv, "POST", "/api/v1/agents/counter-qa/versions/1/publish", {}, mgr)
    check_eq((st, a["status"], a["published_version"]), (200, "published", 1), "published")


@test
def teller_forbidden(ctx):
    srv, t = ctx.srv, as_user(ctx, "teller")
    for method, path, body in (("GET", "/api/v1/agent-templates", None),
                               ("GET", "/api/v1/agent-templates/counter-qa", None),
                               ("POST", "/api/v1/agent-templates/counter-qa/install",
                                {"name": "mine"})):
        st, j = jreq(srv, method, path, body, t)
        check_eq(st, 403, "%s %s: %r" % (method, path, j))


@test
def installs_are_audited(ctx):
    srv = ctx.srv
    p = subprocess.run([srv.atrium, "--data", srv.data, "--json", "audit", "list", "--action",
                        "agent.install"], capture_output=True, text=True, env=srv.env)
    check_eq(p.returncode, 0, "audit list: %s" % p.stderr)
    entries = json.loads(p.stdout)
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    check_eq(len(entries), 2, "two installs audited: %r" % (entries,))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-templates-")
    passed = failed = 0
    ctx = Ctx()
    ctx.srv = None
    try:
        try:
            ctx.srv = base.Server(atrium, workdir, "templates", {}, 20)
            setup(ctx)
            passed += 1
            print("ok   setup")
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL setup")
            traceback.print_exc(limit=5, file=sys.stdout)
        if failed == 0:
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
    print("api-templates: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
