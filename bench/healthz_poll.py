"""A probe for bench/scale_guest.sh: GET a URL every INTERVAL ms until SIGTERM, as a kubelet or
a cloud load balancer probes kipvs's healthz port, and write one line per request to OUT:

    <start, ms since epoch> <latency ms> <status>

status is the HTTP status, 0 when the request failed or timed out (latency is then the time
until it did), -1 when the connection was refused (nothing listens yet). A request starts
INTERVAL ms after the previous one started, or at once when that one took longer. One process
for the whole benchmark: the guest has one CPU, and a program started every 50 ms would cost
kipvs a share of it. Python because it starts in a fraction of Deno's time in the guest and
needs nothing installed.

usage: healthz_poll.py URL OUT [INTERVAL_MS] [TIMEOUT_MS]
"""

import http.client
import signal
import sys
import time
import urllib.parse


def main() -> None:
    url = urllib.parse.urlsplit(sys.argv[1])
    out = open(sys.argv[2], "w", buffering=1)
    interval = float(sys.argv[3] if len(sys.argv) > 3 else 50) / 1000
    timeout = float(sys.argv[4] if len(sys.argv) > 4 else 5000) / 1000
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        started = time.time()
        t0 = time.monotonic()
        status = 0
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        try:
            conn.request("GET", url.path or "/")
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except ConnectionRefusedError:
            status = -1
        except OSError:
            status = 0
        finally:
            conn.close()
        took = time.monotonic() - t0
        out.write(f"{int(started * 1000)} {took * 1000:.1f} {status}\n")
        rest = interval - took
        if rest > 0 and not stop:
            time.sleep(rest)
    out.close()


if __name__ == "__main__":
    main()
