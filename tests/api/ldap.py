#!/usr/bin/env python3
"""Directory sign-in end to end: a real OpenLDAP slapd on loopback (the
恒远商业银行 fixture of tests/ldap/), `atrium serve` pointed at it, group and OU
maps made over the admin API, then a teller signs in over HTTP for the first
time, lands in the mapped org and position, and reads exactly the KB granted to
that position; a risk officer from another group does not. Wrong passwords and
a directory that is down are refused without locking out local users.
Prints "api-ldap: N passed, N failed".

Usage: tests/api/ldap.py [--atrium build/atrium]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLAPD_SH = os.path.join(ROOT, "tests", "ldap", "slapd.sh")
BASE_DN = "dc=hengyuan,dc=example"
check, check_eq = base.check, base.check_eq


def login(srv, user, password):
    st, h, data = srv.request("POST", "/api/v1/auth/login",
                              {"username": user, "password": password}, auth=False)
    cookie = None
    sc = h.get("set-cookie", "")
    if sc.startswith("atrium_session="):
        cookie = sc.split(";")[0].split("=", 1)[1]
    import json
    return st, (json.loads(data) if data else None), cookie


def session(cookie, csrf):
    return {"Cookie": "atrium_session=" + cookie, "X-CSRF-Token": csrf}


def run_tests(srv, slapd_dir, results):
    def step(name, fn):
        try:
            fn()
            results.append((name, True))
            print("ok   %s" % name)
        except Exception:  # noqa: BLE001
            results.append((name, False))
            print("FAIL %s" % name)
            traceback.print_exc(limit=3, file=sys.stdout)

    ctx = {}

    def setup():
        st, root = srv.json("POST", "/api/v1/orgs", {"name": "恒远银行"})
        check_eq(st, 201, "org")
        st, sh = srv.json("POST", "/api/v1/orgs", {"name": "上海分行", "parent": root["id"]})
        check_eq(st, 201, "branch")
        st, _ = srv.json("POST", "/api/v1/positions", {"name": "柜员"})
        check_eq(st, 201, "position")
        for match, ttype, target in (
                ("cn=tellers,ou=groups," + BASE_DN, "position", "柜员"),
                ("ou=shanghai,ou=branches," + BASE_DN, "org", "恒远银行/上海分行")):
            st, j = srv.json("POST", "/api/v1/ldap/maps",
                             {"match": match, "target_type": ttype, "target": target})
            check_eq(st, 201, "map %s: %r" % (match, j))
        st, kb = srv.json("POST", "/api/v1/kbs", {"name": "柜面手册"})
        check_eq(st, 201, "kb")
        ctx["kb"] = kb["id"]
        st, _ = srv.json("POST", "/api/v1/kbs/%d/acl" % kb["id"],
                         {"subject_type": "position", "subject": "柜员", "level": "read"})
        check_eq(st, 201, "grant")
        body, ctype = base.multipart([("手册.md", "# 柜面手册\n\n第一条 尾箱交接必须双人核对。\n"
                                      .encode("utf-8"))])
        st, j = srv.json("POST", "/api/v1/kbs/%d/documents" % kb["id"], body,
                         {"Content-Type": ctype})
        check_eq(st, 202, "upload")
        base.wait_job(srv, str(kb["id"]), j["jobs"][0]["id"])

    def teller_signs_in():
        st, body, cookie = login(srv, "zhangwei", "Teller#2024a")
        check_eq(st, 200, "directory sign-in: %r" % (body,))
        check_eq(body["user"]["source"], "ldap", "source")
        check_eq(body["user"]["display_name"], "张伟", "display name from the directory")
        h = session(cookie, body["csrf_token"])
        st, me = srv.json("GET", "/api/v1/auth/me", headers=h, auth=False)
        check_eq(st, 200, "me")
        m = me["memberships"]
        check_eq([p["name"] for p in m["positions"]], ["柜员"], "position from the group map")
        check_eq([o["name"] for o in m["orgs"]], ["上海分行"], "org from the OU map")
        st, s = srv.json("POST", "/api/v1/kbs/%d/search" % ctx["kb"], {"query": "尾箱交接"},
                         headers=h, auth=False)
        check_eq(st, 200, "search through the mapped position")
        check(s["hits"] and "尾箱" in s["hits"][0]["text"], "hit")

    def other_group_cannot_read():
        st, body, cookie = login(srv, "liqiang", "Risk#2024c")
        check_eq(st, 200, "risk officer signs in")
        h = session(cookie, body["csrf_token"])
        st, _ = srv.json("POST", "/api/v1/kbs/%d/search" % ctx["kb"], {"query": "尾箱交接"},
                         headers=h, auth=False)
        check_eq(st, 404, "no grant reaches the risk group")

    def refusals():
        st, body, _ = login(srv, "zhangwei", "Wrong#2024x")
        check_eq(st, 401, "wrong directory password")
        st, body, _ = login(srv, "zhang*", "Teller#2024a")
        check_eq(st, 401, "a filter wildcard is not a user name")
        subprocess.run([SLAPD_SH, "stop", slapd_dir], check=True, capture_output=True)
        st, body, _ = login(srv, "zhangwei", "Teller#2024a")
        check_eq(st, 503, "directory down: %r" % (body,))
        st, body, _ = login(srv, "root", base.ADMIN_PASSWORD)
        check_eq(st, 200, "local admin still signs in while the directory is down")

    step("setup", setup)
    step("teller_signs_in_with_mapped_org_and_position", teller_signs_in)
    step("other_group_cannot_read", other_group_cannot_read)
    step("refusals_and_directory_down", refusals)


def free_port():
    return base.free_port()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atrium", default=os.path.join(ROOT, "build", "atrium"))
    args = ap.parse_args()
    atrium = os.path.abspath(args.atrium)
    workdir = tempfile.mkdtemp(prefix="atrium-ldapapi-")
    slapd_dir = os.path.join(workdir, "slapd")
    os.makedirs(slapd_dir)
    results, srv = [], None
    try:
        port = free_port()
        p = subprocess.run([SLAPD_SH, "start", slapd_dir, str(port), str(os.getpid())],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("FAIL slapd start: %s" % p.stderr)
            results.append(("slapd", False))
        else:
            srv = base.Server(atrium, workdir, "ldap", {
                "ATRIUM_LDAP_URL": "ldap://127.0.0.1:%d" % port,
                "ATRIUM_LDAP_BASE_DN": BASE_DN,
                "ATRIUM_LDAP_BIND_DN": "cn=atrium-svc,ou=services," + BASE_DN,
                "ATRIUM_LDAP_BIND_PASSWORD": "Svc#2024pw",
                "ATRIUM_LDAP_GROUP_BASE_DN": "ou=groups," + BASE_DN,
                "ATRIUM_LDAP_TIMEOUT_MS": "2000"}, 20)
            run_tests(srv, slapd_dir, results)
    finally:
        subprocess.run([SLAPD_SH, "stop", slapd_dir], capture_output=True)
        if srv:
            results.append(("server stopped cleanly", base.stopped_cleanly(srv, log_tail=0)))
            log = srv.log_text()
            if "Svc#2024pw" in log or "Teller#2024a" in log:
                results.append(("no password in the server log", False))
                print("FAIL a password reached the server log")
            else:
                results.append(("no password in the server log", True))
    failed = sum(1 for _, ok in results if not ok)
    if failed and srv:
        print(srv.log_text()[-8000:])
        print("logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("api-ldap: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
