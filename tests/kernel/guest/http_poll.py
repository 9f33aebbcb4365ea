#!/usr/bin/env python3
"""Polls URLs for a while and prints how each answered.

usage: http_poll.py SECONDS INTERVAL URL...

Every INTERVAL seconds, one GET of each URL (timeout 5 s). At the end, one line per URL:
"URL n=<requests> failed=<count> p50_ms=<x> p99_ms=<x> max_ms=<x>".
"""
import sys
import time
import urllib.request


def main():
    seconds, interval, urls = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    times = {u: [] for u in urls}
    failed = {u: 0 for u in urls}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for u in urls:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(u, timeout=5) as r:
                    r.read()
            except Exception:  # an HTTP error status is an answer too, but not a good one
                failed[u] += 1
            times[u].append((time.monotonic() - t0) * 1000)
        time.sleep(interval)
    for u in urls:
        t = sorted(times[u])
        pick = lambda q: t[min(len(t) - 1, int(q * len(t)))] if t else 0
        print(f"{u} n={len(t)} failed={failed[u]} p50_ms={pick(0.5):.0f} "
              f"p99_ms={pick(0.99):.0f} max_ms={max(t) if t else 0:.0f}")


main()
