#!/usr/bin/env python3
"""One TCP connect, timed inside the process (the interpreter's start-up is not measured).

usage: e2e_connect.py HOST PORT [--timeout SECONDS]

Prints "open MS", "refused MS", "unreachable MS", "timeout MS" or "error:<errno name> MS". The
socket has a timeout, so the connect is non-blocking under the hood as in most real clients (Go,
curl, asyncio): an ICMP error that arrives while the kernel is still inside connect() fails it at
once, where a blocking connect() would only see it on the SYN's first retransmission.
"""
import argparse
import errno
import socket
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    start = time.monotonic()
    try:
        s.connect((a.host, a.port))
        verdict = "open"
    except socket.timeout:
        verdict = "timeout"
    except ConnectionRefusedError:
        verdict = "refused"
    except OSError as e:
        unreachable = (errno.ENETUNREACH, errno.EHOSTUNREACH)
        verdict = "unreachable" if e.errno in unreachable else "error:" + errno.errorcode.get(e.errno, "?")
    finally:
        s.close()
    print(verdict, round((time.monotonic() - start) * 1000))


if __name__ == "__main__":
    main()
