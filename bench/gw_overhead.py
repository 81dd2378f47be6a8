#!/usr/bin/env python3
"""The gateway's own overhead per answer (bench/assist.sh): pairs Atrium's
ask-trace lines (ATRIUM_ASK_TRACE: model_at = gw_chat's entry, first_at = the
first delta handed to the client's stream) with the fake model's GET /trace
lines (ID ARRIVED_MS FIRST_MS) by request id (Atrium sends its request id as
X-Request-Id). All times are CLOCK_MONOTONIC ms on one host.
  to_model   = arrived - model_at   (payload, curl, the loop, connect, send)
  from_model = first_at - first     (the loop reads, parses and pushes)
  overhead   = to_model + from_model; the model's own time is not in it.
Prints JSON: n, unpaired, and p50/p99/max of each.
  gw_overhead.py SERVE_LOG_LINES_FILE FAKE_TRACE_FILE"""
import json
import re
import sys


def pct(v, p):
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")


def main():
    atrium = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            m = re.search(r"\[([0-9a-f]+)\] ask trace .*model_at=([-0-9.]+) first_at=([-0-9.]+)", line)
            if m and float(m.group(2)) > 0 and float(m.group(3)) > 0:
                atrium[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    to_model, from_model, total = [], [], []
    unpaired = 0
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            a = atrium.pop(parts[0], None)
            if not a:
                unpaired += 1
                continue
            arrived, first = float(parts[1]), float(parts[2])
            to_model.append(arrived - a[0])
            from_model.append(a[1] - first)
            total.append(to_model[-1] + from_model[-1])
    out = {"n": len(total), "unpaired": unpaired + len(atrium)}
    for name, v in (("to_model", to_model), ("from_model", from_model), ("overhead", total)):
        v.sort()
        out[name] = {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": v[-1] if v else float("nan")}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
