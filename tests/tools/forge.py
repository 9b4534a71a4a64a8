#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Forged TCP state updates for a member's daemon (proto.rs, tcpstate.rs).

  forge.py DST PORT CLUSTER PKI ROGUE

sends to DST:PORT, the daemon's TCP state link (the cluster link's port
+ 1), TcpState messages that claim to come from member 2 and carry the
state of a made-up connection: one with a real member's certificate and a signature that does not match, one
signed by a host of the cluster's CA that is no member (from this host's
address), the same datagram again (a replay), one signed by a stranger
(ROGUE: another CA's m5), and bytes that are no message at all.
"""
import base64
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def der(pem_path):
    lines = open(pem_path).read().split("\n")
    body = "".join(l for l in lines if l and not l.startswith("-----"))
    return base64.b64decode(body)


def records():
    """Initial and Essential of 192.0.2.77:1234 -> 192.0.2.100:7000."""
    mapped = lambda a: bytes(10) + b"\xff\xff" + socket.inet_aton(a)
    cid = 0x1234_5678_9ABC_DEF0
    initial = struct.pack("<BBHB3xQ16s16sHH4x", 1, 0, 1448, 12, cid,
                          mapped("192.0.2.77"), mapped("192.0.2.100"), 1234, 7000)
    essential = struct.pack("<BBBBIQ9I4x", 2, 0x68, 7, 7, 1, cid,
                            1000, 500, 1000, 65535, 500, 65535, 0, 0, 500)
    assert (len(initial), len(essential)) == (56, 56)
    return initial + essential


def message(sender, cluster, counter, cert, seq=1):
    recs = records()
    body = struct.pack(">QH", seq, len(recs)) + recs
    head = b"IPCM" + struct.pack(">BBHIQHH", 1, 9, sender, cluster, counter, len(body), len(cert))
    return head + body + cert


def signed(msg, key_path):
    # An Ed25519 PKCS#8 key (RFC 8410, with or without its public key):
    # the 32-byte seed follows a fixed 16-byte prefix. (Older cryptography
    # releases cannot load the form that carries the public key.)
    key = der(key_path)
    assert key[5:12] == bytes.fromhex("300506032b6570"), "not an Ed25519 key"
    return msg + Ed25519PrivateKey.from_private_bytes(key[16:48]).sign(msg)


def main(argv):
    dst, port, cluster, pki, rogue = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    counter = int(time.time() * 1e6)
    sent = []
    # A member's certificate, somebody else's signature.
    sent.append(message(2, cluster, counter, der(f"{pki}/m2.pem")) + bytes(64))
    # A certificate of the cluster's CA, well signed, claiming member 2.
    good = signed(message(2, cluster, counter + 1, der(f"{pki}/m9.pem")), f"{pki}/m9.key")
    sent += [good, good]
    # A stranger, well signed.
    sent.append(signed(message(2, cluster, counter + 2, der(f"{rogue}/m5.pem")), f"{rogue}/m5.key"))
    # Not a message.
    sent += [b"IPCM\x01\x09" + bytes(10), b"\xff" * 300]
    for d in sent:
        s.sendto(d, (dst, port))
        time.sleep(0.05)
    print(f"sent {len(sent)} forged datagrams to {dst}:{port}")


if __name__ == "__main__":
    main(sys.argv)
