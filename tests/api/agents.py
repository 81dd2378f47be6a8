#!/usr/bin/env python3
"""Digital employees against a real `atrium serve`: a manager (agents.manage)
creates an agent, edits its draft, publishes it; the gallery of each user shows
exactly the published agents granted to them (all, an org subtree, a position,
a role, a user), an agent they may not use answers 404 like a missing one,
tellers get 403 on every admin route, a published version is immutable (409),
a bad spec is refused naming the member (400), rollback republishes an earlier
version, retiring takes the agent out of every gallery, and every change is in
the audit log. Prints "api-agents: N passed, N failed".

Usage: tests/api/agents.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (the Server class and helpers of the API suite)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "Branch#2026-ok"
check, check_eq, q = base.check, base.check_eq, base.q

USERS = {  # name: (org path or None, position or None, role or None)
    "pd_teller": ("恒远银行/上海分行/浦东支行", "柜员", None),
    "sh_manager": ("恒远银行/上海分行", "客户经理", None),
    "bj_teller": ("恒远银行/北京分行", "柜员", None),
    "risk_user": ("恒远银行/北京分行", None, "风控组"),
    "outsider": (None, None, None),
    "agent_mgr": (None, None, "agent_admin"),
    "auditor_u": (None, None, "auditor"),  # reads the audit log (not the admin: 三员分立)
}

SPEC = {
    "prompt": "你是柜面业务知识助手，只依据知识库回答。",
    "kbs": [],
    "tools": ["calculator", "workdays"],
    "opening": "您好，我是柜面业务知识助手。",
    "suggestions": ["开立个人账户需要什么材料？", "小额账户管理费怎么收？"],
    "max_steps": 4,
}

# agent name: (grant body, users who may use it once published)
AGENTS = {
    "counter": ({"subject_type": "position", "subject": "柜员"}, {"pd_teller", "bj_teller"}),
    "sh-rules": ({"subject": "org", "path": "恒远银行/上海分行"}, {"pd_teller", "sh_manager"}),
    "risk": ({"subject_type": "role", "subject": "风控组"}, {"risk_user"}),
    "one-user": ({"subject": "user", "name": "outsider"}, {"outsider"}),
    "everyone": ({"subject": "all"}, set(USERS)),
}


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


def gallery(ctx, user):
    st, j = jreq(ctx.srv, "GET", "/api/v1/agents", headers=as_user(ctx, user))
    check_eq(st, 200, "gallery of %s" % user)
    return {a["name"] for a in j["agents"]}


def setup(ctx):
    srv = ctx.srv
    st, root = jreq(srv, "POST", "/api/v1/orgs", {"name": "恒远银行"})
    check_eq(st, 201, "root org: %r" % (root,))
    ids = {"恒远银行": root["id"]}
    for path in ("恒远银行/上海分行", "恒远银行/上海分行/浦东支行", "恒远银行/北京分行"):
        parent, name = path.rsplit("/", 1)
        st, o = jreq(srv, "POST", "/api/v1/orgs", {"name": name, "parent": ids[parent]})
        check_eq(st, 201, "org %s: %r" % (path, o))
        ids[path] = o["id"]
    for pos in ("柜员", "客户经理"):
        st, _ = jreq(srv, "POST", "/api/v1/positions", {"name": pos})
        check_eq(st, 201, "position %s" % pos)
    st, r = jreq(srv, "POST", "/api/v1/roles", {"name": "风控组", "perms": []})
    check_eq(st, 201, "role: %r" % (r,))
    ctx.tokens = {}
    for user, (org, pos, role) in USERS.items():
        st, u = jreq(srv, "POST", "/api/v1/users",
                     {"username": user, "password": PASSWORD, "display_name": user})
        check_eq(st, 201, "user %s: %r" % (user, u))
        if org:
            st, _ = jreq(srv, "POST", "/api/v1/orgs/%d/members" % ids[org], {"user": user})
            check_eq(st, 201, "member %s" % user)
        if pos:
            st, _ = jreq(srv, "POST", "/api/v1/users/%s/positions" % user, {"position": pos})
            check_eq(st, 201, "position of %s" % user)
        if role:
            st, x = jreq(srv, "POST", "/api/v1/users/%s/roles" % user, {"role": role})
            check_eq(st, 201, "role of %s: %r" % (user, x))
        if role == "auditor":  # the admin may not mint an auditor's token: the CLI does
            p = subprocess.run([srv.atrium, "--data", srv.data, "token", "create", user,
                                "--name", "agents"], capture_output=True, text=True, env=srv.env)
            check_eq(p.returncode, 0, "token of %s: %s" % (user, p.stderr))
            ctx.tokens[user] = p.stdout.strip().splitlines()[-1]
            continue
        st, t = jreq(srv, "POST", "/api/v1/users/%s/tokens" % user, {"name": "agents"})
        check_eq(st, 201, "token of %s" % user)
        ctx.tokens[user] = t["token"]


@test
def manager_creates_edits_publishes(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    st, a = jreq(srv, "POST", "/api/v1/agents",
                 {"name": "counter", "title": "柜面业务知识助手", "avatar": "🏦",
                  "description": "柜面业务问答", "domain": "运营", "minutes_saved": 6,
                  "spec": SPEC}, mgr)
    check_eq(st, 201, "create: %r" % (a,))
    check_eq((a["name"], a["status"], a["published_version"]), ("counter", "draft", 0), "new")
    check_eq([(v["version"], v["status"]) for v in a["versions"]], [(1, "draft")], "versions")
    check_eq(a["versions"][0]["spec"]["max_seconds"], 60, "defaults written out")
    ctx.counter_id = a["id"]
    st, j = jreq(srv, "POST", "/api/v1/agents", {"name": "counter", "title": "x"}, mgr)
    check_eq(st, 409, "duplicate name: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agents", {"name": "Bad Name", "title": "x"}, mgr)
    check_eq(st, 400, "bad name")
    st, j = jreq(srv, "POST", "/api/v1/agents", {"name": "nospec", "title": "x",
                                                  "spec": {"tols": []}}, mgr)
    check_eq(st, 400, "unknown spec member")
    check("tols" in j["error"]["message"], "member named: %r" % j)
    st, j = jreq(srv, "POST", "/api/v1/agents", {"name": "nospec", "title": "x",
                                                  "spec": {"max_steps": 50}}, mgr)
    check_eq(st, 400, "max_steps range")
    check("max_steps" in j["error"]["message"], "member named: %r" % j)
    # the draft changes; a bad spec does not
    spec2 = dict(SPEC, prompt="你是柜面助手（修订）")
    st, v = jreq(srv, "PATCH", "/api/v1/agents/counter/versions/1",
                 {"spec": spec2, "note": "修订提示词"}, mgr)
    check_eq(st, 200, "edit draft: %r" % (v,))
    check_eq((v["spec"]["prompt"], v["note"]), ("你是柜面助手（修订）", "修订提示词"), "edited")
    st, j = jreq(srv, "PATCH", "/api/v1/agents/counter/versions/1",
                 {"spec": dict(SPEC, tools=["shell"])}, mgr)
    check_eq(st, 400, "unknown tool: %r" % (j,))
    check("tools[0]" in j["error"]["message"], "member named: %r" % j)
    st, j = jreq(srv, "PATCH", "/api/v1/agents/counter/versions/9", {"note": "x"}, mgr)
    check_eq(st, 404, "missing version")
    # not in any gallery before it is published, even with a grant
    st, g = jreq(srv, "POST", "/api/v1/agents/counter/acl", AGENTS["counter"][0], mgr)
    check_eq(st, 201, "grant: %r" % (g,))
    check("counter" not in gallery(ctx, "pd_teller"), "draft hidden from the teller")
    st, _ = jreq(srv, "GET", "/api/v1/agents/counter", headers=as_user(ctx, "pd_teller"))
    check_eq(st, 404, "draft is 404 to the teller")
    st, a = jreq(srv, "POST", "/api/v1/agents/counter/versions/1/publish", {}, mgr)
    check_eq(st, 200, "publish: %r" % (a,))
    check_eq((a["status"], a["published_version"]), ("published", 1), "published")


@test
def published_version_is_immutable(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    st, j = jreq(srv, "PATCH", "/api/v1/agents/counter/versions/1", {"note": "late"}, mgr)
    check_eq(st, 409, "edit published: %r" % (j,))
    check("immutable" in j["error"]["message"], "message: %r" % j)
    st, j = jreq(srv, "POST", "/api/v1/agents/counter/versions/1/publish", {}, mgr)
    check_eq(st, 409, "publish again")
    st, v = jreq(srv, "GET", "/api/v1/agents/counter/versions/1", headers=mgr)
    check_eq((st, v["spec"]["prompt"]), (200, "你是柜面助手（修订）"), "unchanged")


@test
def gallery_matrix(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    for name, (grant, _) in AGENTS.items():
        if name == "counter":
            continue
        st, a = jreq(srv, "POST", "/api/v1/agents",
                     {"name": name, "title": name, "domain": "合规", "spec": SPEC}, mgr)
        check_eq(st, 201, "create %s: %r" % (name, a))
        st, g = jreq(srv, "POST", "/api/v1/agents/%s/acl" % name, grant, mgr)
        check_eq(st, 201, "grant %s: %r" % (name, g))
        st, a = jreq(srv, "POST", "/api/v1/agents/%s/versions/1/publish" % name, {}, mgr)
        check_eq(st, 200, "publish %s" % name)
    # a granted draft stays hidden
    st, _ = jreq(srv, "POST", "/api/v1/agents",
                 {"name": "hidden-draft", "title": "草稿"}, mgr)
    check_eq(st, 201, "draft agent")
    st, _ = jreq(srv, "POST", "/api/v1/agents/hidden-draft/acl", {"subject": "all"}, mgr)
    check_eq(st, 201, "grant all on draft")
    for user in USERS:
        want = {n for n, (_, users) in AGENTS.items() if user in users}
        if user == "agent_mgr":
            want = set(AGENTS)  # managers may use every published agent
        check_eq(gallery(ctx, user), want, "gallery of %s" % user)
        for name in list(AGENTS) + ["hidden-draft", "no-such-agent"]:
            st, j = jreq(srv, "GET", "/api/v1/agents/" + q(name), headers=as_user(ctx, user))
            expect = 200 if name in want or user == "agent_mgr" and name != "no-such-agent" else 404
            check_eq(st, expect, "%s GET %s: %r" % (user, name, j))
            if st == 404:
                check_eq(j["error"]["code"], "not_found", "same 404 as a missing agent")
    # the gallery carries the opening and suggestions; a user sees no versions
    st, j = jreq(srv, "GET", "/api/v1/agents", headers=as_user(ctx, "pd_teller"))
    c = [a for a in j["agents"] if a["name"] == "counter"][0]
    check_eq(c["opening"], SPEC["opening"], "opening")
    check_eq(c["suggestions"], SPEC["suggestions"], "suggestions")
    st, a = jreq(srv, "GET", "/api/v1/agents/counter", headers=as_user(ctx, "pd_teller"))
    check("versions" not in a and "acl" not in a, "no versions for a user: %r" % a)
    st, a = jreq(srv, "GET", "/api/v1/agents/%d" % ctx.counter_id, headers=mgr)
    check_eq((st, a["name"]), (200, "counter"), "by id")
    check("versions" in a and "acl" in a, "manager sees versions and grants")
    # ?all=1: managers only
    st, j = jreq(srv, "GET", "/api/v1/agents?all=1", headers=mgr)
    check_eq(st, 200, "all")
    check("hidden-draft" in {a["name"] for a in j["agents"]}, "all lists drafts")
    st, _ = jreq(srv, "GET", "/api/v1/agents?all=1", headers=as_user(ctx, "pd_teller"))
    check_eq(st, 403, "all for a teller")


@test
def teller_forbidden_on_admin_routes(ctx):
    srv, t = ctx.srv, as_user(ctx, "pd_teller")
    routes = [("POST", "/api/v1/agents", {"name": "mine", "title": "x"}),
              ("PATCH", "/api/v1/agents/counter", {"title": "x"}),
              ("DELETE", "/api/v1/agents/counter", None),
              ("GET", "/api/v1/agents/counter/versions", None),
              ("POST", "/api/v1/agents/counter/versions", {}),
              ("GET", "/api/v1/agents/counter/versions/1", None),
              ("PATCH", "/api/v1/agents/counter/versions/1", {"note": "x"}),
              ("POST", "/api/v1/agents/counter/versions/1/publish", {}),
              ("POST", "/api/v1/agents/counter/rollback", {"version": 1}),
              ("POST", "/api/v1/agents/counter/retire", {}),
              ("GET", "/api/v1/agents/counter/acl", None),
              ("POST", "/api/v1/agents/counter/acl", {"subject": "all"}),
              ("DELETE", "/api/v1/agents/counter/acl/1", None)]
    for method, path, body in routes:
        st, j = jreq(srv, method, path, body, t)
        check_eq(st, 403, "%s %s: %r" % (method, path, j))
    st, a = jreq(srv, "GET", "/api/v1/agents/counter", headers=as_user(ctx, "agent_mgr"))
    check_eq((a["title"], a["status"]), ("柜面业务知识助手", "published"), "nothing changed")


@test
def update_and_grants(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    st, a = jreq(srv, "PATCH", "/api/v1/agents/counter",
                 {"title": "柜面助手", "minutes_saved": 8}, mgr)
    check_eq((st, a["title"], a["minutes_saved"]), (200, "柜面助手", 8), "patch: %r" % (a,))
    st, j = jreq(srv, "PATCH", "/api/v1/agents/counter", {"minutes_saved": "many"}, mgr)
    check_eq(st, 400, "bad minutes")
    st, j = jreq(srv, "PATCH", "/api/v1/agents/counter", {"gate": {"set_id": 999, "min_score": 0.8}},
                 mgr)
    check_eq(st, 400, "gate set of another agent: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agents/counter/acl",
                 {"subject_type": "org", "subject": "恒远银行/没有这个"}, mgr)
    check_eq(st, 404, "unknown org: %r" % (j,))
    st, j = jreq(srv, "POST", "/api/v1/agents/counter/acl", {"subject_type": "group"}, mgr)
    check_eq(st, 400, "bad subject type")
    # a user grant, then revoked
    st, g = jreq(srv, "POST", "/api/v1/agents/counter/acl",
                 {"subject_type": "user", "subject": "outsider"}, mgr)
    check_eq(st, 201, "grant outsider")
    check("counter" in gallery(ctx, "outsider"), "granted")
    st, _ = jreq(srv, "DELETE", "/api/v1/agents/counter/acl/%d" % g["id"], headers=mgr)
    check_eq(st, 204, "revoke")
    st, _ = jreq(srv, "DELETE", "/api/v1/agents/counter/acl/%d" % g["id"], headers=mgr)
    check_eq(st, 404, "revoke twice")
    check("counter" not in gallery(ctx, "outsider"), "revoked")
    st, j = jreq(srv, "GET", "/api/v1/agents/counter/acl", headers=mgr)
    check_eq([(x["subject_type"], x["subject"]) for x in j["grants"]], [("position", "柜员")],
             "grants")


@test
def new_version_rollback_retire(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    st, v = jreq(srv, "POST", "/api/v1/agents/counter/versions", {"note": "第二版"}, mgr)
    check_eq((st, v["version"], v["status"]), (201, 2, "draft"), "copy: %r" % (v,))
    check_eq(v["spec"]["prompt"], "你是柜面助手（修订）", "a copy of the latest")
    st, v = jreq(srv, "POST", "/api/v1/agents/counter/versions",
                 {"spec": dict(SPEC, prompt="第三版")}, mgr)
    check_eq((st, v["version"]), (201, 3), "new spec")
    st, j = jreq(srv, "POST", "/api/v1/agents/counter/versions", {"from": 99}, mgr)
    check_eq(st, 404, "from a missing version")
    st, a = jreq(srv, "POST", "/api/v1/agents/counter/versions/3/publish", {}, mgr)
    check_eq((st, a["published_version"]), (200, 3), "publish 3")
    st, j = jreq(srv, "GET", "/api/v1/agents/counter/versions", headers=mgr)
    check_eq([(v["version"], v["status"]) for v in j["versions"]],
             [(3, "published"), (2, "draft"), (1, "retired")], "statuses")
    st, j = jreq(srv, "POST", "/api/v1/agents/counter/rollback", {"version": 2}, mgr)
    check_eq(st, 400, "rollback to a draft: %r" % (j,))
    st, a = jreq(srv, "POST", "/api/v1/agents/counter/rollback", {"version": 1}, mgr)
    check_eq((st, a["published_version"], a["status"]), (200, 1, "published"), "rollback")
    check_eq([(v["version"], v["status"]) for v in a["versions"]],
             [(3, "retired"), (2, "draft"), (1, "published")], "after rollback")
    check("counter" in gallery(ctx, "pd_teller"), "still in the gallery")
    st, a = jreq(srv, "POST", "/api/v1/agents/counter/retire", {}, mgr)
    check_eq((st, a["status"], a["published_version"]), (200, "retired", 0), "retire")
    for user in ("pd_teller", "bj_teller"):
        check("counter" not in gallery(ctx, user), "retired: gone for %s" % user)
        st, _ = jreq(srv, "GET", "/api/v1/agents/counter", headers=as_user(ctx, user))
        check_eq(st, 404, "retired: 404 for %s" % user)
    st, a = jreq(srv, "GET", "/api/v1/agents/counter", headers=mgr)
    check_eq((st, a["status"]), (200, "retired"), "managers still see it")
    st, a = jreq(srv, "POST", "/api/v1/agents/counter/rollback", {"version": 3}, mgr)
    check_eq((st, a["published_version"]), (200, 3), "rollback brings it back")
    check("counter" in gallery(ctx, "pd_teller"), "back in the gallery")


@test
def delete_and_audit(ctx):
    srv, mgr = ctx.srv, as_user(ctx, "agent_mgr")
    st, _ = jreq(srv, "DELETE", "/api/v1/agents/one-user", headers=mgr)
    check_eq(st, 204, "delete")
    st, _ = jreq(srv, "GET", "/api/v1/agents/one-user", headers=mgr)
    check_eq(st, 404, "deleted")
    check("one-user" not in gallery(ctx, "outsider"), "gone from the gallery")
    st, j = jreq(srv, "GET", "/api/v1/audit?action=agent.&limit=1000",
                 headers=as_user(ctx, "auditor_u"))
    check_eq(st, 200, "audit: %r" % (j,))
    entries = j.get("entries", j.get("items", []))
    actions = {e["action"] for e in entries}
    for want in ("agent.create", "agent.update", "agent.version_new", "agent.version_update",
                 "agent.publish", "agent.rollback", "agent.retire", "agent.grant",
                 "agent.revoke", "agent.delete"):
        check(want in actions, "audited %s: %r" % (want, sorted(actions)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-agents-")
    passed = failed = 0
    ctx = Ctx()
    ctx.srv = None
    try:
        try:
            ctx.srv = base.Server(atrium, workdir, "agents", {}, 20)
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
    print("api-agents: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
