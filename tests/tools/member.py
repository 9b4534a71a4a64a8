#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Speaks as a member on the TCP state link: what a member with a valid
certificate could send. Every detail of the link's datagrams stays in
this file, so that a test says what it sends, not how.

  member.py DST PORT CLUSTER PKI NAME SENDER [SEQ]  < RECORDS

sends the TCP state records read from standard input (records.py) to
DST:PORT (a member's TCP state link: the cluster link's port + 1) as
member SENDER of cluster CLUSTER, signed with PKI/NAME.key and carrying
PKI/NAME.pem: in as many TcpState messages as they need (whole records,
at most BATCH bytes each), numbered from SEQ (1). Run it from that
member's namespace: its certificate names the address it must come from.
"""
import struct
import sys
import time

from forge import der, signed

# Most record bytes per message, as the daemon's survival::BATCH allows
# beside the largest certificate.
BATCH = 8192
_last_counter = 0


def _counter():
    """A replay counter above any this host used before: the daemon's
    start at the wall clock in microseconds, moved on."""
    global _last_counter
    _last_counter = max(_last_counter + 1, int(time.time() * 1e6))
    return _last_counter


def send_state(dst, port, cluster, pki, name, sender, records: bytes, seq=1):
    """One TcpState message of `records` from member `sender`."""
    import socket

    cert = der(f"{pki}/{name}.pem")
    body = struct.pack(">QH", seq, len(records)) + records
    head = b"IPCM" + struct.pack(">BBHIQHH", 1, 9, sender, cluster, _counter(), len(body), len(cert))
    d = signed(head + body + cert, f"{pki}/{name}.key")
    with socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(d, (dst, port))


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
        send_state(dst, port, cluster, pki, name, sender, b, seq + k)
        time.sleep(0.02)
    print(f"sent {len(parts)} TcpState messages as member {sender} ({name}) to {dst}:{port}")


if __name__ == "__main__":
    main(sys.argv)
