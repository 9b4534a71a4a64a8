#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Forged TCP state updates for a member's daemon (the wire format:
session.py).

  forge.py DST PORT CLUSTER PKI ROGUE

sends to DST:PORT, the daemon's TCP state link (the cluster link's port
+ 1), what an outsider could make of TcpState messages that claim to come
from member 2 and carry the state of a made-up connection:
- a Hello with a real member's certificate (PKI/m2) and a signature that
  does not match (bad signature);
- a session agreed with the certificate of a host of the cluster's CA
  that is no member (PKI/m9, from this host's address), and through it
  the TcpState sealed (the daemon takes it from no member: ignored), then
  the same sealed datagram again (replayed);
- the TcpState signed by PKI/m9 (refused unopened: TCP state travels only
  sealed);
- a Hello signed by a stranger (ROGUE: another CA's m5; untrusted);
- bytes that are no message at all (malformed).
"""
import socket
import struct
import sys
import time

import session


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


def main(argv):
    dst, port, cluster, pki, rogue = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]
    s = session.udp_socket(dst)
    state = session.tcp_state(1, records())
    hello = lambda: session.hello_body(port, dst, session.ephemeral()[1])
    sent = []
    # A member's certificate, somebody else's signature.
    m2 = session.Identity.load(pki, "m2")
    sent.append(session.unsigned(session.HELLO, hello(), 2, cluster, m2.cert) + bytes(64))
    # The TcpState signed by a host of the CA, which would have to be sealed.
    m9 = session.Identity.load(pki, "m9")
    sent.append(session.signed(session.TCP_STATE, state, 2, cluster, m9))
    # A stranger's Hello, well signed.
    m5 = session.Identity.load(rogue, "m5")
    sent.append(session.signed(session.HELLO, hello(), 2, cluster, m5))
    # Not a message.
    sent += [b"IPCM\x02\x09" + bytes(10), b"\xff" * 300]
    for d in sent:
        s.sendto(d, (dst, port))
        time.sleep(0.05)
    # A host of the CA that is no member, claiming member 2, through a
    # session of its own; the same datagram twice.
    try:
        with_m9 = session.Session(dst, port, cluster, m9, None, 2)
    except session.NoSession as e:
        sys.exit(f"sent {len(sent)} forged datagrams to {dst}:{port}; no session as m9: {e}")
    d = with_m9.send(session.TCP_STATE, state)
    time.sleep(0.05)
    with_m9.sock.sendto(d, (dst, port))
    print(f"sent {len(sent) + 2} forged datagrams to {dst}:{port}, 2 through session "
          f"{with_m9.id:#010x} as m9")


if __name__ == "__main__":
    main(sys.argv)
