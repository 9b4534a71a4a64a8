#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The demo's views of the cluster and its client (tests/vm/demo.sh).

  demo.py grid I             member I's kernel table (cluster 1) as a grid
                             of 16 rows of 64 buckets, one character each:
                             the owning member's id, "." for none; then
                             each member's share
  demo.py takeover DEAD CMD I...
                             runs CMD (bash), the crash of member DEAD,
                             then polls the kernel tables of members I...
                             until each gives every bucket to one of them;
                             prints the seconds since CMD began and how
                             many buckets DEAD had before
  demo.py client DST PORT COUNT SPORT CMD
                             holds COUNT idle HTTP/1.1 keep-alive
                             connections to DST:PORT (source ports SPORT..)
                             and asks once on each; runs CMD (bash); asks
                             once more on each and tells who answered
  demo.py counts TMP I...    each member I's restored, adopted and reset
                             connections, from `clusteradm -j status` (its
                             daemon's state in TMP/runI)
"""
import collections
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keepalive import ask, connect  # noqa: E402

CLUSTERADM = os.path.join(os.environ.get("IPC_TOP", "."), "userspace-tool/target/release/clusteradm")
ROW = 64


def table(i):
    out = subprocess.run(["ip", "netns", "exec", f"ipc-m{i}", CLUSTERADM, "-j", "table", "show", "1"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["table"]


def grid(i):
    t = table(i)
    for r in range(0, len(t), ROW):
        cells = "".join("." if o is None else str(o) if o < 10 else "#" for o in t[r:r + ROW])
        print(f"  {r:4} {cells}")
    share = collections.Counter(t)
    print("  buckets: " + ", ".join(f"{'nobody' if o is None else f'm{o}'} {n}"
                                     for o, n in sorted(share.items(), key=lambda x: x[0] or 0)))


def takeover(dead, cmd, ids):
    had = table(ids[0]).count(dead)
    t0 = time.time()
    subprocess.run(["bash", "-c", cmd], check=True)
    deadline = t0 + 60
    while time.time() < deadline:
        tables = [table(i) for i in ids]
        if all(all(o in ids for o in t) for t in tables):
            print(f"{time.time() - t0:.1f} {had}")
            return
        time.sleep(0.05)
    sys.exit(f"the survivors did not take member {dead}'s buckets in 60 s")


def tally(names):
    return ", ".join(f"{n} {c}" for n, c in sorted(collections.Counter(names).items()))


def client(dst, port, count, sport, cmd):
    conns = []
    for k in range(count):
        s = connect(dst, port, sport + k)
        conns.append((sport + k, s, ask(s)))
    print(f"{count} connections held, answered by: {tally(c[2] for c in conns)}")
    print("  e.g. " + "   ".join(f"port {p}: {n}" for p, _, n in conns[:5]), flush=True)
    subprocess.run(["bash", "-c", cmd], check=True)
    after = []
    for p, s, first in conns:
        t = time.monotonic()
        after.append((p, first, ask(s), time.monotonic() - t))
    print("every connection asks again (GET / on the same connection):")
    for first in sorted({a[1] for a in after}):
        got = [a[2] for a in after if a[1] == first]
        print(f"  {len(got):3} first answered by {first}: now by {tally(got)}")
    moved = [a for a in after if a[2] not in (a[1], "reset", "closed", "lost")]
    for p, first, now, dt in moved[:4]:
        print(f"  e.g. port {p}: {first} before, {now} now, in {dt:.2f} s")
    kinds = collections.Counter(a[2] if a[2] in ("reset", "closed", "lost") else "answered" for a in after)
    print(f"after the crash: {kinds['answered']} of {count} answered, {len(moved)} by a new member, "
          f"{kinds['reset']} reset, {kinds['closed']} closed, {kinds['lost']} lost, "
          f"slowest {max(a[3] for a in after):.2f} s")


def counts(tmp, ids):
    for i in ids:
        out = subprocess.run([CLUSTERADM, "-j", "status", "1"], capture_output=True, text=True, check=True,
                             env=dict(os.environ, IPCLUSTER_RUN_DIR=f"{tmp}/run{i}"))
        st = json.loads(out.stdout)
        tcp = st.get("tcp") or {}
        print(f"  m{i} ({st['role']}): {tcp.get('restored', 0)} restored, "
              f"{tcp.get('adopted', 0)} adopted, {tcp.get('reset', 0)} reset, {tcp.get('failed', 0)} failed")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, rest = argv[1], argv[2:]
    if cmd == "grid":
        grid(int(rest[0]))
    elif cmd == "takeover":
        takeover(int(rest[0]), rest[1], [int(i) for i in rest[2:]])
    elif cmd == "client":
        client(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), rest[4])
    elif cmd == "counts":
        counts(rest[0], [int(i) for i in rest[1:]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
