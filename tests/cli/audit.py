#!/usr/bin/env python3
"""Drives `atrium audit verify|list` in a temporary data folder.

The entries are written here with Python's sqlite3 module, chained with the
hash formula of docs/AUDIT.md computed independently in Python, so a pass
also cross-checks the formula against src/auth/audit.c. Then the log is
tampered with (triggers dropped, rows edited or deleted) and verify must
name the first bad entry. Prints "cli-audit: N passed, N failed".

Usage: tests/cli/audit.py [--atrium build/atrium]
"""
import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

PASSED = 0
FAILED = 0
GENESIS = "0" * 64
T0 = 1700000000000  # 2023-11-14 22:13:20 UTC, in ms


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print(f"not ok {name}" + (f": {detail}" if detail else ""))


def audit_hash(prev, rid, ts, user_id, actor, action, target, detail, ip):
    """sha256 over prev_hash, then each field as "<byte length>:<bytes>\\n"."""
    h = hashlib.sha256(prev.encode())
    for f in (str(rid), str(ts), str(user_id), actor, action, target, detail, ip):
        b = f.encode("utf-8")
        h.update(str(len(b)).encode() + b":" + b + b"\n")
    return h.hexdigest()


class Atrium:
    def __init__(self, exe, data):
        self.exe = exe
        self.data = data
        self.db = os.path.join(data, "atrium.db")

    def run(self, *args):
        env = dict(os.environ)
        env.pop("ATRIUM_CONFIG", None)
        env.pop("ATRIUM_DATA", None)
        env["TZ"] = "UTC"
        p = subprocess.run([self.exe, "--data", self.data, *args], capture_output=True,
                           timeout=60, env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")

    def json(self, *args):
        rc, out, err = self.run("--json", *args)
        try:
            return rc, json.loads(out), err
        except ValueError:
            return rc, None, err + "\n[stdout] " + out

    def sql(self, *statements):
        con = sqlite3.connect(self.db)
        try:
            for s in statements:
                con.execute(s)
            con.commit()
        finally:
            con.close()

    def rows(self):
        con = sqlite3.connect(self.db)
        try:
            return con.execute("SELECT id, ts, user_id, actor, action, target, detail, ip,"
                               " prev_hash, hash FROM audit_log ORDER BY id").fetchall()
        finally:
            con.close()

    def append(self, entries):
        """Appends (ts, user_id, actor, action, target, detail, ip) tuples,
        chained after the last row. Returns their hashes."""
        con = sqlite3.connect(self.db)
        hashes = []
        try:
            last = con.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            rid, prev = last if last else (0, GENESIS)
            for ts, uid, actor, action, target, detail, ip in entries:
                rid += 1
                h = audit_hash(prev, rid, ts, uid, actor, action, target, detail, ip)
                con.execute("INSERT INTO audit_log(id, ts, user_id, actor, action, target, detail,"
                            " ip, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (rid, ts, uid, actor, action, target, detail, ip, prev, h))
                hashes.append(h)
                prev = h
            con.commit()
        finally:
            con.close()
        return hashes


ENTRIES = [
    (T0, 1, "alice", "auth.login", "", "{}", "10.1.2.3"),
    (T0 + 60000, 1, "alice", "kb.ask", "kb:1",
     json.dumps({"question": "票据挂失后几天内申请公示催告", "kbs": [1], "chunks": [4, 9]},
                ensure_ascii=False, separators=(",", ":"), sort_keys=True), "10.1.2.3"),
    (T0 + 120000, 2, "王芳", "kb.search", "kb:2", '{"query":"大额取款"}', "::1"),
    (T0 + 180000, 0, "cli:root", "user.create", "user:2", '{"username":"王芳"}', ""),
]


def ids(doc):
    return [e["id"] for e in (doc or {}).get("entries", [])]


def test_empty(a):
    rc, out, err = a.run("audit", "verify")
    check("verify empty: exit 0", rc == 0, f"rc={rc} {err}")
    check("verify empty: says intact", "audit log intact: 0 entries" in out, out)
    rc, doc, err = a.json("audit", "verify")
    check("verify empty --json", rc == 0 and doc == {
        "ok": True, "checked": 0, "head_id": 0, "head_hash": GENESIS, "bad_id": None,
        "error": None}, f"rc={rc} {doc} {err}")
    rc, doc, err = a.json("audit", "list")
    check("list empty", rc == 0 and doc == {"entries": [], "next_before_id": None}, f"{doc} {err}")


def test_intact(a, hashes):
    rc, out, err = a.run("audit", "verify")
    check("verify: exit 0", rc == 0, f"rc={rc} {err}")
    check("verify: head named", f"4 entries, head #4 {hashes[3]}" in out, out)
    rc, doc, err = a.json("audit", "verify")
    check("verify --json", rc == 0 and doc and doc["ok"] is True and doc["checked"] == 4 and
          doc["head_id"] == 4 and doc["head_hash"] == hashes[3] and doc["bad_id"] is None,
          f"{doc} {err}")

    # --expect: the head, an earlier head (the log grew since), a wrong one.
    rc, out, err = a.run("audit", "verify", "--expect", hashes[3].upper())
    check("expect head: exit 0", rc == 0, f"rc={rc} {err}")
    rc, out, err = a.run("audit", "verify", "--expect", hashes[1])
    check("expect earlier head: exit 0", rc == 0, f"rc={rc} {err}")
    check("expect earlier head: says where", "entry #2 is in the chain, 2 entries after" in out,
          out)
    rc, out, err = a.run("audit", "verify", "--expect", "ab" * 32)
    check("expect wrong: exit 1", rc == 1, f"rc={rc}")
    check("expect wrong: says so", "differs from the expected hash" in err, err)
    rc, doc, err = a.json("audit", "verify", "--expect", "ab" * 32)
    check("expect wrong --json", rc == 1 and doc and doc["ok"] is False and
          doc["bad_id"] is None and "not in the chain" in (doc["error"] or ""), f"{doc}")
    rc, out, err = a.run("audit", "verify", "--expect", "xyz")
    check("expect malformed: exit 2", rc == 2, f"rc={rc}")


def test_list(a, hashes):
    rc, doc, err = a.json("audit", "list")
    check("list: newest first", rc == 0 and ids(doc) == [4, 3, 2, 1], f"{doc} {err}")
    e = doc["entries"][2] if doc and len(doc.get("entries", [])) == 4 else {}
    check("list: entry fields", e.get("actor") == "alice" and e.get("action") == "kb.ask" and
          e.get("target") == "kb:1" and e.get("ts") == T0 + 60000 and e.get("user_id") == 1 and
          e.get("ip") == "10.1.2.3" and e.get("hash") == hashes[1], f"{e}")
    check("list: detail parsed", isinstance(e.get("detail"), dict) and
          e["detail"].get("chunks") == [4, 9], f"{e}")
    rc, doc, _ = a.json("audit", "list", "--user", "alice")
    check("list --user", ids(doc) == [2, 1], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--user", "王芳")
    check("list --user (CJK)", ids(doc) == [3], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--action", "kb.")
    check("list --action prefix", ids(doc) == [3, 2], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--action", "kb.ask")
    check("list --action exact", ids(doc) == [2], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--action", "kb")
    check("list --action no implicit prefix", ids(doc) == [], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--since", str((T0 + 60000) // 1000))
    check("list --since unix seconds", ids(doc) == [4, 3, 2], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--since", str(T0 + 60000), "--until", str(T0 + 120000))
    check("list --since/--until ms", ids(doc) == [3, 2], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--until", "2023-11-14T22:14:20Z")
    check("list --until ISO", ids(doc) == [2, 1], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--since", "2023-11-15")
    check("list --since date", rc == 0 and ids(doc) == [], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--until", "2023-11-14")
    check("list --until date includes the day", ids(doc) == [4, 3, 2, 1], f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--limit", "3")
    check("list --limit", ids(doc) == [4, 3, 2] and doc["next_before_id"] == 2, f"{doc}")
    rc, doc, _ = a.json("audit", "list", "--limit", "3", "--before", "2")
    check("list --before", ids(doc) == [1] and doc["next_before_id"] is None, f"{doc}")
    rc, _, _ = a.run("audit", "list", "--limit", "0")
    check("list --limit 0: usage error", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("audit", "list", "--since", "last tuesday")
    check("list --since garbage: usage error", rc == 2, f"rc={rc}")
    rc, out, err = a.run("audit", "list")
    check("list text: exit 0", rc == 0, err)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((T0 + 120000) // 1000))
    line = next((l for l in out.splitlines() if l.startswith("3 ")), "")
    check("list text: row", stamp in line and "王芳" in line and "kb.search" in line and
          "kb:2" in line, out)


def test_c_entry_matches_python(a):
    """An entry written by the C code (a user created from the CLI) chains
    onto the Python ones and hashes the same way in Python."""
    env = dict(os.environ, TZ="UTC")
    p = subprocess.run([a.exe, "--data", a.data, "user", "add", "zhangwei"],
                       input=b"Audit-Test-Passw0rd!\n", capture_output=True, timeout=60, env=env)
    if p.returncode != 0:
        print("skip: `atrium user add` did not run:", p.stderr.decode("utf-8", "replace")[:200])
        return
    rows = a.rows()
    check("C entry appended", len(rows) == 5 and rows[-1][4] == "user.create", f"{rows[-1:]}")
    rid, ts, uid, actor, action, target, detail, ip, prev, h = rows[-1]
    check("C entry links to the Python head", prev == rows[-2][9], f"{prev}")
    check("C entry hash = Python formula",
          h == audit_hash(prev, rid, ts, uid, actor, action, target, detail, ip), f"{rows[-1]}")
    check("C entry detail compact and sorted",
          detail == json.dumps(json.loads(detail), ensure_ascii=False, separators=(",", ":"),
                               sort_keys=True), detail)
    rc, _, err = a.run("audit", "verify")
    check("verify after C entry", rc == 0, err)


def test_tamper(a, hashes):
    # The triggers refuse edits while they exist.
    try:
        a.sql("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
        check("trigger refuses UPDATE", False)
    except sqlite3.DatabaseError as e:
        check("trigger refuses UPDATE", "append-only" in str(e), str(e))
    try:
        a.sql("DELETE FROM audit_log WHERE id = 4")
        check("trigger refuses DELETE", False)
    except sqlite3.DatabaseError as e:
        check("trigger refuses DELETE", "append-only" in str(e), str(e))
    a.sql("DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete")

    # Deleting the newest entries is invisible inside the chain, but not
    # against a head kept elsewhere.
    head = a.rows()[-1][9]
    n = len(a.rows())
    a.sql(f"DELETE FROM audit_log WHERE id = {n}")
    rc, out, err = a.run("audit", "verify")
    check("tail cut: chain alone intact", rc == 0, err)
    rc, out, err = a.run("audit", "verify", "--expect", head)
    check("tail cut: --expect exit 1", rc == 1, f"rc={rc}")
    check("tail cut: --expect says so", "differs from the expected hash" in err, err)

    # An edited entry.
    a.sql("UPDATE audit_log SET detail = '{\"question\":\"别的\"}' WHERE id = 2")
    rc, out, err = a.run("audit", "verify")
    check("edit: exit 1", rc == 1, f"rc={rc} {out}")
    check("edit: names the entry", "audit log tampered: first bad entry #2" in err and
          "hash mismatch" in err, err)
    rc, doc, err = a.json("audit", "verify")
    check("edit --json", rc == 1 and doc and doc["ok"] is False and doc["bad_id"] == 2 and
          doc["checked"] == 1 and doc["head_id"] == 1 and "entry 2" in (doc["error"] or ""),
          f"{doc}")

    # A careful forger re-hashes the edited entry: the next link breaks.
    r = [x for x in a.rows() if x[0] == 2][0]
    forged = audit_hash(r[8], 2, r[1], r[2], r[3], r[4], r[5], r[6], r[7])
    a.sql(f"UPDATE audit_log SET hash = '{forged}' WHERE id = 2")
    rc, out, err = a.run("audit", "verify")
    check("rehash: exit 1 at the next entry", rc == 1 and "first bad entry #3" in err and
          "link broken" in err, err)


def test_gap(exe, tmp):
    a = Atrium(exe, os.path.join(tmp, "gap"))
    rc, _, err = a.run("audit", "verify")
    check("gap store: created", rc == 0, err)
    a.append(ENTRIES[:3])
    a.sql("DROP TRIGGER audit_no_delete", "DELETE FROM audit_log WHERE id = 2")
    rc, doc, err = a.json("audit", "verify")
    check("gap: bad entry 3", rc == 1 and doc and doc["bad_id"] == 3 and
          "id gap" in (doc["error"] or ""), f"{doc} {err}")


def run_tests(exe, tmp):
    a = Atrium(exe, os.path.join(tmp, "data"))
    test_empty(a)
    hashes = a.append(ENTRIES)
    test_intact(a, hashes)
    test_list(a, hashes)
    test_c_entry_matches_python(a)
    test_tamper(a, hashes)
    test_gap(exe, tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atrium", default="build/atrium")
    args = ap.parse_args()
    exe = os.path.abspath(args.atrium)
    if not os.access(exe, os.X_OK):
        check("atrium binary exists", False, exe)
        print(f"cli-audit: {PASSED} passed, {FAILED} failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="atrium-cli-audit-")
    try:
        run_tests(exe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cli-audit: {PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
