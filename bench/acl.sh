#!/usr/bin/env bash
# What the permission filter costs a search, beside unfiltered search in the
# same run (issue #3: less than 10%).
#   bench/acl.sh [ROUNDS]        (needs ../shared/bench; appends to bench/out/acl.md)
# A bank-sized directory is written straight into the store (1,111 orgs four
# levels deep, 30 positions, 5,000 users, 51 KBs with 1,091 grants, 41 of
# them on the KB searched), then build/acl_bench searches the bankregs dev
# questions ROUNDS times each, with and without the filter, alternating
# question by question so that the drift of a noisy machine hits both sides
# alike. The filtered side searches as a teller whose access comes from a
# grant to the grandparent of their department (the org branch of the rule).
# `atrium eval` then checks that the filter changes no ranking (same R@k).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
ROUNDS=${1:-20}
BIN=build/atrium
make -s "$BIN" build/acl_bench
OUT=bench/out
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/atrium-acl-XXXXXX)
trap 'rm -rf "$DATA"' EXIT
RES="$OUT/acl.md"

$BIN --data "$DATA" --quiet kb create regs >/dev/null
$BIN --data "$DATA" --quiet kb ingest regs "$SHARED/bankregs/docs" >/dev/null

python3 - "$DATA/atrium.db" <<'EOF'
import random, sqlite3, sys, time
random.seed(7)
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
c = db.cursor()
def org(name, parent, path):
    c.execute("INSERT INTO orgs(parent_id, name, path, created_at) VALUES (?,?,?,?)",
              (parent, name, "", now))
    oid = c.lastrowid
    p = (path or "/") + "%d/" % oid
    c.execute("UPDATE orgs SET path = ? WHERE id = ?", (p, oid))
    return oid, p
root, rp = org("恒远银行", None, "")
leaves, branches, subs = [], [], []
for b in range(10):
    bid, bp = org("分行%02d" % b, root, rp)
    branches.append(bid)
    for s in range(10):
        sid, sp = org("支行%02d" % s, bid, bp)
        subs.append(sid)
        for d in range(10):
            did, dp = org("部门%02d" % d, sid, sp)
            leaves.append(did)
positions = []
for i in range(30):
    c.execute("INSERT INTO positions(name, created_at) VALUES (?, ?)", ("岗位%02d" % i, now))
    positions.append(c.lastrowid)
role_user = c.execute("SELECT id FROM roles WHERE name = 'user'").fetchone()[0]
users = []
for i in range(5000):
    c.execute("INSERT INTO users(username, display_name, source, created_at, updated_at)"
              " VALUES (?, ?, 'ldap', ?, ?)", ("u%04d" % i, "用户%04d" % i, now, now))
    uid = c.lastrowid
    users.append(uid)
    c.execute("INSERT INTO user_roles(user_id, role_id) VALUES (?, ?)", (uid, role_user))
    c.execute("INSERT INTO org_members(org_id, user_id) VALUES (?, ?)",
              (random.choice(leaves), uid))
    for p in random.sample(positions, 2):
        c.execute("INSERT INTO user_positions(user_id, position_id) VALUES (?, ?)", (uid, p))
def grants(kb, n_org, n_pos, n_user, extra_org=None):
    picks = [("org", o) for o in random.sample(subs + leaves, n_org)]
    picks += [("position", p) for p in random.sample(positions, n_pos)]
    picks += [("user", u) for u in random.sample(users, n_user)]
    if extra_org:
        picks.append(("org", extra_org))
    for t, s in picks:
        c.execute("INSERT OR IGNORE INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
                  " VALUES (?, ?, ?, 1, ?)", (kb, t, s, now))
for k in range(50):
    c.execute("INSERT INTO kbs(name, kind, created_at) VALUES (?, 'enterprise', ?)",
              ("kb%02d" % k, now))
    grants(c.lastrowid, 10, 3, 8)
regs = c.execute("SELECT id FROM kbs WHERE name = 'regs'").fetchone()[0]
# regs: 40 grants that do not match the teller, and one to branch 3 that does
grants(regs, 10, 0, 30, extra_org=branches[3])
# the teller: a department of a sub-branch of branch 3, positions not granted
c.execute("INSERT INTO users(username, display_name, source, created_at, updated_at)"
          " VALUES ('teller', '柜员', 'ldap', ?, ?)", (now, now))
tid = c.lastrowid
c.execute("INSERT INTO user_roles(user_id, role_id) VALUES (?, ?)", (tid, role_user))
dept = c.execute("SELECT id FROM orgs WHERE path LIKE ? AND length(path) - length(replace(path, '/', '')) = 5",
                 ("%%/%d/%%" % branches[3],)).fetchone()[0]
c.execute("INSERT INTO org_members(org_id, user_id) VALUES (?, ?)", (dept, tid))
db.commit()
n = lambda t: c.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
print("directory: %d orgs, %d positions, %d users, %d KBs, %d grants" %
      (n("orgs"), n("positions"), n("users"), n("kbs"), n("kb_acl")))
EOF

./build/acl_bench "$DATA" regs teller "$SHARED/bankregs/dev.jsonl" "$ROUNDS" >"$OUT/acl-bench.json"
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
r5u=$($BIN --data "$DATA" --json eval regs "$SHARED/bankregs/dev.jsonl" --no-answers | j "d['recall@5']")
r5f=$($BIN --data "$DATA" --json eval regs "$SHARED/bankregs/dev.jsonl" --no-answers --as teller | j "d['recall@5']")
python3 - "$RES" "$OUT/acl-bench.json" "$r5u" "$r5f" <<'EOF'
import json, os, sys, time
res, path, r5u, r5f = sys.argv[1:]
d = json.load(open(path))
us = lambda k, p="p50": d[k][p] * 1000
line = ("| %s | %d | %.1f | %.1f | %+.1f%% | %+.1f%% | %.1f | %.1f | %.1f | %s / %s |" %
        (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), d["samples"], us("unfiltered"),
         us("filtered"), d["overhead_p50_pct"], d["overhead_mean_pct"], us("check"),
         us("kb_lookup"), us("kb_lookup_unfiltered"), r5u, r5f))
if not os.path.exists(res):
    with open(res, "w") as f:
        f.write("| run | searches per side | p50 µs unfiltered | p50 µs filtered | overhead p50 | "
                "overhead mean | check alone µs | KB lookup µs (filtered) | KB lookup µs "
                "(unfiltered) | R@5 unfiltered / filtered |\n")
        f.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
with open(res, "a") as f:
    f.write(line + "\n")
print(line)
EOF
