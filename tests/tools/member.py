#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Speaks as a member on the TCP state link: what a member with a valid
certificate could send. Every detail of the link's datagrams stays in
this file, so that a test says what it sends, not how.

  member.py DST PORT CLUSTER PKI NAME SENDER [SEQ]  < RECORDS

sends the TCP state records read from standard input (records.py) to
DST:PORT (a member's TCP state link: the cluster link's port + 1) as
member SENDER of cluster CLUSTER, in as many TcpState messages as they
need (whole records, at most BATCH bytes each), numbered from SEQ (1),
sealed with a session agreed by a Hello signed with PKI/NAME.key and
carrying PKI/NAME.pem (tools/session.py). Run it from that member's
namespace: its certificate names the address the Hello must come from.
"""
import struct
import sys
import time

import session

# Most record bytes per message, as the daemon's survival::BATCH has it.
BATCH = 8192
# One session per daemon, agreed on the first message to it.
_sessions = {}


def send_state(dst, port, cluster, pki, name, sender, records: bytes, seq=1):
    """One TcpState message of `records` from member `sender`, sealed
    with the session this process agreed with the daemon at dst:port (a
    signed TcpState is refused)."""
    key = (dst, port, cluster, pki, name, sender)
    if key not in _sessions:
        _sessions[key] = session.Session(dst, port, cluster, pki, name, sender)
    _sessions[key].send(session.TCP_STATE, session.tcp_state(seq, records))


def _record_len(b):
    kind = b[0]
    if kind in (1, 2):
        return 56
    if kind == 3:
        return 16
    if kind == 4:
        return 24 + struct.unpack_from("<I", b, 4)[0]
    sys.exit(f"not a record: kind {kind}")


def batches(records):
    """`records` cut into whole records of at most BATCH bytes each."""
    out, cur = [], b""
    while records:
        n = _record_len(records)
        if cur and len(cur) + n > BATCH:
            out.append(cur)
            cur = b""
        cur, records = cur + records[:n], records[n:]
    return out + ([cur] if cur else [])


def main(argv):
    if len(argv) < 7:
        sys.exit(__doc__)
    dst, port, cluster, pki, name, sender = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5], int(argv[6])
    seq = int(argv[7]) if len(argv) > 7 else 1
    parts = batches(sys.stdin.buffer.read())
    for k, b in enumerate(parts):
        try:
            send_state(dst, port, cluster, pki, name, sender, b, seq + k)
        except session.NoSession as e:
            sys.exit(f"no session: {e}")
        time.sleep(0.02)
    print(f"sent {len(parts)} TcpState messages as member {sender} ({name}) to {dst}:{port}")


if __name__ == "__main__":
    main(sys.argv)
