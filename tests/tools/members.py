#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks on a cluster of membership daemons, for tests/membership.sh.

  members.py formed TMP I...    one master among members I..., every one
                                following it, one table in every kernel,
                                every bucket owned by one of them, none
                                unacknowledged
  members.py spread TMP I...    every member I... owns some buckets
  members.py master TMP I...    prints the master among I...
  members.py field TMP I KEY    prints member I's status field KEY
  members.py view TMP I...      prints, for each member I, a line "mI ROLE
                                ID MEMBERS": the membership as it sees it
  members.py idle TMP I         member I's kernel table owns no bucket
  members.py lossy TMP I        master I has measured some loss: prints
                                each member's estimate and interval
  members.py served TMP T0 DEAD I...
                                seconds from T0 (epoch) until every member
                                I... installed a table in which member id
                                DEAD owns nothing
  members.py newmaster TMP T0 I...
                                seconds from T0 until one of I... became
                                master
  members.py logged TMP T0 TEXT I...
                                seconds from T0 to the first and to the
                                last line of members I... that holds TEXT

Member I's daemon writes TMP/runI/1.json, logs to TMP/mI.log and lives in
namespace ipc-mI.
"""
import datetime
import json
import os
import subprocess
import sys

CLUSTERADM = os.path.join(os.environ.get("IPC_TOP", "."), "userspace-tool/target/release/clusteradm")


def status(tmp, i):
    try:
        with open(f"{tmp}/run{i}/1.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def table(i):
    out = subprocess.run(["ip", "netns", "exec", f"ipc-m{i}", CLUSTERADM, "-j", "table", "show", "1"],
                         capture_output=True, text=True)
    return json.loads(out.stdout)["table"] if out.returncode == 0 else None


def master(tmp, ids):
    m = [i for i in ids if status(tmp, i).get("role") == "master"]
    return m[0] if len(m) == 1 else None


def formed(tmp, ids):
    m = master(tmp, ids)
    if m is None:
        return "no single master"
    st = {i: status(tmp, i) for i in ids}
    maddr = st[m].get("master")
    if any(st[i].get("master") != maddr for i in ids):
        return "members follow different masters"
    if st[m].get("unacked") != 0:
        return (f"{st[m].get('unacked')} buckets unacknowledged: table version "
                f"{st[m].get('table_version')}, acknowledged {st[m].get('acked')}")
    t = {i: table(i) for i in ids}
    if any(t[i] != t[m] for i in ids):
        return "kernel tables differ"
    members = {st[i].get("member") for i in ids}
    if not all(o in members for o in t[m]):
        return "a bucket is owned by no live member"
    return None


def log(tmp, i, t0):
    """Member I's log lines after T0, as (epoch seconds, text)."""
    out = []
    with open(f"{tmp}/m{i}.log") as f:
        for line in f:
            stamp = line.split(" ", 1)[0]
            try:
                t = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if t > t0:
                out.append((t, line))
    return out


def served(tmp, t0, dead, ids):
    worst = 0.0
    for i in ids:
        for t, line in log(tmp, i, t0):
            if "table installed" in line:
                owners = line.rsplit("owners=", 1)[-1].split()[0].split(",")
                if not any(o.startswith(f"{dead}:") for o in owners):
                    worst = max(worst, t - t0)
                    break
        else:
            sys.exit(f"m{i} installed no table without member {dead}")
    return worst


def newmaster(tmp, t0, ids):
    times = [t for i in ids for t, line in log(tmp, i, t0) if 'event="master"' in line]
    if not times:
        sys.exit("no new master")
    return min(times) - t0


def logged(tmp, t0, text, ids):
    times = [t for i in ids for t, line in log(tmp, i, t0) if text in line]
    if not times:
        sys.exit(f"no {text!r} logged")
    return min(times) - t0, max(times) - t0


def main(argv):
    cmd, tmp, rest = argv[1], argv[2], argv[3:]
    if cmd == "formed":
        why = formed(tmp, [int(i) for i in rest])
        if why:
            sys.exit(why)
    elif cmd == "spread":
        ids = [int(i) for i in rest]
        m = master(tmp, ids)
        t = table(m) if m else None
        if not t or not all(t.count(status(tmp, i).get("member")) for i in ids):
            sys.exit("not spread")
    elif cmd == "master":
        m = master(tmp, [int(i) for i in rest])
        if m is None:
            sys.exit("no single master")
        print(m)
    elif cmd == "served":
        print(f"{served(tmp, float(rest[0]), rest[1], [int(i) for i in rest[2:]]):.3f}")
    elif cmd == "newmaster":
        print(f"{newmaster(tmp, float(rest[0]), [int(i) for i in rest[1:]]):.3f}")
    elif cmd == "logged":
        first, last = logged(tmp, float(rest[0]), rest[1], [int(i) for i in rest[2:]])
        print(f"{first:.3f} {last:.3f}")
    elif cmd == "lossy":
        loss = status(tmp, int(rest[0])).get("loss", [])
        print(" ".join(f"member {i}: loss {p:.4f} interval {n}" for i, p, n in loss))
        if not any(p > 0 for _, p, _ in loss):
            sys.exit("no loss measured")
    elif cmd == "idle":
        t = table(int(rest[0]))
        if t is None or any(o is not None for o in t):
            sys.exit(f"m{rest[0]}'s kernel table owns buckets")
    elif cmd == "view":
        for i in rest:
            st = status(tmp, int(i))
            print(f"m{i} {st.get('role', {})} {st.get('member', {})} {st.get('members', {})}")
    elif cmd == "field":
        v = status(tmp, int(rest[0]))
        for k in rest[1:]:
            v = v.get(k, {}) if isinstance(v, dict) else {}
        print(v)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
