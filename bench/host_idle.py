#!/usr/bin/env python3
"""How busy the host is while a command runs: samples the idle share of all
cores from /proc/stat every --every seconds and prints one line per sample
("seconds idle%"), then the command's exit code is this script's.
  bench/host_idle.py [--every 0.1] -- COMMAND [ARGS...]
Example (docs/BENCHMARKS.md, round seven):
  RAMP_MS=1000 bench/host_idle.py -- bench/assist.sh 1000 > /tmp/idle.txt"""
import argparse
import subprocess
import sys
import time


def snap():
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # all, idle + iowait


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=float, default=0.1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("a command to run is needed")
    proc = subprocess.Popen(cmd, stdout=sys.stderr)
    t0, last = time.monotonic(), snap()
    while proc.poll() is None:
        time.sleep(args.every)
        cur = snap()
        total, idle = cur[0] - last[0], cur[1] - last[1]
        if total > 0:
            print("%.1f %.0f" % (time.monotonic() - t0, 100.0 * idle / total), flush=True)
        last = cur
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
