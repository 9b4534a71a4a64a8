#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw generic netlink for ipcluster's bad-input tests: messages clusteradm
would never send.

  genl.py send CMD TYPE:HEX...   one request; prints "errno MESSAGE" (0 = ok)
  genl.py fuzz COUNT SEED        COUNT random requests; prints errno counts
  genl.py join GROUP             joins multicast group GROUP; prints its errno
  genl.py sock CMD [HOST:PORT]   CMD with attribute 1 the descriptor of a new
                                 TCP socket (connected to HOST:PORT if given)
"""
import os
import random
import socket
import struct
import sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1


def attr(t, data):
    a = struct.pack("HH", 4 + len(data), t) + data
    return a + b"\0" * (-len(a) % 4)


def attrs(buf):
    while len(buf) >= 4:
        ln, t = struct.unpack_from("HH", buf)
        if ln < 4:
            break
        yield t & 0x3FFF, buf[4:ln]
        buf = buf[(ln + 3) & ~3:]


class Genl:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.s.setsockopt(270, NETLINK_EXT_ACK, 1)
        self.s.bind((0, 0))
        self.s.settimeout(5)
        self.seq = 0
        reply = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                             attr(CTRL_ATTR_FAMILY_NAME, b"ipcluster\0"), want_reply=True)
        self.family = next(struct.unpack("H", v[:2])[0]
                           for t, v in attrs(reply[4:]) if t == CTRL_ATTR_FAMILY_ID)
        self.groups = {}
        for t, v in attrs(reply[4:]):
            if t != CTRL_ATTR_MCAST_GROUPS:
                continue
            for _, grp in attrs(v):
                g = dict(attrs(grp))
                name = g[CTRL_ATTR_MCAST_GRP_NAME].rstrip(b"\0").decode()
                self.groups[name] = struct.unpack("I", g[CTRL_ATTR_MCAST_GRP_ID][:4])[0]

    def request(self, family, cmd, payload, want_reply=False, flags=NLM_F_REQUEST | NLM_F_ACK):
        self.seq += 1
        body = struct.pack("BBH", cmd, 1, 0) + payload
        self.s.send(struct.pack("IHHII", 16 + len(body), family, flags, self.seq, 0) + body)
        reply = None
        while True:
            data = self.s.recv(65536)
            while data:
                ln, typ, fl, seq, _ = struct.unpack_from("IHHII", data)
                msg = data[16:ln]
                data = data[(ln + 3) & ~3:]
                if typ == NLMSG_ERROR:
                    err = -struct.unpack_from("i", msg)[0]
                    text = ""
                    if fl & 0x200:  # NLM_F_ACK_TLVS: extack after the request header
                        inner_len = struct.unpack_from("I", msg, 4)[0]
                        off = 4 + (16 if fl & 0x100 else inner_len)  # CAPPED
                        for t, v in attrs(msg[off:]):
                            if t == NLMSGERR_ATTR_MSG:
                                text = v.rstrip(b"\0").decode()
                    if want_reply and err == 0:
                        return reply
                    return err, text
                reply = msg


def send(argv):
    g = Genl()
    payload = b""
    for spec in argv[1:]:
        t, _, hexdata = spec.partition(":")
        payload += attr(int(t), bytes.fromhex(hexdata))
    err, text = g.request(g.family, int(argv[0]), payload)
    print(err, text)


def sock(argv):
    s = socket.socket()
    if len(argv) > 1:
        host, _, port = argv[1].rpartition(":")
        s.connect((host, int(port)))
    g = Genl()
    err, text = g.request(g.family, int(argv[0]), attr(1, struct.pack("I", s.fileno())))
    print(err, text)


def fuzz(count, seed):
    rng = random.Random(seed)
    g = Genl()
    seen = {}
    for _ in range(count):
        payload = b""
        for _ in range(rng.randrange(0, 6)):
            t = rng.randrange(0, 20) | (0x8000 if rng.random() < 0.1 else 0)
            n = rng.choice([0, 1, 2, 4, 6, 8, 16, rng.randrange(0, 64)])
            payload += attr(t, bytes(rng.randrange(256) for _ in range(n)))
        cmd = rng.randrange(0, 12)
        try:
            err, _ = g.request(g.family, cmd, payload)
        except socket.timeout:
            err = "timeout"
        seen[err] = seen.get(err, 0) + 1
    print(" ".join(f"{k}:{v}" for k, v in sorted(seen.items(), key=str)))


def join(name):
    g = Genl()
    try:
        g.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g.groups[name])
        print(0)
    except OSError as e:
        print(e.errno)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2:])
    elif sys.argv[1] == "fuzz":
        fuzz(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "join":
        join(sys.argv[2])
    elif sys.argv[1] == "sock":
        sock(sys.argv[2:])
    else:
        sys.exit(__doc__)
