#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks `clusteradm -j tcp monitor` output for one connection.

  tcpstate.py FILE SPORT DPORT RECEIVED SENT
  tcpstate.py closed FILE SPORT DPORT IN yes|no

The connection from client port SPORT to cluster port DPORT has an Initial
record (with an MSS), Essential records whose generations rise, the first
the SYN-ACK's (flag handshake) and the last not, whose rcv_nxt moved by RECEIVED bytes and snd_nxt by SENT bytes from the first
to the last, and a Closed record. The connection is closed both ways
before its Closed: the last Essential counts both FINs (flags fin-in and
fin-out), one sequence number each on top of the bytes.

With "closed": the connection from SPORT to DPORT, whose Initial record is
in FILE, has a Closed record in file IN (yes), or none (no).
"""
import json
import sys


def main(path, sport, dport, received, sent):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    inits = [r for r in recs if r["kind"] == "initial" and r["sport"] == sport and r["dport"] == dport]
    if not inits:
        sys.exit(f"no Initial record for port {sport} among {len(recs)} records")
    conn = inits[0]["conn"]
    if any(r["conn"] != conn for r in inits) or inits[0]["mss"] <= 0:
        sys.exit(f"odd Initial records: {inits[:3]}")
    ess = [r for r in recs if r["kind"] == "essential" and r["conn"] == conn]
    if len(ess) < 2:
        sys.exit(f"{len(ess)} Essential records")
    gens = [r["gen"] for r in ess]
    if any(((b - a) & 0xffffffff) >= 1 << 31 or a == b for a, b in zip(gens, gens[1:])):
        sys.exit(f"generations do not rise: {gens}")
    if "handshake" not in ess[0]["flags"] or "handshake" in ess[-1]["flags"]:
        sys.exit(f"the first record is not the handshake's, or the last is: {ess}")
    if "fin-in" not in ess[-1]["flags"] or "fin-out" not in ess[-1]["flags"]:
        sys.exit(f"the last record does not count both FINs: {ess[-1]}")
    moved = lambda k: (ess[-1][k] - ess[0][k]) & 0xffffffff
    if moved("rcv_nxt") != received + 1 or moved("snd_nxt") != sent + 1:
        sys.exit(f"rcv_nxt moved {moved('rcv_nxt')} (want {received} and the FIN), "
                 f"snd_nxt {moved('snd_nxt')} (want {sent} and the FIN): {ess}")
    if ess[-1]["snd_wnd"] <= 0 or ess[-1]["rcv_wnd"] <= 0:
        sys.exit(f"no windows: {ess[-1]}")
    if not any(r["kind"] == "closed" and r["conn"] == conn for r in recs):
        sys.exit("no Closed record")
    print(f"conn {conn}: {len(ess)} Essential records, flags {ess[-1]['flags']}")


def closed(path, sport, dport, other, want):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    inits = [r for r in recs if r["kind"] == "initial" and r["sport"] == sport and r["dport"] == dport]
    if not inits:
        sys.exit(f"no Initial record for port {sport} among {len(recs)} records")
    conn = inits[0]["conn"]
    recs = [json.loads(line) for line in open(other) if line.strip()]
    n = sum(1 for r in recs if r["kind"] == "closed" and r["conn"] == conn)
    if (n > 0) != (want == "yes"):
        sys.exit(f"{n} Closed records for conn {conn} among {len(recs)} records")
    print(f"conn {conn}: {n} Closed records")


if __name__ == "__main__":
    if sys.argv[1] == "closed":
        closed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
        sys.exit(0)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
