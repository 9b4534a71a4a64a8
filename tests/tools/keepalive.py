#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Idle HTTP/1.1 keep-alive connections across rounds.

  keepalive.py DST FIRST ROUNDS CMD PORT COUNT [PORT2 COUNT2]
      COUNT connections to DST:PORT from source ports FIRST.., then COUNT2
      attempts at DST:PORT2 (those refused are left out: a port only some
      members serve); each asks once (GET /) and keeps the member's name.
      Each round runs CMD (with ROUND set), then asks once more on every
      connection; prints per round and port how many answered from their
      first member ("ok"), from another ("moved"), were reset, closed, or
      went unanswered ("lost", 20 s), and the slowest answer or reset.
"""
import os
import socket
import subprocess
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: cluster\r\n\r\n"


def connect(dst, port, sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.settimeout(10)
    s.connect((dst, port))
    return s


def ask(s):
    """The name in the answer, or reset, closed, lost."""
    s.settimeout(20)
    try:
        s.sendall(REQ)
        buf = b""
        while b"\r\n\r\n" not in buf or not buf.endswith(b"\n") or buf.endswith(b"\r\n\r\n"):
            got = s.recv(4096)
            if not got:
                return "closed"
            buf += got
        return buf.split(b"\r\n\r\n", 1)[1].decode().strip()
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except socket.timeout:
        return "lost"


def main():
    dst, first, rounds, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    groups = [(int(sys.argv[i]), int(sys.argv[i + 1]), i > 5) for i in range(5, len(sys.argv), 2)]
    conns = []
    sport = first
    for port, count, optional in groups:
        for _ in range(count):
            sport += 1
            try:
                s = connect(dst, port, sport)
            except OSError:
                if optional:
                    continue
                raise
            conns.append((port, sport, s, ask(s)))
        by = {}
        for p, _, _, name in conns:
            if p == port:
                by[name] = by.get(name, 0) + 1
        print(f"# port {port}: {sum(by.values())} connections held, by member: "
              f"{dict(sorted(by.items()))}", flush=True)
    for r in range(1, rounds + 1):
        subprocess.run(cmd, shell=True, check=True, env=dict(os.environ, ROUND=str(r)))
        tally = {}
        for port, sport, s, name in conns:
            t0 = time.monotonic()
            got = ask(s)
            dt = time.monotonic() - t0
            kind = got if got in ("reset", "closed", "lost") else "ok" if got == name else "moved"
            t = tally.setdefault(port, {"ok": 0, "moved": 0, "reset": 0, "closed": 0, "lost": 0,
                                        "slowest": 0.0})
            t[kind] += 1
            t["slowest"] = max(t["slowest"], dt)
            if kind != "ok":
                print(f"# round {r}: port {port} sport {sport} of {name}: {got} in {dt:.2f} s")
        for port, t in tally.items():
            slow = t.pop("slowest")
            print(f"round {r} port {port} " + " ".join(f"{k}={v}" for k, v in t.items())
                  + f" slowest={slow:.2f}", flush=True)


if __name__ == "__main__":
    main()
