#!/usr/bin/env python3
"""Drives the identity part of build/atrium in a temporary data folder:
user, token, org, position, role, kb grant/revoke/acl, ldap map, and the
audit entries every change leaves. Prints "cli-identity: N passed, N failed"
and exits non-zero on a failure.

Usage: tests/cli/identity.py [--atrium build/atrium]
"""
import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

PASSED = 0
FAILED = 0

PW1 = "Str0ng-Passw0rd!"
PW2 = "An0ther#Secret9"
PW3 = "Third-Pass-77x"


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print(f"not ok {name}" + (f": {detail}" if detail else ""))


class Atrium:
    def __init__(self, exe, data):
        self.exe = exe
        self.data = data

    def env(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("ATRIUM_"):
                env.pop(k)
        env["ATRIUM_CHAT_URL"] = ""
        return env

    def run(self, *args, stdin=None, timeout=60):
        """stdin: None = no input at all (/dev/null), else text piped in."""
        p = subprocess.run([self.exe, "--data", self.data, *args], capture_output=True,
                           input=None if stdin is None else stdin.encode("utf-8"),
                           stdin=subprocess.DEVNULL if stdin is None else None,
                           timeout=timeout, env=self.env())
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")

    def json(self, *args, stdin=None):
        rc, out, err = self.run("--json", *args, stdin=stdin)
        try:
            return rc, json.loads(out), err
        except ValueError:
            return rc, None, err + "\n[stdout] " + out


def read_until(fd, needle, timeout=10.0):
    """Reads fd until needle (bytes) shows up; returns what was read."""
    got = b""
    end = time.time() + timeout
    while needle not in got and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            got += chunk
    return got


def tty_password(a, args, answers):
    """Runs atrium with stdin on a pseudo-terminal, answering each password
    prompt (seen on stderr) in turn. Returns (rc, stderr, what the terminal
    echoed)."""
    master, slave = os.openpty()
    p = subprocess.Popen([a.exe, "--data", a.data, *args], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=a.env())
    os.close(slave)
    err = b""
    for ans in answers:
        err += read_until(p.stderr.fileno(), b": ")
        os.write(master, ans.encode() + b"\n")
        time.sleep(0.05)
    out, rest = p.communicate(timeout=30)
    err += rest
    echoed = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        echoed += chunk
    os.close(master)
    return p.returncode, err.decode("utf-8", "replace"), echoed.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atrium", default="build/atrium")
    args = ap.parse_args()
    exe = os.path.abspath(args.atrium)
    if not os.access(exe, os.X_OK):
        check("atrium binary exists", False, exe)
        print(f"cli-identity: {PASSED} passed, {FAILED} failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="atrium-cli-id-")
    try:
        run_tests(Atrium(exe, os.path.join(tmp, "data")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cli-identity: {PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


def by_name(items, name, key="name"):
    for it in items or []:
        if it.get(key) == name:
            return it
    return None


def run_tests(a):
    expected = []  # (action, target or None) every successful change must log

    # ---- help and usage ----
    rc, out, _ = a.run("help", "user")
    check("help user", rc == 0 and "user add" in out and "passwd" in out, out)
    for noun in ("token", "org", "position", "role", "ldap"):
        rc, out, _ = a.run(noun, "--help")
        check(f"{noun} --help", rc == 0 and f"atrium {noun}" in out, out[:200])
    rc, out, _ = a.run("help", "kb")
    check("help kb lists grant/acl", rc == 0 and "kb grant" in out and "kb acl" in out, out)
    rc, out, _ = a.run("--help")
    check("full help has the new nouns",
          all(w in out for w in ("user add", "token create", "org move", "position assign",
                                 "role grant", "ldap map add")), out[-400:])
    for cmd in (("user",), ("user", "frob"), ("org",), ("role", "add"), ("ldap", "map"),
                ("token", "revoke", "abc"), ("user", "list", "--admin")):
        rc, _, err = a.run(*cmd)
        check("usage error: %s" % " ".join(cmd), rc == 2 and "错误 / error" in err,
              f"rc={rc} {err}")

    # ---- user add: password from stdin, policy, never from argv ----
    rc, out, err = a.run("user", "add", "alice", stdin="short\n")
    check("weak password refused → 2", rc == 2, f"rc={rc} {err}")
    check("policy message shown", "密码" in err and "password" in err.lower(), err)
    rc, out, err = a.run("user", "add", "alice", "--password", PW1, stdin=PW1 + "\n")
    check("--password is a usage error", rc == 2 and "--password" in err, f"rc={rc} {err}")
    rc, out, err = a.run("user", "add", "alice")  # stdin is /dev/null: no password
    check("no password on stdin → 2", rc == 2 and "password" in err, f"rc={rc} {err}")
    rc, _, _ = a.run("user", "show", "alice")
    check("refused adds created nothing", rc == 3, f"rc={rc}")
    rc, _, err = a.run("user", "add", "bad name!", stdin=PW1 + "\n")
    check("invalid user name → 2", rc == 2, f"rc={rc} {err}")

    rc, j, err = a.json("user", "add", "alice", "--display", "张三", "--employee-no", "E001",
                        stdin=PW1 + "\r\n")
    ok = rc == 0 and isinstance(j, dict) and j.get("username") == "alice"
    check("user add alice (CRLF line)", ok, f"rc={rc} {err} {j}")
    alice = j.get("id") if ok else 0
    check("user add --display/--employee-no", ok and j.get("display_name") == "张三"
          and j.get("employee_no") == "E001", str(j))
    check("user json has no hash", ok and not any("hash" in k or "pass" in k for k in j), str(j))
    expected.append(("user.create", f"user:{alice}"))

    rc, _, err = a.run("user", "add", "ALICE", stdin=PW1 + "\n")
    check("duplicate user → 1 (exists)", rc == 1 and "exist" in err, f"rc={rc} {err}")

    rc, out, err = a.run("user", "add", "bob", "--admin", stdin=PW2 + "\n")
    check("user add bob --admin", rc == 0 and "bob" in out, f"rc={rc} {err}")
    rc, j, _ = a.json("user", "show", "bob")
    bob = j.get("id") if isinstance(j, dict) else 0
    check("bob holds admin", isinstance(j, dict) and by_name(j.get("roles"), "admin") is not None
          and "users.manage" in (j.get("perms") or []), str(j))
    expected.append(("user.create", f"user:{bob}"))

    # The CRLF was stripped: the password signs in (ldap test runs auth_login).
    rc, out, err = a.run("ldap", "test", "alice", stdin=PW1 + "\n")
    check("sign-in with the stored password", rc == 0 and "alice" in out, f"rc={rc} {out} {err}")
    rc, _, err = a.run("ldap", "test", "alice", stdin=PW1 + "x\n")
    check("wrong password → 1", rc == 1 and "错误 / error" in err, f"rc={rc} {err}")

    # A terminal: no echo, asked twice.
    rc, err, echoed = tty_password(a, ("user", "add", "carol"), [PW3, PW3])
    check("user add on a terminal", rc == 0, f"rc={rc} {err}")
    check("terminal prompts twice", "password again" in err, err)
    check("password not echoed", PW3 not in echoed, repr(echoed))
    rc, j, _ = a.json("user", "show", "carol")
    carol = j.get("id") if isinstance(j, dict) else 0
    expected.append(("user.create", f"user:{carol}"))
    rc, err, _ = tty_password(a, ("user", "add", "dave"), [PW3, PW3 + "y"])
    check("terminal mismatch → 2", rc == 2 and "match" in err, f"rc={rc} {err}")

    # list / show / update / disable / enable / passwd
    rc, j, err = a.json("user", "list")
    names = [u.get("username") for u in j] if isinstance(j, list) else []
    check("user list --json", rc == 0 and {"alice", "bob", "carol"} <= set(names)
          and "dave" not in names, f"rc={rc} {names}")
    rc, out, _ = a.run("user", "list")
    check("user list table", rc == 0 and "alice" in out and "张三" in out, out)
    rc, j, _ = a.json("user", "show", "alice")
    check("user show --json memberships", rc == 0 and isinstance(j, dict)
          and by_name(j.get("roles"), "user") is not None and j.get("orgs") == []
          and j.get("positions") == [], str(j))
    rc, _, err = a.run("user", "show", "nosuch")
    check("user show unknown → 3", rc == 3 and "nosuch" in err, f"rc={rc} {err}")
    rc, _, _ = a.run("user", "show", "99999")
    check("user show unknown id → 3", rc == 3, f"rc={rc}")

    rc, j, err = a.json("user", "update", "alice", "--display", "李四")
    check("user update", rc == 0 and isinstance(j, dict) and j.get("display_name") == "李四"
          and j.get("employee_no") == "E001", f"rc={rc} {err} {j}")
    expected.append(("user.update", f"user:{alice}"))
    rc, _, _ = a.run("user", "update", "alice")
    check("user update without a change → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("user", "update", "nosuch", "--display", "x")
    check("user update unknown → 3", rc == 3, f"rc={rc}")

    rc, j, _ = a.json("user", "disable", "alice")
    check("user disable", rc == 0 and isinstance(j, dict) and j.get("disabled") is True, str(j))
    expected.append(("user.disable", f"user:{alice}"))
    rc, _, _ = a.run("ldap", "test", "alice", stdin=PW1 + "\n")
    check("disabled user cannot sign in", rc == 1, f"rc={rc}")
    rc, j, _ = a.json("user", "enable", "alice")
    check("user enable", rc == 0 and isinstance(j, dict) and j.get("disabled") is False, str(j))
    expected.append(("user.enable", f"user:{alice}"))
    rc, _, _ = a.run("user", "disable", "nosuch")
    check("user disable unknown → 3", rc == 3, f"rc={rc}")

    rc, _, err = a.run("user", "passwd", "alice", stdin="weak\n")
    check("passwd weak → 2", rc == 2 and "密码" in err, f"rc={rc} {err}")
    rc, _, err = a.run("user", "passwd", "alice", stdin=PW2 + "\n")
    check("user passwd", rc == 0, f"rc={rc} {err}")
    expected.append(("user.password", f"user:{alice}"))
    rc, _, _ = a.run("ldap", "test", "alice", stdin=PW2 + "\n")
    check("new password signs in", rc == 0, f"rc={rc}")
    rc, _, err = a.run("user", "passwd", "nosuch", stdin=PW2 + "\n")
    check("passwd unknown → 3", rc == 3, f"rc={rc} {err}")

    # ---- tokens ----
    rc, out, err = a.run("token", "create", "alice", "--name", "ci", "--expires", "30")
    lines = out.splitlines()
    token = lines[-1] if lines else ""
    check("token create → 0", rc == 0, f"rc={rc} {err}")
    check("token alone on stdout", out == token + "\n", repr(out))
    check("token shape atr_ + 48 hex (52 chars)",
          len(token) == 52 and re.fullmatch(r"atr_[0-9a-f]{48}", token) is not None, token)
    check("shown-once note on stderr", "once" in err and token not in err, err)
    rc, j, err = a.json("token", "create", "bob")
    ok = rc == 0 and isinstance(j, dict) and str(j.get("token", "")).startswith("atr_")
    check("token create --json", ok and "id" in j and "expires_at" in j, f"rc={rc} {err} {j}")
    token2 = j.get("token") if ok else ""
    bob_tok = j.get("id") if ok else 0
    rc, j, _ = a.json("token", "list")
    ok = rc == 0 and isinstance(j, list) and len(j) == 2
    check("token list --json", ok, str(j))
    dump = json.dumps(j)
    check("token list never shows a token", token not in dump and token2 not in dump
          and token[16:] not in dump and token2[16:] not in dump, dump)
    alice_tok = [t for t in j if t.get("user") == "alice"][0]["id"] if ok else 0
    expected.append(("token.create", f"token:{alice_tok}"))
    expected.append(("token.create", f"token:{bob_tok}"))
    check("token --expires 30 set", ok and [t for t in j if t["id"] == alice_tok][0]
          .get("expires_at", 0) > time.time() + 29 * 86400, str(j))
    rc, out, _ = a.run("token", "list", "alice")
    check("token list USER table", rc == 0 and "ci" in out and token not in out
          and token2 not in out, out)
    rc, j, _ = a.json("token", "list", "bob")
    check("token list USER filters", rc == 0 and isinstance(j, list) and len(j) == 1, str(j))
    rc, _, _ = a.run("token", "create", "nosuch")
    check("token create unknown user → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("token", "create", "alice", "--expires", "9999")
    check("token --expires out of range → 2", rc == 2, f"rc={rc}")
    rc, _, err = a.run("token", "revoke", str(alice_tok))
    check("token revoke", rc == 0, f"rc={rc} {err}")
    expected.append(("token.revoke", f"token:{alice_tok}"))
    rc, j, _ = a.json("token", "list", "alice")
    check("revoked token listed as revoked", isinstance(j, list) and j
          and j[0].get("revoked_at", 0) > 0, str(j))
    rc, _, _ = a.run("token", "revoke", "99999")
    check("token revoke unknown → 3", rc == 3, f"rc={rc}")

    # ---- org tree ----
    orgs = {}
    for name, parent in (("总行", None), ("上海分行", "总行"), ("浦东支行", "总行/上海分行"),
                         ("北京分行", "总行")):
        extra = ["--parent", parent] if parent else []
        rc, j, err = a.json("org", "add", name, *extra)
        check(f"org add {name}", rc == 0 and isinstance(j, dict) and j.get("id"),
              f"rc={rc} {err}")
        orgs[name] = j.get("id") if isinstance(j, dict) else 0
        expected.append(("org.create", f"org:{orgs[name]}"))
    rc, _, err = a.run("org", "add", "上海分行", "--parent", "总行")
    check("duplicate sibling → 1", rc == 1, f"rc={rc} {err}")
    rc, _, _ = a.run("org", "add", "x", "--parent", "nosuch")
    check("unknown parent → 3", rc == 3, f"rc={rc}")
    rc, j, _ = a.json("org", "list")
    ok = rc == 0 and isinstance(j, list) and len(j) == 1 and j[0].get("name") == "总行"
    check("org list --json forest", ok, str(j))
    if ok:
        sh = by_name(j[0].get("children"), "上海分行")
        check("tree nesting", sh is not None and by_name(sh.get("children"), "浦东支行")
              is not None and by_name(j[0].get("children"), "北京分行") is not None, str(j))
    rc, out, _ = a.run("org", "list")
    check("org list indents", rc == 0 and re.search(r"^总行", out, re.M)
          and re.search(r"^  上海分行", out, re.M) and re.search(r"^    浦东支行", out, re.M),
          out)
    rc, _, err = a.run("org", "move", "总行", "--to", "总行/上海分行/浦东支行")
    check("move into own subtree refused", rc == 2, f"rc={rc} {err}")
    rc, _, err = a.run("org", "move", "总行/上海分行", "--to", "上海分行")
    check("move under itself refused", rc == 2, f"rc={rc} {err}")
    rc, _, err = a.run("org", "move", "浦东支行", "--to", "总行/北京分行")
    check("org move", rc == 0, f"rc={rc} {err}")
    expected.append(("org.move", f"org:{orgs['浦东支行']}"))
    rc, j, _ = a.json("org", "show", "总行/北京分行/浦东支行")
    check("moved org found by new path", rc == 0 and isinstance(j, dict)
          and j.get("id") == orgs["浦东支行"] and j.get("parent_id") == orgs["北京分行"], str(j))
    rc, _, err = a.run("org", "move", str(orgs["浦东支行"]), "--to", "/")
    check("org move --to / (root)", rc == 0, f"rc={rc} {err}")
    expected.append(("org.move", f"org:{orgs['浦东支行']}"))
    rc, j, _ = a.json("org", "list")
    check("two roots now", isinstance(j, list) and len(j) == 2, str(j))
    rc, _, _ = a.run("org", "move", "浦东支行")
    check("move without --to → 2", rc == 2, f"rc={rc}")
    rc, _, err = a.run("org", "rename", "总行/北京分行", "北京分部")
    check("org rename", rc == 0, f"rc={rc} {err}")
    expected.append(("org.rename", f"org:{orgs['北京分行']}"))
    rc, j, _ = a.json("org", "show", "总行/北京分部")
    check("renamed org found", rc == 0 and isinstance(j, dict)
          and j.get("id") == orgs["北京分行"], str(j))
    rc, _, err = a.run("org", "rm", "总行")
    check("org rm with children refused", rc == 1 and "错误 / error" in err, f"rc={rc} {err}")
    rc, _, _ = a.run("org", "show", "总行")
    check("refused rm kept the org", rc == 0, f"rc={rc}")
    rc, _, _ = a.run("org", "show", "nosuch")
    check("org show unknown → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("org", "rm", "99999")
    check("org rm unknown → 3", rc == 3, f"rc={rc}")

    rc, _, err = a.run("org", "member", "add", "总行/上海分行", "alice")
    check("org member add", rc == 0, f"rc={rc} {err}")
    expected.append(("org.member_add", f"org:{orgs['上海分行']}"))
    rc, j, _ = a.json("org", "show", "总行/上海分行")
    check("member listed in org show", isinstance(j, dict)
          and by_name(j.get("members"), "alice", "username") is not None, str(j))
    rc, j, _ = a.json("user", "show", "alice")
    check("user show lists the org", isinstance(j, dict)
          and by_name(j.get("orgs"), "上海分行") is not None, str(j))
    rc, _, _ = a.run("org", "member", "add", "总行/上海分行", "nosuch")
    check("member add unknown user → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("org", "member", "add", "nosuch", "alice")
    check("member add unknown org → 3", rc == 3, f"rc={rc}")
    rc, _, err = a.run("org", "member", "rm", "总行/上海分行", "bob")
    check("member rm of a non-member → 3", rc == 3, f"rc={rc} {err}")

    # ---- positions ----
    rc, j, err = a.json("position", "add", "柜员")
    teller = j.get("id") if isinstance(j, dict) else 0
    check("position add", rc == 0 and teller, f"rc={rc} {err}")
    expected.append(("position.create", f"position:{teller}"))
    rc, _, _ = a.run("position", "add", "柜员")
    check("duplicate position → 1", rc == 1, f"rc={rc}")
    rc, _, err = a.run("position", "assign", "alice", "柜员")
    check("position assign", rc == 0, f"rc={rc} {err}")
    expected.append(("position.assign", f"user:{alice}"))
    rc, j, _ = a.json("position", "list")
    p = by_name(j, "柜员") if isinstance(j, list) else None
    check("position list holders", p is not None and p.get("holders") == 1, str(j))
    rc, j, _ = a.json("user", "show", "alice")
    check("user show lists the position", isinstance(j, dict)
          and by_name(j.get("positions"), "柜员") is not None, str(j))
    rc, _, _ = a.run("position", "assign", "alice", "nosuch")
    check("assign unknown position → 3", rc == 3, f"rc={rc}")

    # ---- roles ----
    rc, j, err = a.json("role", "add", "审计助理", "--perms", "audit.read, kb.admin")
    aux = j.get("id") if isinstance(j, dict) else 0
    check("role add with perms", rc == 0 and aux, f"rc={rc} {err}")
    expected.append(("role.create", f"role:{aux}"))
    rc, _, err = a.run("role", "add", "x", "--perms", "users.manage,bogus.perm")
    check("unknown perm refused → 2", rc == 2 and "bogus.perm" in err, f"rc={rc} {err}")
    rc, j, _ = a.json("role", "list")
    r = by_name(j, "审计助理") if isinstance(j, list) else None
    check("role list perms", r is not None and sorted(r.get("perms", []))
          == ["audit.read", "kb.admin"] and r.get("builtin") is False, str(r))
    check("built-in roles listed", isinstance(j, list) and by_name(j, "admin") is not None
          and by_name(j, "x") is None, str(j))
    rc, _, err = a.run("role", "perms", "审计助理", "--perms", "users.manage")
    check("role perms", rc == 0, f"rc={rc} {err}")
    expected.append(("role.update", f"role:{aux}"))
    rc, j, _ = a.json("role", "list")
    r = by_name(j, "审计助理") if isinstance(j, list) else None
    check("role perms replaced", r is not None and r.get("perms") == ["users.manage"], str(r))
    rc, _, err = a.run("role", "perms", "admin", "--perms", "users.manage")
    check("built-in role perms refused → 1", rc == 1 and "built-in" in err, f"rc={rc} {err}")
    rc, _, err = a.run("role", "rm", "admin")
    check("built-in role rm refused → 1", rc == 1 and "built-in" in err, f"rc={rc} {err}")
    rc, _, err = a.run("role", "grant", "carol", "审计助理")
    check("role grant", rc == 0, f"rc={rc} {err}")
    expected.append(("role.grant", f"user:{carol}"))
    rc, j, _ = a.json("user", "show", "carol")
    check("granted role gives its perms", isinstance(j, dict)
          and "users.manage" in (j.get("perms") or []), str(j))
    rc, _, _ = a.run("role", "grant", "carol", "nosuch")
    check("grant unknown role → 3", rc == 3, f"rc={rc}")

    # ---- KB access ----
    rc, j, err = a.json("kb", "create", "制度库")
    kb = j.get("id") if isinstance(j, dict) else 0
    check("kb create", rc == 0 and kb, f"rc={rc} {err}")
    grants = {}
    for opt, subj, level in (("--org", "总行", None), ("--position", "柜员", "write"),
                             ("--role", "审计助理", "read"), ("--user", "bob", "admin")):
        extra = ["--level", level] if level else []
        rc, j, err = a.json("kb", "grant", "制度库", opt, subj, *extra)
        ok = rc == 0 and isinstance(j, dict) and j.get("id")
        check(f"kb grant {opt}", ok and j.get("level") == (level or "read"), f"rc={rc} {err} {j}")
        grants[opt] = j.get("id") if ok else 0
        expected.append(("kb.grant", f"kb:{kb}"))
    # eval --as: a user the grants reach runs; one they do not is refused (3)
    qfile = os.path.join(a.data, "q.jsonl")
    with open(qfile, "w", encoding="utf-8") as f:
        f.write('{"id":"1","question":"开户","doc":"x.md"}\n')
    rc, out, err = a.run("eval", "制度库", qfile, "--as", "bob")
    check("eval --as a granted user", rc == 0, f"rc={rc} {err}")
    rc, out, err = a.run("user", "add", "dave", stdin="Outsider#2026-x\n")
    check("user add dave (no memberships)", rc == 0, f"rc={rc} {err}")
    rc, out, err = a.run("eval", "制度库", qfile, "--as", "dave")
    check("eval --as a user without access → 3", rc == 3 and "may not read" in err,
          f"rc={rc} {err}")
    rc, j, err = a.json("kb", "acl", "制度库")
    ok = rc == 0 and isinstance(j, list) and len(j) == 4
    check("kb acl --json", ok, f"rc={rc} {err} {j}")
    if ok:
        levels = {g.get("subject_type"): g.get("level") for g in j}
        check("kb acl levels", levels == {"org": "read", "position": "write", "role": "read",
                                          "user": "admin"}, str(levels))
    rc, out, _ = a.run("kb", "--quiet", "acl", "制度库")
    check("kb acl table (option before the verb)", rc == 0 and "柜员" in out and "bob" in out,
          out)
    rc, _, _ = a.run("kb", "grant", "制度库", "--user", "bob", "--level", "owner")
    check("bad --level → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("kb", "grant", "制度库", "--user", "bob", "--org", "总行")
    check("two subjects → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("kb", "grant", "制度库")
    check("no subject → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("kb", "grant", "制度库", "--org", "nosuch")
    check("grant to unknown org → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("kb", "grant", "nosuch", "--user", "bob")
    check("grant on unknown KB → 3", rc == 3, f"rc={rc}")
    rc, _, err = a.run("kb", "revoke", "制度库", str(grants["--role"]))
    check("kb revoke", rc == 0, f"rc={rc} {err}")
    expected.append(("kb.revoke", f"kb:{kb}"))
    rc, _, _ = a.run("kb", "revoke", "制度库", str(grants["--role"]))
    check("kb revoke again → 3", rc == 3, f"rc={rc}")
    rc, j, _ = a.json("kb", "acl", "制度库")
    check("kb acl after revoke", isinstance(j, list) and len(j) == 3
          and all(g.get("subject_type") != "role" for g in j), str(j))
    rc, out, _ = a.run("kb", "list")
    check("kb list still works", rc == 0 and "制度库" in out, out)

    # ---- LDAP maps ----
    rc, j, err = a.json("ldap", "map", "add", "cn=tellers,ou=groups,dc=bank,dc=cn",
                        "--position", "柜员")
    mid = j.get("id") if isinstance(j, dict) else 0
    check("ldap map add", rc == 0 and mid, f"rc={rc} {err}")
    expected.append(("ldap.map_add", None))
    rc, j, _ = a.json("ldap", "map", "list")
    check("ldap map list", isinstance(j, list) and len(j) == 1
          and j[0].get("target_type") == "position", str(j))
    rc, _, _ = a.run("ldap", "map", "add", "ou=x,dc=bank", "--org", "nosuch")
    check("map to unknown org → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("ldap", "map", "add", "ou=x,dc=bank")
    check("map without target → 2", rc == 2, f"rc={rc}")
    rc, _, err = a.run("ldap", "map", "rm", str(mid))
    check("ldap map rm", rc == 0, f"rc={rc} {err}")
    expected.append(("ldap.map_delete", None))
    rc, _, _ = a.run("ldap", "map", "rm", str(mid))
    check("ldap map rm again → 3", rc == 3, f"rc={rc}")

    # ---- teardown verbs (after the grants they fed) ----
    rc, _, err = a.run("role", "revoke", "carol", "审计助理")
    check("role revoke", rc == 0, f"rc={rc} {err}")
    expected.append(("role.revoke", f"user:{carol}"))
    rc, _, _ = a.run("role", "revoke", "carol", "审计助理")
    check("role revoke again → 3", rc == 3, f"rc={rc}")
    rc, _, err = a.run("role", "rm", "审计助理")
    check("role rm", rc == 0, f"rc={rc} {err}")
    expected.append(("role.delete", f"role:{aux}"))
    rc, _, err = a.run("position", "unassign", "alice", "柜员")
    check("position unassign", rc == 0, f"rc={rc} {err}")
    expected.append(("position.unassign", f"user:{alice}"))
    rc, _, err = a.run("position", "rm", "柜员")
    check("position rm", rc == 0, f"rc={rc} {err}")
    expected.append(("position.delete", f"position:{teller}"))
    rc, _, _ = a.run("position", "rm", "柜员")
    check("position rm unknown → 3", rc == 3, f"rc={rc}")
    rc, j, _ = a.json("kb", "acl", "制度库")
    check("deleted position's grant gone", isinstance(j, list) and len(j) == 2, str(j))
    rc, _, err = a.run("org", "member", "rm", "总行/上海分行", "alice")
    check("org member rm", rc == 0, f"rc={rc} {err}")
    expected.append(("org.member_remove", f"org:{orgs['上海分行']}"))
    rc, _, err = a.run("org", "rm", "浦东支行")
    check("org rm leaf", rc == 0, f"rc={rc} {err}")
    expected.append(("org.delete", f"org:{orgs['浦东支行']}"))
    rc, _, _ = a.run("org", "show", "浦东支行")
    check("deleted org gone", rc == 3, f"rc={rc}")

    # ---- audit ----
    rc, j, err = a.json("audit", "list", "--limit", "1000")
    entries = j.get("entries") if isinstance(j, dict) else j
    ok = rc == 0 and isinstance(entries, list)
    check("audit list --json", ok, f"rc={rc} {err} {str(j)[:300]}")
    entries = entries if ok else []
    for action, target in expected:
        hit = [e for e in entries if e.get("action") == action
               and (target is None or e.get("target") == target)]
        check(f"audited {action} {target or ''}", hit, action)
    check("audit actor is the CLI operator",
          entries and all(str(e.get("actor", "")).startswith("cli:") for e in entries
                          if e.get("action", "").split(".")[0] in
                          ("user", "org", "role", "position", "kb", "ldap", "token")),
          str(entries[:2]))
    creates = [e for e in entries if e.get("action") == "user.create"]
    check("refused user adds not audited", len(creates) == 4, str(creates))  # alice bob carol dave
    dump = json.dumps(entries)
    check("audit holds no password or token",
          all(s not in dump for s in (PW1, PW2, PW3, token, token2, token[4:])), "secret leaked")
    rc, out, err = a.run("audit", "verify")
    check("audit verify → 0", rc == 0, f"rc={rc} {out} {err}")


if __name__ == "__main__":
    sys.exit(main())
