#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Genuine datagrams of the cluster link where they do not belong, for
tests/link_replay.sh (the wire format: proto.rs; signing: forge.py).

  replay.py forge DST PORT CLUSTER PKI NAME SENDER KIND [COUNT]
        sends COUNT (1) datagrams of KIND (tcp-state, member-alive or
        leave-stale) that claim member id SENDER, carrying certificate
        PKI/NAME.pem and signed with PKI/NAME.key, their counters 10^12
        (eleven days of microseconds) ahead of the wall clock: far ahead
        of any counter the member has sent
  replay.py capture GROUP PORT DEV OUT SECONDS
        joins GROUP on DEV, waits up to SECONDS for a TCP state datagram
        to PORT, writes it to OUT and prints the member id it claims
  replay.py send DST PORT FILE [COUNT]
        sends the datagram in FILE COUNT (1) times
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forge  # noqa: E402

KINDS = {
    # kind, body
    "tcp-state": None,
    "member-alive": (7, struct.pack(">III", 1, 1, 1)),
    "leave-stale": (8, bytes([2])),
}
TCP_STATE = 9


def datagram(kind, sender, cluster, counter, cert):
    if KINDS[kind] is None:
        return forge.message(sender, cluster, counter, cert)
    k, body = KINDS[kind]
    head = b"IPCM" + struct.pack(">BBHIQHH", 1, k, sender, cluster, counter, len(body), len(cert))
    return head + body + cert


def do_forge(dst, port, cluster, pki, name, sender, kind, count=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cert = forge.der(f"{pki}/{name}.pem")
    counter = int(time.time() * 1e6) + 10**12
    for i in range(count):
        d = forge.signed(datagram(kind, sender, cluster, counter + i, cert), f"{pki}/{name}.key")
        s.sendto(d, (dst, port))
        time.sleep(0.02)
    print(f"sent {count} {kind} signed by {name} as member {sender} to {dst}:{port}")


def capture(group, port, dev, out, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    ifindex = socket.if_nametoindex(dev)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(group) + struct.pack("=II", 0, ifindex))
    deadline = time.time() + seconds
    while time.time() < deadline:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            d, src = s.recvfrom(65536)
        except socket.timeout:
            break
        if len(d) > 24 and d[:4] == b"IPCM" and d[5] == TCP_STATE:
            with open(out, "wb") as f:
                f.write(d)
            sender, = struct.unpack(">H", d[6:8])
            print(sender, src[0])
            return
    sys.exit("no TCP state datagram heard")


def send(dst, port, path, count=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d = open(path, "rb").read()
    for _ in range(count):
        s.sendto(d, (dst, port))
        time.sleep(0.02)
    print(f"sent the captured datagram {count} times to {dst}:{port}")


def main(argv):
    cmd, a = argv[1], argv[2:]
    if cmd == "forge":
        do_forge(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5]), a[6], *[int(x) for x in a[7:8]])
    elif cmd == "capture":
        capture(a[0], int(a[1]), a[2], a[3], float(a[4]))
    elif cmd == "send":
        send(a[0], int(a[1]), a[2], *[int(x) for x in a[3:4]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
