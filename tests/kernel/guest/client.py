#!/usr/bin/env python3
"""A client for kernel tests: prints which pod answered each request, one line per request.

usage: client.py tcp|udp HOST PORT [--count N] [--pause SECONDS] [--timeout SECONDS] [--source ADDR]
                 [--sport P]
       client.py hold HOST PORT --seconds S [--interval SECONDS]

Each request opens a new connection (TCP) or socket (UDP) and prints the first word of the
answer (the pod's name), or "ERR timeout" / "ERR refused" / "ERR <reason>". --pause waits between
requests (steady traffic that does not fill the guest's conntrack table: each closed connection
stays there for two minutes in TIME_WAIT).
"hold" keeps one TCP connection open for S seconds, sending a line every interval, and prints
the server's name once, then "held N" with the number of answered lines, or "ERR ..." and the
count so far when the connection breaks. With --rst it ends the connection with a reset (IPVS
then forgets it within seconds; after a FIN close IPVS keeps it in TIME_WAIT for two minutes).
"""
import argparse
import socket
import struct
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def one(proto, host, port, timeout, source, sport):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(host), kind)
    s.settimeout(timeout)
    try:
        if source or sport:
            if sport:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((source or ("::" if ":" in host else "0.0.0.0"), sport or 0))
        if proto == "tcp":
            s.connect((host, port))
            data = s.recv(256)
        else:
            s.sendto(b"hello\n", (host, port))
            data, _ = s.recvfrom(256)
        words = data.decode(errors="replace").split()
        return words[0] if words else "ERR empty"
    except socket.timeout:
        return "ERR timeout"
    except ConnectionRefusedError:
        return "ERR refused"
    except OSError as e:
        return "ERR " + (e.strerror or str(e)).replace(" ", "_")
    finally:
        s.close()


def hold(host, port, seconds, interval, timeout, rst):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    if rst:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(timeout)
    n = 0
    try:
        s.connect((host, port))
        f = s.makefile("rb")
        print(f.readline().decode().split()[0], flush=True)
        end = time.time() + seconds
        while time.time() < end:
            s.sendall(b"ping\n")
            line = f.readline()
            if not line:
                print(f"ERR closed {n}", flush=True)
                return
            n += 1
            time.sleep(interval)
        print(f"held {n}", flush=True)
    except OSError as e:
        print(f"ERR {type(e).__name__} {n}", flush=True)
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("proto", choices=["tcp", "udp", "hold"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--source")
    p.add_argument("--sport", type=int, default=0, help="source port (same flow every time)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--rst", action="store_true")
    a = p.parse_args()
    if a.proto == "hold":
        hold(a.host, a.port, a.seconds, a.interval, a.timeout, a.rst)
        return
    for i in range(a.count):
        if i and a.pause:
            time.sleep(a.pause)
        print(one(a.proto, a.host, a.port, a.timeout, a.source, a.sport), flush=True)


if __name__ == "__main__":
    main()
