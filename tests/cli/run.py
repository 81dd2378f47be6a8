#!/usr/bin/env python3
"""Drives build/atrium (the command-line tool) in a temporary data folder:
kb create / list / docs / ingest / synonyms, search, ask, eval, serve, exit
codes. Prints "cli: N passed, N failed" (the line tests/run-all.sh reads).

Usage: tests/cli/run.py [--atrium build/atrium]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSED = 0
FAILED = 0

# Fixtures: original text written for this test.
REG_MD = """# 示例银行票据业务管理办法

## 第一章 总则

第一条 为规范本行票据业务，保障客户资金安全，制定本办法。

第二条 本办法所称票据，是指银行汇票、商业汇票、本票和支票。

## 第二章 挂失与催告

第三条 票据丧失的，失票人可以及时通知付款行挂失止付，并应当在通知挂失止付后三日内向人民法院申请公示催告。

第四条 银行汇票的提示付款期限为自出票日起一个月；超过期限的，代理付款行不予受理。

第五条 支票的出票人不得签发与其预留本行签章不符的支票。
"""

CASH_TXT = """现金柜台操作要点

柜员每日营业终了应当轧账，做到账款相符。
大额现金支取须提前一日预约，五万元以上的取款应当登记客户身份信息。
发现假币的，应当当面收缴并加盖假币戳记，向客户出具收缴凭证。
"""

QUESTIONS = [
    {"id": "q1", "question": "票据丢了挂失止付以后几天内要去法院申请公示催告",
     "doc": "示例银行票据业务管理办法.md", "article": "第三条",
     "answer_keywords": ["挂失止付", "三日内"], "type": "procedure"},
    {"id": "q2", "question": "银行汇票的提示付款期限是多久",
     "doc": "示例银行票据业务管理办法.md", "article": "第四条",
     "answer_keywords": ["一个月"], "type": "number"},
    {"id": "q3", "question": "票据和假币分别怎么处理",
     "doc": "示例银行票据业务管理办法.md", "article": ["第三条", "第五条"],
     "answer_keywords": ["挂失止付"], "type": "condition"},
    {"id": "q4", "question": "发现假币怎么办", "doc": "现金柜台操作要点.txt",
     "answer_keywords": ["假币戳记"], "type": "procedure"},
]


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

    def run(self, *args, timeout=60, env_extra=None):
        env = dict(os.environ)
        env.pop("ATRIUM_CONFIG", None)
        env.pop("ATRIUM_DATA", None)
        env["ATRIUM_CHAT_URL"] = ""
        env.update(env_extra or {})
        p = subprocess.run([self.exe, "--data", self.data, *args], capture_output=True,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")

    def json(self, *args):
        rc, out, err = self.run("--json", *args)
        try:
            return rc, json.loads(out), err
        except ValueError:
            return rc, None, err + "\n[stdout] " + out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atrium", default="build/atrium")
    args = ap.parse_args()
    exe = os.path.abspath(args.atrium)
    if not os.access(exe, os.X_OK):
        check("atrium binary exists", False, exe)
        print(f"cli: {PASSED} passed, {FAILED} failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="atrium-cli-")
    try:
        run_tests(exe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cli: {PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


def run_tests(exe, tmp):
    a = Atrium(exe, os.path.join(tmp, "data"))
    docs = os.path.join(tmp, "docs")
    write(os.path.join(docs, "示例银行票据业务管理办法.md"), REG_MD)
    write(os.path.join(docs, "sub", "现金柜台操作要点.txt"), CASH_TXT)
    write(os.path.join(docs, "broken.docx"), os.urandom(3000))
    write(os.path.join(docs, ".hidden.md"), "# 隐藏\n\n第一条 不应导入。\n")

    # help, version, usage errors
    rc, out, _ = a.run("--help")
    check("help exit 0", rc == 0)
    check("help bilingual, every noun",
          all(w in out for w in ["用法", "usage", "kb ingest", "search", "ask", "eval", "serve"]),
          out[:200])
    rc, out, _ = a.run("version")
    check("version", rc == 0 and out.startswith("atrium "), out)
    for args in (("version", "--json"), ("--json", "version"), ("--version", "--json")):
        rc, out, err = a.run(*args)
        try:
            v = json.loads(out).get("version")
        except ValueError:
            v = None
        check("%s prints JSON" % " ".join(args), rc == 0 and isinstance(v, str) and v, out + err)
    # Messages quoting user input stay strict UTF-8 with no control sequences,
    # even when a byte limit cuts a character ("%.40s").
    for args in (("x" * 39 + "账",), ("--bogus\x1b]0;t\x07",), ("kb", "y" * 38 + "账户"),
                 ("search", "k", "q", "--engine", "\x1b[2J\udcff")):
        raw = subprocess.run([exe, "--data", a.data, *[w.encode("utf-8", "surrogateescape")
                                                        for w in args]],
                             capture_output=True, timeout=30)
        try:
            text = raw.stderr.decode("utf-8")
            ok = "\x1b" not in text and "\x07" not in text
        except UnicodeDecodeError:
            ok = False
        check("usage error is clean UTF-8: %r" % (args[-1][:12],), raw.returncode == 2 and ok,
              repr(raw.stderr[:200]))
    for cfg in (os.path.join(tmp, "no-such.conf"), tmp, "/dev/null"):
        rc, _, err = a.run("--config", cfg, "kb", "list")
        check("unreadable --config %s → 2" % os.path.basename(cfg), rc == 2 and "configuration" in err,
              f"rc={rc} {err}")
        rc, _, err = a.run("kb", "list", env_extra={"ATRIUM_CONFIG": cfg})
        check("unreadable ATRIUM_CONFIG %s → 2" % os.path.basename(cfg), rc == 2, f"rc={rc} {err}")
    rc, _, _ = a.run("version", "extra")
    check("version with an argument → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("version", "--bogus")
    check("version with an unknown option → 2", rc == 2, f"rc={rc}")
    rc, out, _ = a.run("help", "search")
    check("help search shows --top", rc == 0 and "--top" in out and "-k N" in out, out)
    rc, out, _ = a.run("help", "ask")
    check("help ask shows --no-synonyms, --top, --engine",
          rc == 0 and all(w in out for w in ["--no-synonyms", "--top", "--engine"]), out)
    rc, out, _ = a.run("help", "serve")
    check("help serve shows -p", rc == 0 and "-p N" in out and "--bind" in out, out)
    rc, out, _ = a.run("help", "eval")
    check("help eval shows --top", rc == 0 and "--top" in out, out)
    rc, _, err = a.run("search", "测试库", "问题", "--no-model")
    check("search --no-model → 2", rc == 2 and "--no-model" in err, f"rc={rc} {err}")
    rc, _, err = a.run("kb", "list", env_extra={"ATRIUM_LOG_LEVEL": "verbose\x1b[31m"})
    check("unknown ATRIUM_LOG_LEVEL warns",
          rc == 0 and "warning" in err and "verbose" in err and "\x1b" not in err,
          f"rc={rc} {err!r}")
    for lvl in ("debug", "info", "warn", "error", "off"):
        rc, _, err = a.run("kb", "list", env_extra={"ATRIUM_LOG_LEVEL": lvl})
        check("ATRIUM_LOG_LEVEL=%s accepted quietly" % lvl,
              rc == 0 and "unknown log level" not in err, f"rc={rc} {err}")
    rc, _, err = a.run("frobnicate")
    check("unknown command → 2", rc == 2, f"rc={rc}")
    check("error format", "错误 / error:" in err, err)
    rc, _, _ = a.run("--bogus", "kb", "list")
    check("unknown global option → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("search")
    check("search without args → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("kb")
    check("kb without verb → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run()
    check("no command → 2", rc == 2, f"rc={rc}")
    rc, out, _ = a.run("kb", "--help")
    check("kb --help", rc == 0 and "kb ingest" in out and "synonyms" in out, out)
    rc, out, _ = a.run("help", "eval")
    check("help eval", rc == 0 and "--limit" in out and "MRR@10" in out, out)

    # create
    rc, j, err = a.json("kb", "create", "测试库")
    check("kb create", rc == 0 and j and j.get("name") == "测试库", f"rc={rc} {err}")
    rc, _, err = a.run("kb", "create", "测试库")
    check("kb create duplicate fails", rc not in (0, 2, 3), f"rc={rc} {err}")
    rc, _, _ = a.run("search", "测试库", "x", "-k", "0")
    check("-k 0 → 2", rc == 2, f"rc={rc}")
    rc, _, _ = a.run("search", "测试库", "x", "--engine", "nope")
    check("--engine nope → 2", rc == 2, f"rc={rc}")

    # ingest: two good files, a broken docx, a dotfile skipped
    rc, out, err = a.run("kb", "ingest", "测试库", docs)
    check("ingest with a broken file → 4", rc == 4, f"rc={rc} {out} {err}")
    check("ingest summary counts", "新增 2" in out and "失败 1" in out and "added 2" in out,
          out)
    check("per-file error line", "✗ broken.docx" in err, err)
    check("no progress bar off a TTY", "[#" not in err, err)

    rc, j, err = a.json("kb", "ingest", "测试库", docs)
    check("re-ingest → 4 (broken again)", rc == 4, f"rc={rc}")
    check("re-ingest unchanged",
          j is not None and j.get("unchanged") == 2 and j.get("added") == 0
          and j.get("failed") == 1, str(j))
    check("ingest json has timing", j is not None and "elapsed_ms" in j, str(j))

    rc, out, err = a.run("kb", "ingest", "测试库", os.path.join(docs, "示例银行票据业务管理办法.md"))
    check("single unchanged file → 0", rc == 0 and "未变 1" in out, f"rc={rc} {out} {err}")
    rc, out, err = a.run("kb", "ingest", "测试库", os.path.join(docs, "missing.md"))
    check("missing path → 4", rc == 4 and "✗ missing.md" in err, f"rc={rc} {err}")

    # Many explicit paths (a shell glob): no limit on positional arguments,
    # options may still follow them.
    many = os.path.join(tmp, "many")
    paths = []
    for i in range(300):
        paths.append(os.path.join(many, "条款%03d.txt" % i))
        write(paths[-1], "第%d号规定 测试条款内容%d。\n" % (i, i))
    rc, j, err = a.json("kb", "create", "多文件库")
    rc, j, err = a.json("kb", "ingest", "多文件库", *paths, "--quiet")
    check("ingest 300 explicit paths", rc == 0 and j and j.get("added") == 300,
          f"rc={rc} {str(j)[:200]} {err[:300]}")
    rc, j, err = a.json("search", "多文件库", *(["测试条款"] * 300), "-k", "2")
    check("search with 300 words", rc == 0 and isinstance(j, list) and len(j) <= 2,
          f"rc={rc} {err[:300]}")

    # list / docs
    rc, j, err = a.json("kb", "list")
    ok = rc == 0 and isinstance(j, list) and any(k.get("name") == "测试库" for k in j)
    check("kb list --json", ok, str(j))
    if ok:
        kb = [k for k in j if k.get("name") == "测试库"][0]
        check("kb list counts docs", kb.get("documents") == 2, str(kb))
    rc, out, _ = a.run("kb", "list")
    check("kb list table", rc == 0 and "测试库" in out, out)
    rc, j, _ = a.json("kb", "docs", "测试库")
    names = sorted(d.get("name") for d in j) if isinstance(j, list) else []
    check("kb docs --json (dotfile skipped)",
          names == sorted(["现金柜台操作要点.txt", "示例银行票据业务管理办法.md"]), str(names))

    # search
    rc, j, err = a.json("search", "测试库", "挂失止付以后几天内申请公示催告", "-k", "3")
    ok = rc == 0 and isinstance(j, list) and len(j) >= 1
    check("search --json", ok, f"rc={rc} {err} {j}")
    if ok:
        check("search finds 第三条", j[0].get("label") == "第三条", str(j[0]))
        check("search -k 3 respected", len(j) <= 3, str(len(j)))
    rc, out, _ = a.run("search", "测试库", "银行汇票提示付款期限")
    check("search human output", rc == 0 and "《" in out and "1." in out, out)
    check("no ANSI off a TTY", "\x1b[" not in out, repr(out[:200]))
    rc, _, err = a.run("search", "无此库", "问题")
    check("unknown KB → 3", rc == 3, f"rc={rc} {err}")
    # Control sequences inside documents never reach the terminal.
    evil = os.path.join(tmp, "evil")
    write(os.path.join(evil, "恶意文本.txt"),
          "终端转义测试\x1b]0;pwned\x07 红色\x1b[31m文字 清屏\x1b[2J 结束。\n")
    rc, _, err = a.run("kb", "ingest", "测试库", evil)
    check("ingest control-char text", rc == 0, f"rc={rc} {err}")
    rc, out, _ = a.run("search", "测试库", "终端转义测试")
    check("search strips control chars", rc == 0 and "终端转义测试" in out and "\x1b" not in out
          and "\x07" not in out, repr(out[:300]))
    rc, out, _ = a.run("ask", "测试库", "终端转义测试", "--no-model")
    check("ask strips control chars", rc == 0 and "\x1b" not in out, repr(out[:300]))
    rc, j, _ = a.json("search", "测试库", "公示催告", "--engine", "fts5")
    check("search --engine fts5", rc == 0 and isinstance(j, list), f"rc={rc}")

    # ask
    rc, out, err = a.run("ask", "测试库", "汇票丢了挂失止付后多久申请公示催告", "--no-model")
    check("ask --no-model", rc == 0 and "[1]" in out and "《" in out, f"rc={rc} {out} {err}")
    rc, j, err = a.json("ask", "测试库", "银行汇票提示付款期限多长", "--no-model")
    check("ask --json", rc == 0 and isinstance(j, dict) and "answer" in j, f"rc={rc} {j} {err}")
    rc, _, _ = a.run("ask", "无此库", "问题")
    check("ask unknown KB → 3", rc == 3, f"rc={rc}")

    # ask with a (fake) model: streamed answer, citations; a failing model
    # falls back to the extractive answer with a notice.
    fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake_model.py")
    if os.path.exists(fake):
        portfile = os.path.join(tmp, "fake.port")
        fp = subprocess.Popen([sys.executable, fake, "--port", "0", "--port-file", portfile,
                               "--tokens", "40"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            port = None
            for _ in range(100):
                if os.path.exists(portfile) and open(portfile).read().strip():
                    port = int(open(portfile).read().strip())
                    break
                time.sleep(0.05)
            check("fake model started", port is not None)
            if port:
                model_env = {"ATRIUM_CHAT_URL": f"http://127.0.0.1:{port}/v1",
                             "ATRIUM_CHAT_MODEL": "fake-chat"}
                rc, out, err = a.run("ask", "测试库", "汇票丢了挂失止付后多久申请公示催告",
                                     env_extra=model_env)
                check("ask with a model streams an answer",
                      rc == 0 and "根据资料" in out and "[1]" in out and "《" in out,
                      f"rc={rc} {out} {err}")
                rc, j, err = a.run("--json", "ask", "测试库", "银行汇票提示付款期限多长",
                                   env_extra=model_env)[0], None, None
                check("ask --json with a model", rc == 0, f"rc={rc}")
                req = urllib.request.Request(f"http://127.0.0.1:{port}/control",
                                             data=json.dumps({"mode": "fail"}).encode(),
                                             method="POST",
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).close()
                rc, out, err = a.run("ask", "测试库", "汇票丢了挂失止付后多久申请公示催告",
                                     env_extra=model_env)
                check("model failure → extractive answer with a notice",
                      rc == 0 and "notice" in out and "[1]" in out, f"rc={rc} {out} {err}")
        finally:
            fp.terminate()
            try:
                fp.wait(timeout=5)
            except subprocess.TimeoutExpired:
                fp.kill()

    # eval
    qpath = os.path.join(tmp, "questions.jsonl")
    write(qpath, "\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS)
          + "\n{broken line\n")
    rc, j, err = a.json("eval", "测试库", qpath)
    ok = rc == 0 and isinstance(j, dict)
    check("eval --json", ok, f"rc={rc} {err}")
    if ok:
        keys = ["questions", "recall@1", "recall@5", "recall@10", "mrr@10", "all_articles@10",
                "answer_accuracy", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
                "failures"]
        check("eval keys", all(k in j for k in keys), str(sorted(j)))
        check("eval counts", j.get("questions") == 4 and j.get("skipped_lines") == 1, str(j))
        r1, r10 = j.get("recall@1", -1), j.get("recall@10", -1)
        check("eval recall sane", 0.5 <= r10 <= 1 and 0 <= r1 <= r10, f"{r1} {r10}")
        check("eval mrr sane", 0 < j.get("mrr@10", 0) <= 1, str(j.get("mrr@10")))
        check("eval latency sane",
              0 <= j.get("latency_ms_p50", -1) <= j.get("latency_ms_p99", -1) < 10000, str(j))
        acc = j.get("answer_accuracy")
        check("eval answer accuracy", acc is not None and 0 <= acc <= 1, str(acc))
        check("eval by_type", set(j.get("by_type", {})) == {"procedure", "number", "condition"},
              str(j.get("by_type")))
    check("eval warns about the bad line", "line 5" in err, err)
    rc, out, _ = a.run("eval", "测试库", qpath, "--limit", "2", "--no-answers")
    check("eval table", rc == 0 and "Recall@1" in out and "MRR@10" in out, out)
    rc, j, _ = a.json("eval", "测试库", qpath, "--limit", "1", "--no-answers")
    check("eval --limit", rc == 0 and j and j.get("questions") == 1
          and j.get("answer_accuracy") is None, str(j))
    rc, _, _ = a.run("eval", "测试库", os.path.join(tmp, "nope.jsonl"))
    check("eval missing file → 3", rc == 3, f"rc={rc}")
    rc, _, _ = a.run("eval", "测试库")
    check("eval usage → 2", rc == 2, f"rc={rc}")
    # Hostile question files: a clear error, never a crash or invalid UTF-8 on stderr.
    badu = os.path.join(tmp, "bad-utf8.jsonl")
    write(badu, b'{"id":"1","question":"\xff\xfe\xc0\xaf","doc":"a.md"}\n\xe4\xb8\n')
    rc, out, err = a.run("eval", "测试库", badu)
    raw = subprocess.run([exe, "--data", a.data, "eval", "测试库", badu],
                         capture_output=True, timeout=60).stderr
    try:
        raw.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        clean = False
    check("eval invalid UTF-8 → 2 with a message",
          rc == 2 and "line 1 skipped" in err and "no valid question" in err, f"rc={rc} {err}")
    check("eval invalid UTF-8: stderr stays UTF-8", clean, repr(raw[:300]))
    # A missing file whose name is not UTF-8 (surrogate and overlong bytes).
    nope = os.path.join(tmp, "nope").encode() + b"\xed\xa0\x80\xc0\xaf.jsonl"
    raw = subprocess.run([exe, "--data", a.data, "eval", "测试库", nope], capture_output=True,
                         timeout=60)
    try:
        raw.stderr.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        clean = False
    check("eval missing non-UTF-8 path → 3, clean message",
          raw.returncode == 3 and clean and b"no such file" in raw.stderr, repr(raw.stderr[:300]))
    fifo = os.path.join(tmp, "questions.fifo")
    os.mkfifo(fifo)
    try:
        rc, _, err = a.run("eval", "测试库", fifo, timeout=10)
        check("eval on a FIFO fails at once", rc == 1 and "not a regular file" in err,
              f"rc={rc} {err}")
    except subprocess.TimeoutExpired:
        check("eval on a FIFO fails at once", False, "hung for 10 s")
    big = os.path.join(tmp, "big.jsonl")
    write(big, '{"id":"1","question":"' + "问" * (10 * 1024 * 1024 // 3) + '","doc":"a.md"}\n'
          + json.dumps(QUESTIONS[0], ensure_ascii=False) + "\n")
    rc, j, err = a.json("eval", "测试库", big, "--no-answers")
    check("eval 10 MB line skipped, the rest evaluated",
          rc == 0 and j and j.get("questions") == 1 and j.get("skipped_lines") == 1
          and "longer than" in err, f"rc={rc} {err[:300]}")
    write(big, "x" * (10 * 1024 * 1024))
    rc, out, err = a.run("eval", "测试库", big)
    check("eval 10 MB garbage line → 2", rc == 2 and "longer than" in err and len(err) < 2000,
          f"rc={rc} {err[:300]}")

    # synonyms
    rc, j, err = a.json("kb", "synonyms", "测试库", "add", "挂失", "止付挂失")
    gid = j.get("id") if isinstance(j, dict) else None
    check("synonyms add", rc == 0 and isinstance(gid, int), f"rc={rc} {j} {err}")
    rc, out, _ = a.run("kb", "synonyms", "测试库")
    check("synonyms list", rc == 0 and "止付挂失" in out, out[:300])
    if gid:
        rc, _, _ = a.run("kb", "synonyms", "测试库", "delete", str(gid))
        check("synonyms delete", rc == 0, f"rc={rc}")
    rc, _, _ = a.run("kb", "synonyms", "测试库", "delete", "abc")
    check("synonyms delete bad id → 2", rc == 2, f"rc={rc}")

    # serve: port 0 prints the real port, SIGTERM stops it cleanly
    env = dict(os.environ)
    env.pop("ATRIUM_CONFIG", None)
    p = subprocess.Popen([exe, "--data", a.data, "serve", "--port", "0"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    port = None
    deadline = time.time() + 10
    line = b""
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    check("serve prints its port", port is not None and port > 0, line.decode("utf-8", "replace"))
    if port:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                check("serve answers /healthz", r.status == 200)
        except Exception as e:  # noqa: BLE001 - any failure is a test failure
            check("serve answers /healthz", False, str(e))
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -1
    p.stderr.close()
    check("serve exits 0 on SIGTERM", rc == 0, f"rc={rc}")

    killed_mid_ingest(exe, tmp)


def killed_mid_ingest(exe, tmp):
    """SIGKILL an ingest part-way: every document must then be either fully in
    (all its chunks) or absent, the store intact, and a re-run completes it."""
    a = Atrium(exe, os.path.join(tmp, "kill-data"))
    src = os.path.join(tmp, "kill-docs")
    n_docs, n_articles = 1500, 6
    for i in range(n_docs):
        body = "".join("第%s条 第%d号制度第%d条的内容，规定柜面业务的办理要求和时限。\n\n"
                       % (cn(j + 1), i, j + 1) for j in range(n_articles))
        write(os.path.join(src, "制度%04d.md" % i), "# 第%d号制度\n\n%s" % (i, body))
    rc, _, _ = a.run("kb", "create", "kill")
    check("kill: kb create", rc == 0)
    env = dict(os.environ)
    env["ATRIUM_CHAT_URL"] = ""
    kills = 0
    for delay in (0.15, 0.3, 0.6):
        p = subprocess.Popen([exe, "--data", a.data, "--quiet", "kb", "ingest", "kill", src],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        rc, docs, _ = a.json("kb", "docs", "kill")
        bad = [d for d in (docs if isinstance(docs, list) else docs.get("documents", []))
               if d.get("chunks") != n_articles]
        check("kill after %.2fs: every document whole or absent" % delay, rc == 0 and not bad,
              str(bad[:3]))
    check("kill: at least one ingest was killed part-way", kills > 0)
    db = os.path.join(a.data, "atrium.db")
    try:
        import sqlite3
        con = sqlite3.connect(db)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        counts = con.execute("SELECT ndocs, nchunks FROM kbs WHERE name = 'kill'").fetchone()
        real = con.execute("SELECT count(DISTINCT doc_id), count(*) FROM chunks c"
                           " JOIN kbs k ON k.id = c.kb_id WHERE k.name = 'kill'").fetchone()
        con.close()
        check("kill: store integrity ok", ok == "ok", ok)
        check("kill: KB counts match the rows", tuple(counts) == tuple(real), f"{counts} {real}")
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        check("kill: store readable", False, str(e))
    rc, rep, _ = a.json("kb", "ingest", "kill", src)
    check("kill: re-run completes", rc == 0 and rep.get("failed") == 0 and
          rep.get("added", 0) + rep.get("unchanged", 0) == n_docs, str(rep)[:200])
    rc, docs, _ = a.json("kb", "docs", "kill")
    docs = docs if isinstance(docs, list) else docs.get("documents", [])
    check("kill: all documents in after the re-run",
          len(docs) == n_docs and all(d.get("chunks") == n_articles for d in docs), str(len(docs)))


def cn(n):
    """Chinese numeral for 1..99, as regulations write article numbers."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


if __name__ == "__main__":
    sys.exit(main())
