#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""TCP state records (userspace-tool/core/src/tcpstate.rs), for forging.

  records.py SRC SPORT DST DPORT RECORD...

writes to standard output the records of the connection from SRC:SPORT
(the client) to DST:DPORT, named by its 4-tuple as every member names it
(`conn_id`), back to back. Each RECORD is one of:

  initial                 its Initial (MSS 1448, timestamps)
  essential:GEN           an Essential of generation GEN (sequence numbers
                          1000 out, 500 in, windows 65535)
  data:in|out:SEQ:LEN     a Data record of LEN bytes ('x') from SEQ
  closed                  its Closed
"""
import ipaddress
import struct
import sys

MASK = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK


def siphash24(key, msg):
    """SipHash-2-4 of `msg` under the 16-byte `key` (core/src/siphash.rs)."""
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & MASK
            v[1] = _rotl(v[1], 13) ^ v[0]
            v[0] = _rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & MASK
            v[3] = _rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & MASK
            v[3] = _rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & MASK
            v[1] = _rotl(v[1], 17) ^ v[2]
            v[2] = _rotl(v[2], 32)

    tail = len(msg) % 8
    words = [struct.unpack("<Q", msg[i:i + 8])[0] for i in range(0, len(msg) - tail, 8)]
    words.append(int.from_bytes(msg[len(msg) - tail:], "little") | ((len(msg) & 0xFF) << 56))
    for m in words:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def addr16(a):
    """An address as records carry it: IPv4 mapped into IPv6."""
    ip = ipaddress.ip_address(a)
    if ip.version == 4:
        return bytes(10) + b"\xff\xff" + ip.packed, False
    return ip.packed, True


def conn_id(src, dst, sport, dport):
    m = addr16(src)[0] + addr16(dst)[0] + struct.pack("<HH", sport, dport)
    return siphash24(b"ipcluster tcp id", m)


def initial(src, sport, dst, dport):
    (s, v6), (d, _) = addr16(src), addr16(dst)
    return struct.pack("<BBHB3xQ16s16sHH4x", 1, v6, 1448, 12, conn_id(src, dst, sport, dport),
                       s, d, sport, dport)


def essential(cid, gen):
    # Flags: window scaling and timestamps received, SACK.
    return struct.pack("<BBBBIQ10I", 2, 0x68, 7, 7, gen, cid,
                       1000, 500, 1000, 65535, 500, 65535, 0, 0, 500, 1000)


def data(cid, out, seq, n):
    return struct.pack("<BB2xIQI4x", 4, out, n, cid, seq) + b"x" * n


def closed(cid):
    return struct.pack("<B7xQ", 3, cid)


def build(src, sport, dst, dport, specs):
    cid = conn_id(src, dst, sport, dport)
    out = b""
    for spec in specs:
        kind, *args = spec.split(":")
        if kind == "initial":
            out += initial(src, sport, dst, dport)
        elif kind == "essential":
            out += essential(cid, int(args[0]))
        elif kind == "data":
            out += data(cid, args[0] == "out", int(args[1]), int(args[2]))
        elif kind == "closed":
            out += closed(cid)
        else:
            sys.exit(f"unknown record {spec}\n{__doc__}")
    return out


def _selftest():
    # The reference vectors (key 00..0f, message 00..n-1), as siphash.rs.
    key = bytes(range(16))
    for n, want in [(0, 0x726FDB47DD0E0E31), (1, 0x74F839C593DC67FD), (8, 0x93F5F5799A932462),
                    (15, 0xA129CA6149BE45E5)]:
        assert siphash24(key, bytes(range(n))) == want, n
    assert len(initial("192.0.2.2", 1, "192.0.2.100", 2)) == 56
    assert len(essential(1, 1)) == 56 and len(closed(1)) == 16 and len(data(1, 0, 0, 3)) == 27


if __name__ == "__main__":
    _selftest()
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    a = sys.argv
    sys.stdout.buffer.write(build(a[1], int(a[2]), a[3], int(a[4]), a[5:]))
