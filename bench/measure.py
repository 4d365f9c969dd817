#!/usr/bin/env python3
"""Runs a command several times; prints best and median wall time and the
peak resident memory of the child, as one JSON line.

  measure.py RUNS CMD [ARGS...]
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def main() -> None:
    runs = int(sys.argv[1])
    cmd = sys.argv[2:]
    walls, peak_kb = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        pid = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
        _, status, usage = os.wait4(pid, 0)
        walls.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            sys.exit(f"{cmd} failed with {status}")
        peak_kb = max(peak_kb, usage.ru_maxrss)
    print(json.dumps({"best_s": min(walls), "median_s": statistics.median(walls), "peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main()
