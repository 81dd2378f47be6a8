#!/usr/bin/env python3
"""Identity and permissions against a real `atrium serve`: the permission
matrix (5 orgs in a tree, 3 positions, 6 users, 5 KBs granted to an org
subtree, a position, one user, a personal KB and nobody; every user x KB x
search / ask / citation / document list / download / KB list answers exactly
what the grant allows, and a refusal looks exactly like a KB that does not
exist), then sign-in behaviour: lockout, CSRF, session idle and absolute
expiry, logout, token revocation and expiry, disabled users, permissions of
admin routes, the audit trail of what was shown, and a burst of sign-ins that
must not stall searches. Prints "api-acl: N passed, N failed".

Usage: tests/api/acl.py [--atrium build/atrium] [--filter NAME]
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (the Server class and helpers of the API suite)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "Branch#2026-ok"
check, check_eq, q = base.check, base.check_eq, base.q

# Each KB holds one document with a phrase no other KB has.
MARKERS = {
    "kb_sh": "黄浦江畔营业网点晨会制度",
    "kb_teller": "尾箱交接必须双人核对签章",
    "kb_single": "总行运营风险月报编制口径",
    "kb_personal": "个人学习笔记摘录整理",
    "kb_none": "绝密应急预案演练安排",
}

USERS = {  # name: (org path or None, position or None)
    "pd_teller": ("恒远银行/上海分行/浦东支行", "柜员"),
    "sh_manager": ("恒远银行/上海分行", "客户经理"),
    "bj_teller": ("恒远银行/北京分行", "柜员"),
    "bj_ops": ("恒远银行/北京分行", "运营主管"),
    "hq_ops": ("恒远银行/总行运营部", "运营主管"),
    "outsider": (None, None),
}

# What each user may read, derived by hand from the grants below:
# kb_sh → org 上海分行 (subtree: 浦东支行 too); kb_teller → position 柜员;
# kb_single → user hq_ops (write); kb_personal → owner bj_ops; kb_none → nobody.
EXPECTED = {
    "pd_teller": {"kb_sh", "kb_teller"},
    "sh_manager": {"kb_sh"},
    "bj_teller": {"kb_teller"},
    "bj_ops": {"kb_personal"},
    "hq_ops": {"kb_single"},
    "outsider": set(),
}


class Ctx:
    pass


TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def as_user(ctx, user):
    return {"Authorization": "Bearer " + ctx.tokens[user]}


def jreq(srv, method, path, body=None, headers=None, auth=True):
    return srv.json(method, path, body, headers, auth=auth)


def wait_job(srv, kb, job_id, headers=None, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, j = jreq(srv, "GET", "/api/v1/kbs/%s/jobs/%d" % (q(str(kb)), job_id), headers=headers)
        check_eq(st, 200, "job status")
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.05)
    raise AssertionError("job %d did not finish" % job_id)


def upload_doc(srv, kb, name, text, headers=None):
    body, ctype = base.multipart([(name, text.encode("utf-8"))])
    h = dict(headers or {}, **{"Content-Type": ctype})
    st, j = jreq(srv, "POST", "/api/v1/kbs/%s/documents" % q(str(kb)), body, h)
    check_eq(st, 202, "upload: %r" % (j,))
    job = wait_job(srv, kb, j["jobs"][0]["id"], headers)
    check_eq(job["status"], "done", "ingest")


def login(srv, user, password=PASSWORD):
    """Returns (status, body, cookie value or None)."""
    st, h, data = srv.request("POST", "/api/v1/auth/login",
                              {"username": user, "password": password}, auth=False)
    cookie = None
    sc = h.get("set-cookie", "")
    if sc.startswith("atrium_session="):
        cookie = sc.split(";")[0].split("=", 1)[1]
    return st, json.loads(data.decode("utf-8")) if data else None, cookie


def cookie_headers(cookie, csrf=None):
    h = {"Cookie": "atrium_session=" + cookie}
    if csrf:
        h["X-CSRF-Token"] = csrf
    return h


def setup(ctx):
    srv = ctx.srv
    # org tree
    st, root = jreq(srv, "POST", "/api/v1/orgs", {"name": "恒远银行"})
    check_eq(st, 201, "root org: %r" % (root,))
    ids = {"恒远银行": root["id"]}
    for path in ("恒远银行/上海分行", "恒远银行/上海分行/浦东支行", "恒远银行/北京分行",
                 "恒远银行/总行运营部"):
        parent, name = path.rsplit("/", 1)
        st, o = jreq(srv, "POST", "/api/v1/orgs", {"name": name, "parent": ids[parent]})
        check_eq(st, 201, "org %s: %r" % (path, o))
        ids[path] = o["id"]
    ctx.orgs = ids
    for pos in ("柜员", "运营主管", "客户经理"):
        st, p = jreq(srv, "POST", "/api/v1/positions", {"name": pos})
        check_eq(st, 201, "position %s" % pos)
    # users, memberships, tokens
    ctx.tokens = {}
    for user, (org, pos) in USERS.items():
        st, u = jreq(srv, "POST", "/api/v1/users",
                     {"username": user, "password": PASSWORD, "display_name": user})
        check_eq(st, 201, "user %s: %r" % (user, u))
        if org:
            st, _ = jreq(srv, "POST", "/api/v1/orgs/%d/members" % ids[org], {"user": user})
            check_eq(st, 201, "member %s" % user)
        if pos:
            st, _ = jreq(srv, "POST", "/api/v1/users/%s/positions" % user, {"position": pos})
            check_eq(st, 201, "position of %s" % user)
        st, t = jreq(srv, "POST", "/api/v1/users/%s/tokens" % user, {"name": "matrix"})
        check_eq(st, 201, "token of %s" % user)
        ctx.tokens[user] = t["token"]
    # KBs and grants
    ctx.kbs = {}
    for kb in ("kb_sh", "kb_teller", "kb_single", "kb_none"):
        st, k = jreq(srv, "POST", "/api/v1/kbs", {"name": kb})
        check_eq(st, 201, "kb %s: %r" % (kb, k))
        ctx.kbs[kb] = k["id"]
    grants = [("kb_sh", "org", "恒远银行/上海分行", "read"),
              ("kb_teller", "position", "柜员", "read"),
              ("kb_single", "user", "hq_ops", "write")]
    for kb, stype, subj, level in grants:
        st, g = jreq(srv, "POST", "/api/v1/kbs/%s/acl" % kb,
                     {"subject_type": stype, "subject": subj, "level": level})
        check_eq(st, 201, "grant on %s: %r" % (kb, g))
    # the personal KB: made by its owner, through a browser session
    st, body, cookie = login(srv, "bj_ops")
    check_eq(st, 200, "bj_ops login: %r" % (body,))
    st, k = jreq(srv, "POST", "/api/v1/kbs", {"name": "kb_personal", "kind": "personal"},
                 cookie_headers(cookie, body["csrf_token"]), auth=False)
    check_eq(st, 201, "personal kb: %r" % (k,))
    ctx.kbs["kb_personal"] = k["id"]
    # one document each
    ctx.docs = {}
    for kb, marker in MARKERS.items():
        text = "# %s 规定\n\n第一条 %s，各机构应当遵照执行。\n\n第二条 本规定自发布之日起施行。\n" % (
            kb, marker)
        h = as_user(ctx, "bj_ops") if kb == "kb_personal" else None
        upload_doc(srv, ctx.kbs[kb], kb + ".md", text, h)
        ctx.docs[kb] = text.encode("utf-8")
    # ids of each KB's document and chunks, seen by someone who may read it
    ctx.doc_ids, ctx.chunk_ids = {}, {}
    for kb in MARKERS:
        h = as_user(ctx, "bj_ops") if kb == "kb_personal" else None
        st, d = jreq(srv, "GET", "/api/v1/kbs/%d/documents" % ctx.kbs[kb], headers=h)
        check_eq(st, 200, "docs of %s" % kb)
        ctx.doc_ids[kb] = d["documents"][0]["id"]
        st, s = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs[kb],
                     {"query": MARKERS[kb]}, h)
        check_eq(st, 200, "search of %s" % kb)
        ctx.chunk_ids[kb] = s["hits"][0]["chunk_id"]


@test
def matrix_every_user_every_kb(ctx):
    srv = ctx.srv
    st, missing = jreq(srv, "GET", "/api/v1/kbs/999999", headers=as_user(ctx, "outsider"))
    check_eq(st, 404, "unknown kb")
    cells = 0
    for user, allowed in EXPECTED.items():
        h = as_user(ctx, user)
        st, lst = jreq(srv, "GET", "/api/v1/kbs", headers=h)
        check_eq(st, 200, "list for %s" % user)
        check_eq({k["name"] for k in lst["kbs"]}, allowed, "KBs listed for %s" % user)
        for kb, kid in ctx.kbs.items():
            ok = kb in allowed
            want = 200 if ok else 404
            where = "%s on %s" % (user, kb)
            for ref in (str(kid), q(kb)):
                st, j = jreq(srv, "GET", "/api/v1/kbs/%s" % ref, headers=h)
                # a personal KB is found by name only by its owner
                exp = want if (ref == str(kid) or kb != "kb_personal" or ok) else 404
                check_eq(st, exp, "get %s (%s)" % (where, ref))
                if st == 404:
                    check_eq(j, missing, "a refusal looks like a missing KB (%s)" % where)
            st, s = jreq(srv, "POST", "/api/v1/kbs/%d/search" % kid, {"query": MARKERS[kb]}, h)
            check_eq(st, want, "search " + where)
            if ok:
                check(s["hits"] and MARKERS[kb] in s["hits"][0]["text"], "hit " + where)
                check(all(x["chunk_id"] == ctx.chunk_ids[kb] or x["doc_id"] == ctx.doc_ids[kb]
                          for x in s["hits"]), "hits only from %s" % kb)
            else:
                check_eq(s, missing, "search refusal body " + where)
            st, a = jreq(srv, "POST", "/api/v1/kbs/%d/ask" % kid,
                         {"question": MARKERS[kb] + "是什么规定"}, h)
            check_eq(st, want, "ask " + where)
            if ok:
                check(a["citations"], "citations " + where)
                check(all(c["chunk_id"] == ctx.chunk_ids[kb] or c["doc_name"] == kb + ".md"
                          for c in a["citations"]), "citations only from %s" % kb)
            st, c = jreq(srv, "GET", "/api/v1/kbs/%d/chunks/%d" % (kid, ctx.chunk_ids[kb]),
                         headers=h)
            check_eq(st, want, "citation " + where)
            if ok:
                check(MARKERS[kb] in c["text"], "citation text " + where)
            st, d = jreq(srv, "GET", "/api/v1/kbs/%d/documents" % kid, headers=h)
            check_eq(st, want, "documents " + where)
            if ok:
                check_eq([x["name"] for x in d["documents"]], [kb + ".md"], "docs " + where)
            st, d = jreq(srv, "GET", "/api/v1/kbs/%d/documents/%d" % (kid, ctx.doc_ids[kb]),
                         headers=h)
            check_eq(st, want, "document " + where)
            st, hd, data = srv.request("GET", "/api/v1/kbs/%d/documents/%d/content" %
                                       (kid, ctx.doc_ids[kb]), headers=h)
            check_eq(st, want, "download " + where)
            if ok:
                check_eq(data, ctx.docs[kb], "downloaded bytes " + where)
                check("attachment" in hd.get("content-disposition", ""), "attachment")
            st, t = jreq(srv, "GET", "/api/v1/kbs/%d/documents/%d/chunks" %
                         (kid, ctx.doc_ids[kb]), headers=h)
            check_eq(st, want, "article text " + where)
            if ok:
                check(any(MARKERS[kb] in x["text"] for x in t["chunks"]),
                      "article text has the marker " + where)
                check_eq([x["ord"] for x in t["chunks"]], sorted(x["ord"] for x in t["chunks"]),
                         "chunks in order " + where)
            cells += 1
    check_eq(cells, 30, "cells checked")


@test
def no_crossing_between_kbs(ctx):
    # A readable KB in the path does not open another KB's chunk or document.
    srv, h = ctx.srv, as_user(ctx, "pd_teller")
    sh = ctx.kbs["kb_sh"]
    for kb in ("kb_none", "kb_single", "kb_personal", "kb_teller"):
        st, _ = jreq(srv, "GET", "/api/v1/kbs/%d/chunks/%d" % (sh, ctx.chunk_ids[kb]), headers=h)
        check_eq(st, 404, "chunk of %s through kb_sh" % kb)
        st, _ = jreq(srv, "GET", "/api/v1/kbs/%d/documents/%d/content" % (sh, ctx.doc_ids[kb]),
                     headers=h)
        check_eq(st, 404, "file of %s through kb_sh" % kb)
        st, _ = jreq(srv, "GET", "/api/v1/kbs/%d/documents/%d/chunks" % (sh, ctx.doc_ids[kb]),
                     headers=h)
        check_eq(st, 404, "text of %s through kb_sh" % kb)
    # and a search never returns another KB's text, even for its marker
    st, s = jreq(srv, "POST", "/api/v1/kbs/%d/search" % sh, {"query": MARKERS["kb_none"]}, h)
    check_eq(st, 200, "search")
    check(all(MARKERS["kb_none"] not in x["text"] for x in s["hits"]), "no foreign text")


@test
def write_needs_write_level(ctx):
    srv = ctx.srv
    # read-only: 403 (the KB is visible, so existence is no secret)
    body, ctype = base.multipart([("x.md", "# x\n\n第一条 测试。\n".encode())])
    h = dict(as_user(ctx, "sh_manager"), **{"Content-Type": ctype})
    st, j = jreq(srv, "POST", "/api/v1/kbs/%d/documents" % ctx.kbs["kb_sh"], body, h)
    check_eq(st, 403, "read-only upload: %r" % (j,))
    st, _ = jreq(srv, "DELETE", "/api/v1/kbs/%d/documents/%d" % (ctx.kbs["kb_sh"],
                                                               ctx.doc_ids["kb_sh"]),
                 headers=as_user(ctx, "sh_manager"))
    check_eq(st, 403, "read-only delete")
    # no access: 404 for writes too
    h = dict(as_user(ctx, "outsider"), **{"Content-Type": ctype})
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/documents" % ctx.kbs["kb_sh"], body, h)
    check_eq(st, 404, "no-access upload")
    # the write grant works
    upload_doc(srv, ctx.kbs["kb_single"], "补充.md", "# 补充\n\n第一条 月报补充说明。\n",
               as_user(ctx, "hq_ops"))
    # only admins of a KB see and change its grants
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d/acl" % ctx.kbs["kb_single"],
                 headers=as_user(ctx, "hq_ops"))
    check_eq(st, 403, "acl for a write grant")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d/acl" % ctx.kbs["kb_sh"],
                 headers=as_user(ctx, "outsider"))
    check_eq(st, 404, "acl of an unreadable KB")
    # enterprise KBs need kb.create; personal ones do not
    st, _ = jreq(srv, "POST", "/api/v1/kbs", {"name": "新库"}, as_user(ctx, "outsider"))
    check_eq(st, 403, "enterprise create without kb.create")
    st, k = jreq(srv, "POST", "/api/v1/kbs", {"name": "kb_personal", "kind": "personal"},
                 as_user(ctx, "outsider"))
    check_eq(st, 201, "a personal KB may share another user's personal name: %r" % (k,))


@test
def grant_changes_apply_at_once(ctx):
    srv, admin = ctx.srv, None
    st, g = jreq(srv, "POST", "/api/v1/kbs/%d/acl" % ctx.kbs["kb_none"],
                 {"subject_type": "user", "subject": "outsider", "level": "read"})
    check_eq(st, 201, "grant")
    h = as_user(ctx, "outsider")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_none"],
                 {"query": MARKERS["kb_none"]}, h)
    check_eq(st, 200, "after grant")
    st, _ = jreq(srv, "DELETE", "/api/v1/kbs/%d/acl/%d" % (ctx.kbs["kb_none"], g["id"]), admin)
    check_eq(st, 204, "revoke")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_none"],
                 {"query": MARKERS["kb_none"]}, h)
    check_eq(st, 404, "after revoke")
    # moving 浦东支行 under 北京分行 takes kb_sh away from its teller
    pd = ctx.orgs["恒远银行/上海分行/浦东支行"]
    st, _ = jreq(srv, "PATCH", "/api/v1/orgs/%d" % pd, {"parent": ctx.orgs["恒远银行/北京分行"]})
    check_eq(st, 200, "move")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % ctx.kbs["kb_sh"], headers=as_user(ctx, "pd_teller"))
    check_eq(st, 404, "after the move")
    st, _ = jreq(srv, "PATCH", "/api/v1/orgs/%d" % pd, {"parent": ctx.orgs["恒远银行/上海分行"]})
    check_eq(st, 200, "move back")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % ctx.kbs["kb_sh"], headers=as_user(ctx, "pd_teller"))
    check_eq(st, 200, "after moving back")


@test
def sign_in_required(ctx):
    srv = ctx.srv
    st, _, _ = srv.request("GET", "/healthz", auth=False)
    check_eq(st, 200, "healthz is public")
    for method, path in (("GET", "/api/v1/kbs"), ("GET", "/api/v1/kbs/1"),
                         ("POST", "/api/v1/kbs/1/search"), ("GET", "/api/v1/users"),
                         ("GET", "/api/v1/audit"), ("GET", "/api/v1/auth/me"),
                         ("GET", "/api/v1/orgs"), ("POST", "/api/v1/auth/logout")):
        st, h, data = srv.request(method, path, {"query": "x"} if method == "POST" else None,
                                  auth=False)
        check_eq(st, 401, "%s %s without sign-in" % (method, path))
        check("bearer" in h.get("www-authenticate", "").lower(), "challenge")
        check_eq(json.loads(data)["error"]["code"], "unauthorized", "code")
    st, _, _ = srv.request("GET", "/api/v1/kbs", headers={"Authorization": "Bearer atr_" + "0" * 48})
    check_eq(st, 401, "made-up token")
    st, _, _ = srv.request("GET", "/api/v1/kbs", headers={"Authorization": "Basic eDp5"})
    check_eq(st, 401, "basic auth")
    st, _, _ = srv.request("GET", "/api/v1/kbs", headers={"Cookie": "atrium_session=abc"},
                           auth=False)
    check_eq(st, 401, "made-up cookie")


@test
def admin_routes_need_permissions(ctx):
    srv = ctx.srv
    h = as_user(ctx, "pd_teller")
    for method, path, body in (("GET", "/api/v1/users", None),
                               ("POST", "/api/v1/users", {"username": "x", "password": PASSWORD}),
                               ("POST", "/api/v1/orgs", {"name": "x"}),
                               ("POST", "/api/v1/roles", {"name": "x", "perms": []}),
                               ("GET", "/api/v1/audit", None),
                               ("GET", "/api/v1/ldap/maps", None)):
        st, j = jreq(srv, method, path, body, h)
        check_eq(st, 403, "%s %s as a teller: %r" % (method, path, j))
    # the admin is not an auditor (三员分立)
    st, _ = jreq(srv, "GET", "/api/v1/audit")
    check_eq(st, 403, "admin reading the audit log")
    # a role with kb.admin opens every enterprise KB, never a personal one
    st, r = jreq(srv, "POST", "/api/v1/roles", {"name": "知识库管理员2", "perms": ["kb.admin"]})
    check_eq(st, 201, "role: %r" % (r,))
    st, _ = jreq(srv, "POST", "/api/v1/users/outsider/roles", {"role": r["id"]})
    check_eq(st, 201, "grant role")
    st, lst = jreq(srv, "GET", "/api/v1/kbs", headers=as_user(ctx, "outsider"))
    names = {k["name"] for k in lst["kbs"]}
    check({"kb_sh", "kb_teller", "kb_single", "kb_none"} <= names, "kb.admin sees all: %r" % names)
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % ctx.kbs["kb_personal"],
                 headers=as_user(ctx, "outsider"))
    check_eq(st, 404, "kb.admin and someone's personal KB")
    st, _ = jreq(srv, "DELETE", "/api/v1/users/outsider/roles/%d" % r["id"])
    check_eq(st, 204, "revoke role")
    st, lst = jreq(srv, "GET", "/api/v1/kbs", headers=as_user(ctx, "outsider"))
    check_eq({k["name"] for k in lst["kbs"]}, {"kb_personal"}, "after the role is revoked")


@test
def csrf_and_logout(ctx):
    srv = ctx.srv
    st, body, cookie = login(srv, "sh_manager")
    check_eq(st, 200, "login")
    check(cookie and len(cookie) == 64, "cookie")
    st, h, _ = srv.request("POST", "/api/v1/auth/login",
                           {"username": "sh_manager", "password": PASSWORD}, auth=False)
    sc = h.get("set-cookie", "")
    check("HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc, "cookie flags: " + sc)
    # reads need no CSRF token, writes do
    st, me = jreq(srv, "GET", "/api/v1/auth/me", headers=cookie_headers(cookie), auth=False)
    check_eq(st, 200, "me")
    check_eq(me["user"]["username"], "sh_manager", "me user")
    check_eq(me["csrf_token"], body["csrf_token"], "csrf in me")
    st, j = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_sh"], {"query": "晨会"},
                 cookie_headers(cookie), auth=False)
    check_eq(st, 403, "write without CSRF token")
    check_eq(j["error"]["code"], "csrf_failed", "code")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_sh"], {"query": "晨会"},
                 cookie_headers(cookie, "0" * 64), auth=False)
    check_eq(st, 403, "wrong CSRF token")
    st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_sh"], {"query": "晨会"},
                 cookie_headers(cookie, body["csrf_token"]), auth=False)
    check_eq(st, 200, "with the CSRF token")
    st, _, _ = srv.request("POST", "/api/v1/auth/logout",
                           headers=cookie_headers(cookie, body["csrf_token"]), auth=False)
    check_eq(st, 204, "logout")
    st, _ = jreq(srv, "GET", "/api/v1/auth/me", headers=cookie_headers(cookie), auth=False)
    check_eq(st, 401, "after logout")


def db(ctx):
    c = sqlite3.connect(os.path.join(ctx.srv.data, "atrium.db"), timeout=10)
    c.execute("PRAGMA busy_timeout = 10000")
    return c


@test
def session_expiry(ctx):
    srv = ctx.srv
    for column, value in (("last_seen", "strftime('%s','now') - 31*60"),
                          ("expires_at", "strftime('%s','now') - 1")):
        st, body, cookie = login(srv, "bj_teller")
        check_eq(st, 200, "login")
        st, _ = jreq(srv, "GET", "/api/v1/auth/me", headers=cookie_headers(cookie), auth=False)
        check_eq(st, 200, "fresh session")
        c = db(ctx)
        with c:
            c.execute("UPDATE sessions SET %s = %s WHERE user_id = "
                      "(SELECT id FROM users WHERE username = 'bj_teller')" % (column, value))
        c.close()
        st, j = jreq(srv, "GET", "/api/v1/auth/me", headers=cookie_headers(cookie), auth=False)
        check_eq(st, 401, "session past %s" % column)


@test
def token_revocation_and_expiry(ctx):
    srv = ctx.srv
    h = as_user(ctx, "bj_teller")
    st, t = jreq(srv, "POST", "/api/v1/auth/tokens", {"name": "ci", "days": 30}, h)
    check_eq(st, 201, "token create")
    check(t["token"].startswith("atr_") and len(t["token"]) == 52, "token shape")
    mine = {"Authorization": "Bearer " + t["token"]}
    st, _ = jreq(srv, "GET", "/api/v1/kbs", headers=mine)
    check_eq(st, 200, "new token works")
    st, lst = jreq(srv, "GET", "/api/v1/auth/tokens", headers=h)
    check(t["token"] not in json.dumps(lst), "the list never shows a token")
    # another user cannot revoke it
    st, _ = jreq(srv, "DELETE", "/api/v1/auth/tokens/%d" % t["id"], headers=as_user(ctx, "bj_ops"))
    check_eq(st, 404, "someone else's token")
    st, _ = jreq(srv, "DELETE", "/api/v1/auth/tokens/%d" % t["id"], headers=h)
    check_eq(st, 204, "revoke")
    st, _ = jreq(srv, "GET", "/api/v1/kbs", headers=mine)
    check_eq(st, 401, "revoked token")
    st, t2 = jreq(srv, "POST", "/api/v1/auth/tokens", {"name": "short", "days": 1}, h)
    check_eq(st, 201, "token 2")
    c = db(ctx)
    with c:
        c.execute("UPDATE api_tokens SET expires_at = strftime('%s','now') - 1 WHERE id = ?",
                  (t2["id"],))
    c.close()
    st, _ = jreq(srv, "GET", "/api/v1/kbs", headers={"Authorization": "Bearer " + t2["token"]})
    check_eq(st, 401, "expired token")


@test
def disabled_user(ctx):
    srv = ctx.srv
    st, u = jreq(srv, "PATCH", "/api/v1/users/bj_teller", {"disabled": True})
    check_eq(st, 200, "disable: %r" % (u,))
    check_eq(u["disabled"], True, "disabled flag")
    st, _ = jreq(srv, "GET", "/api/v1/kbs", headers=as_user(ctx, "bj_teller"))
    check_eq(st, 401, "token of a disabled user")
    st, body, _ = login(srv, "bj_teller")
    check_eq(st, 401, "login of a disabled user")
    st, u = jreq(srv, "PATCH", "/api/v1/users/bj_teller", {"disabled": False})
    check_eq(st, 200, "enable")
    st, _ = jreq(srv, "GET", "/api/v1/kbs", headers=as_user(ctx, "bj_teller"))
    check_eq(st, 200, "token works again")


@test
def lockout(ctx):
    srv = ctx.srv
    for i in range(3):  # login_max_failures = 3 on this server
        st, body, _ = login(srv, "hq_ops", "Wrong#Pass-%d" % i)
        check_eq(st, 401, "wrong password %d" % i)
    st, body, _ = login(srv, "hq_ops")
    check_eq(st, 401, "right password while locked")
    check("锁定" in body["error"]["message"], "says locked: %r" % body)
    st, unknown, _ = login(srv, "no_such_user", "Wrong#Pass-x")
    st2, wrong, _ = login(srv, "pd_teller", "Wrong#Pass-x")
    check_eq((st, unknown), (st2, wrong), "unknown user and wrong password look alike")
    c = db(ctx)
    with c:
        c.execute("UPDATE users SET locked_until = 0 WHERE username = 'hq_ops'")
    c.close()
    st, body, _ = login(srv, "hq_ops")
    check_eq(st, 200, "after the lockout ends")


@test
def audit_shows_who_saw_what(ctx):
    srv = ctx.srv
    # an auditor, by role
    st, _ = jreq(srv, "POST", "/api/v1/users/outsider/roles", {"role": "auditor"})
    check_eq(st, 201, "auditor role")
    h = as_user(ctx, "outsider")
    st, v = jreq(srv, "GET", "/api/v1/audit/verify", headers=h)
    check_eq(st, 200, "verify")
    check(v["ok"] and v["checked"] > 50, "chain intact: %r" % v)
    st, j = jreq(srv, "GET", "/api/v1/audit?user=pd_teller&action=kb.search&limit=1000",
                 headers=h)
    check_eq(st, 200, "audit query")
    seen = {e["target"] for e in j["entries"]}
    check_eq(seen, {"kb:%d" % ctx.kbs["kb_sh"], "kb:%d" % ctx.kbs["kb_teller"]},
             "pd_teller's searches were on exactly the KBs they may read")
    e = j["entries"][-1]
    check(e["detail"]["chunks"] and e["detail"]["query"], "chunks and query recorded: %r" % e)
    st, j = jreq(srv, "GET", "/api/v1/audit?action=kb.ask&user=hq_ops", headers=h)
    check(j["entries"] and j["entries"][0]["detail"]["chunks"], "ask shows chunk ids")
    st, j = jreq(srv, "GET", "/api/v1/audit?action=auth.", headers=h)
    actions = {e["action"] for e in j["entries"]}
    check({"auth.login", "auth.login_failed", "auth.logout"} <= actions, "sign-ins: %r" % actions)
    st, j = jreq(srv, "GET", "/api/v1/audit?action=kb.grant", headers=h)
    check(len(j["entries"]) >= 4, "grants audited")
    st, j = jreq(srv, "GET", "/api/v1/audit?action=doc.", headers=h)
    check({"doc.upload", "doc.download"} <= {e["action"] for e in j["entries"]}, "documents")
    check(PASSWORD not in json.dumps(j), "no password in the log")


@test
def separation_of_duties(ctx):
    srv = ctx.srv
    # a role may not mix audit.read with anything else
    st, j = jreq(srv, "POST", "/api/v1/roles", {"name": "超级", "perms": ["audit.read",
                                                                       "users.manage"]})
    check_eq(st, 400, "mixed role: %r" % (j,))
    # an admin cannot also become an auditor
    st, j = jreq(srv, "POST", "/api/v1/users/root/roles", {"role": "auditor"})
    check_eq(st, 409, "auditor role for the admin: %r" % (j,))
    st, _ = jreq(srv, "GET", "/api/v1/audit")
    check_eq(st, 403, "the admin still cannot read the log")
    # nor act as an auditor through a token or a password reset
    st, _ = jreq(srv, "POST", "/api/v1/users/outsider/tokens", {"name": "x"})
    check_eq(st, 403, "token for an auditor made by the admin")
    st, _ = jreq(srv, "PATCH", "/api/v1/users/outsider", {"password": "Other#Pass-2026"})
    check_eq(st, 403, "auditor password reset by the admin")


@test
def conflicts_are_409(ctx):
    srv = ctx.srv
    # an org with children cannot be deleted
    st, j = jreq(srv, "DELETE", "/api/v1/orgs/%d" % ctx.orgs["恒远银行/上海分行"])
    check_eq(st, 409, "delete an org with children: %r" % (j,))
    # the last admin grant of a KB stays
    st, k = jreq(srv, "POST", "/api/v1/kbs", {"name": "kb_admin_test"})
    check_eq(st, 201, "kb")
    st, g = jreq(srv, "POST", "/api/v1/kbs/%d/acl" % k["id"],
                 {"subject_type": "user", "subject": "sh_manager", "level": "admin"})
    check_eq(st, 201, "admin grant")
    h = as_user(ctx, "sh_manager")
    st, j = jreq(srv, "DELETE", "/api/v1/kbs/%d/acl/%d" % (k["id"], g["id"]), headers=h)
    check_eq(st, 409, "revoking the only admin grant: %r" % (j,))
    st, g2 = jreq(srv, "POST", "/api/v1/kbs/%d/acl" % k["id"],
                  {"subject_type": "user", "subject": "hq_ops", "level": "admin"}, h)
    check_eq(st, 201, "a second admin, granted by the KB admin")
    st, _ = jreq(srv, "DELETE", "/api/v1/kbs/%d/acl/%d" % (k["id"], g["id"]), headers=h)
    check_eq(st, 204, "revoke with another admin left")
    st, _ = jreq(srv, "GET", "/api/v1/kbs/%d" % k["id"], headers=h)
    check_eq(st, 404, "and the KB is gone for them")


@test
def login_burst_does_not_stall_search(ctx):
    srv = ctx.srv
    results, lat, retry = [], [], []

    def one():
        try:
            st, h, _ = srv.request("POST", "/api/v1/auth/login",
                                   {"username": "pd_teller", "password": PASSWORD}, auth=False)
            results.append(st)
            if st == 429:
                retry.append(h.get("retry-after"))
        except (OSError, http.client.HTTPException) as e:
            results.append(str(e))

    threads = [threading.Thread(target=one) for _ in range(30)]
    for t in threads:
        t.start()
    h = as_user(ctx, "pd_teller")
    t_end = time.time() + 1.0
    while time.time() < t_end:
        t0 = time.time()
        st, _ = jreq(srv, "POST", "/api/v1/kbs/%d/search" % ctx.kbs["kb_sh"], {"query": "晨会"}, h)
        lat.append((time.time() - t0) * 1000)
        check_eq(st, 200, "search during the burst")
    for t in threads:
        t.join(60)
    check_eq(len(results), 30, "every sign-in answered")
    check(all(s in (200, 429) for s in results), "200 or 429 only: %r" % results)
    st, h, _ = srv.request("GET", "/healthz", auth=False)
    check_eq(st, 200, "healthz")
    check(results.count(200) >= 2, "some succeed")
    check(all(r == "1" for r in retry), "429 carries Retry-After: %r" % retry)
    lat.sort()
    # generous: the hashes run on workers, searches on the request threads
    check(lat[len(lat) // 2] < 200, "median search during the burst %.1f ms" % lat[len(lat) // 2])


@test
def audit_tamper_is_found(ctx):
    # Last: it breaks the chain. Edit a real entry with the sqlite3 tool, the
    # way someone with the database file would, then verify must fail and
    # name that entry, from the CLI and over the API.
    srv = ctx.srv
    h = as_user(ctx, "outsider")  # the auditor
    st, j = jreq(srv, "GET", "/api/v1/audit?action=kb.search&user=pd_teller&limit=1", headers=h)
    victim = j["entries"][0]["id"]
    dbf = os.path.join(srv.data, "atrium.db")
    p = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", dbf, "DROP TRIGGER audit_no_update; UPDATE audit_log SET "
                        "detail = replace(detail, 'query', 'qu3ry') WHERE id = %d;" % victim],
                       capture_output=True, text=True)
    check_eq(p.returncode, 0, "sqlite3 edit: %s" % p.stderr)
    p = subprocess.run([ctx.atrium, "--data", srv.data, "audit", "verify"], capture_output=True,
                       text=True, env=srv.env)
    check(p.returncode != 0, "verify exits non-zero after an edit")
    check("#%d" % victim in p.stderr, "names entry %d: %s" % (victim, p.stderr))
    st, v = jreq(srv, "GET", "/api/v1/audit/verify", headers=h)
    check_eq(st, 200, "verify over the API")
    check_eq((v["ok"], v["bad_id"]), (False, victim), "API verify: %r" % v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-acl-")
    passed = failed = 0
    ctx = Ctx()
    ctx.srv = None
    ctx.atrium = atrium
    try:
        try:
            ctx.srv = base.Server(atrium, workdir, "acl", {
                "ATRIUM_LOGIN_MAX_FAILURES": "3", "ATRIUM_HASH_CONCURRENCY": "2",
                "ATRIUM_HASH_QUEUE": "8"}, 20)
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
    print("api-acl: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
