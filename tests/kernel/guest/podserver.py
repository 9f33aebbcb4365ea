#!/usr/bin/env python3
"""A pod's server for kernel tests: answers every TCP connection and UDP datagram with its name.

usage: podserver.py NAME PORT [PORT...]

TCP: sends "NAME\n" on accept, then answers each line it receives with "NAME <line>\n" until the
client closes (so a test can hold a connection open). UDP: answers each datagram with "NAME\n".
Listens on :: with IPv4 mapped, so one socket per port serves both families.
"""
import selectors
import socket
import sys


def main():
    name = sys.argv[1].encode()
    ports = [int(p) for p in sys.argv[2:]]
    sel = selectors.DefaultSelector()
    for port in ports:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        t.bind(("::", port))
        t.listen(128)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, "accept")
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        u.bind(("::", port))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, "udp")
    print(f"{name.decode()} listening on {ports}", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == "accept":
                try:
                    c, _ = s.accept()
                except OSError:
                    continue
                c.setblocking(False)
                try:
                    c.send(name + b"\n")
                except OSError:
                    c.close()
                    continue
                sel.register(c, selectors.EVENT_READ, "conn")
            elif key.data == "udp":
                try:
                    data, addr = s.recvfrom(2048)
                    s.sendto(name + b"\n", addr)
                except OSError:
                    pass
            else:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    continue
                for line in data.splitlines():
                    try:
                        s.send(name + b" " + line + b"\n")
                    except OSError:
                        pass


if __name__ == "__main__":
    main()
