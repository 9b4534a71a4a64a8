#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Connections that end in a reset, for tests/tcp_export.sh and
tests/tcp_closed.sh. The server greets each connection with a line and
answers each line it receives with one (echo-member, flows.py serve-held).

  resets.py many DST PORT COUNT PARALLEL
        COUNT connections to DST:PORT, PARALLEL at a time, from the
        kernel's ephemeral ports: each reads the greeting, asks one line,
        reads the answer, then ends with a RST (SO_LINGER 0); prints
        "resets done=N failed=N seconds=S"
  resets.py one DST PORT SPORT STEP...
        one IPv4 connection from SPORT, then each STEP in turn:
          ask      send a line and read the answer (exit 1 without one)
          send     send a line, read nothing
          spoof    RSTs from the client's address that the server must
                   refuse: one far out of its window, one in it but not
                   at its next sequence number (a challenge ACK, RFC 5961)
          run:CMD  run shell command CMD
          rst      end with a RST (SO_LINGER 0)
        prints what each step did
"""
import selectors
import socket
import struct
import subprocess
import sys
import time

LINE = b"?\n"
TIMEOUT = 30.0


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def many(dst, port, count, parallel):
    sel = selectors.DefaultSelector()
    started = done = failed = 0
    t0 = time.monotonic()
    # Per connection: [socket, bytes read, asked, deadline]
    def start():
        nonlocal started
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((dst, port))
        sel.register(s, selectors.EVENT_WRITE, [s, b"", False, time.monotonic() + TIMEOUT])
        started += 1

    while started < min(parallel, count):
        start()
    while done + failed < count:
        for key, _ in sel.select(timeout=1.0):
            st = key.data
            s = st[0]
            try:
                if not st[2]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect")
                    s.send(LINE)
                    st[2] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                data = s.recv(4096)
                if not data:
                    raise OSError("closed by the server")
                st[1] += data
                if st[1].count(b"\n") < 2:
                    continue
                sel.unregister(s)
                rst_close(s)
                done += 1
            except OSError:
                sel.unregister(s)
                s.close()
                failed += 1
            if started < count:
                start()
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            st = key.data
            if now > st[3]:
                sel.unregister(st[0])
                st[0].close()
                failed += 1
                if started < count:
                    start()
    print(f"resets done={done} failed={failed} seconds={time.monotonic() - t0:.0f}")
    return 0 if failed == 0 else 1


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def tcp_rst(src, dst, sport, dport, seq):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, 0, 5 << 4, 0x04, 0, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    c = checksum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


class Sniffer:
    """The end of what our socket sent, from its own segments on the wire."""

    def __init__(self, sport):
        self.sport = sport
        self.end = None
        # Every protocol: a packet socket bound to one sees only packets
        # received, not those sent.
        self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
        self.raw.setblocking(False)

    def drain(self):
        while True:
            try:
                pkt, addr = self.raw.recvfrom(65535)
            except BlockingIOError:
                return self.end
            if addr[1] != 0x0800 or len(pkt) < 20:
                continue
            ihl = (pkt[0] & 0x0f) * 4
            if pkt[9] != 6 or len(pkt) < ihl + 20:
                continue
            sport, _, seq = struct.unpack("!HHI", pkt[ihl:ihl + 8])
            if sport != self.sport:
                continue
            doff = (pkt[ihl + 12] >> 4) * 4
            flags = pkt[ihl + 13]
            total = struct.unpack("!H", pkt[2:4])[0]
            end = (seq + total - ihl - doff + (flags & 0x03 != 0)) & 0xffffffff
            if self.end is None or ((end - self.end) & 0xffffffff) < 1 << 31:
                self.end = end


def one(dst, port, sport, steps):
    sniff = Sniffer(sport)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.settimeout(TIMEOUT)
    s.connect((dst, port))
    src = s.getsockname()[0]
    buf = b""
    need = 1  # the greeting
    for step in steps:
        if step in ("ask", "send"):
            s.send(LINE)
            need += 1
            if step == "send":
                print("sent")
                continue
            while buf.count(b"\n") < need:
                data = s.recv(4096)
                if not data:
                    sys.exit("closed without an answer")
                buf += data
            print("answered")
        elif step == "spoof":
            time.sleep(0.2)
            nxt = sniff.drain()
            if nxt is None:
                sys.exit("saw none of our own segments")
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
            for seq in (nxt + (1 << 31), nxt + 1):
                raw.sendto(tcp_rst(src, dst, sport, port, seq), (dst, 0))
            raw.close()
            print(f"spoofed resets at {nxt + (1 << 31) & 0xffffffff} and {nxt + 1 & 0xffffffff}")
        elif step.startswith("run:"):
            subprocess.run(step[4:], shell=True, check=False)
        elif step == "rst":
            rst_close(s)
            print("reset")
            return 0
        else:
            sys.exit(f"unknown step {step}")
    s.close()
    return 0


def main(argv):
    if argv[1] == "many":
        return many(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    if argv[1] == "one":
        return one(argv[2], int(argv[3]), int(argv[4]), argv[5:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
