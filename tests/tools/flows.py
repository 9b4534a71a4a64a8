#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic and checks for ipcluster's datapath tests.

  flows.py serve NAME PORT ADDR...       answer every TCP connection (then
                                         close it) and UDP datagram on
                                         ADDR:PORT with NAME
  flows.py serve-held NAME PORT ADDR...  the same, but keep each connection
                                         and answer each line it sends with
                                         NAME (for `hold`)
  flows.py client DST PORT tcp|udp FIRST COUNT
                                         COUNT flows from source ports FIRST..;
                                         prints "SPORT ANSWER" ("-" if none)
  flows.py hold DST PORT FIRST COUNT ROUNDS CMD
                                         COUNT connections from ports FIRST..
                                         held open; each round runs CMD (with
                                         ROUND set), then asks on every one;
                                         prints per round how many answered
                                         from their first member ("ok"), were
                                         reset, went unanswered or moved
      [STREAMS STREAM_PORT STREAM_FIRST [THINK_MS]]
                                         meanwhile, STREAMS connections from
                                         ports STREAM_FIRST.. exchange random
                                         chunks with a plain echo on
                                         STREAM_PORT (pausing THINK_MS after
                                         each), each byte-exact; prints
                                         how many streams stayed whole
  flows.py half DST PORT FIRST COUNT GO   COUNT connections from ports FIRST..
                                         whose last handshake segment the
                                         caller drops (the member sent only
                                         its SYN-ACK); once file GO exists,
                                         asks once on each; prints how many
                                         answered without a greeting
                                         (restored), with one, were reset
                                         or went unanswered
  flows.py backlog DST PORT SPORT BYTES CMD [half]
                                         one connection to a plain echo that
                                         sends BYTES random bytes but reads
                                         nothing (a small receive buffer:
                                         the echo's answer waits in its
                                         socket, not sent), runs CMD, then
                                         reads the echo back; prints
                                         "backlog ok" or what went wrong.
                                         With half: shuts its side down
                                         after sending (the echo ends its
                                         answer with its FIN), and reads
                                         to the end of the stream
  flows.py pump DST PORT SECONDS          echo throughput of one connection
                                         (a plain echo), bytes checked
  flows.py rr DST PORT SECONDS [SIZE]     request/response on one connection
                                         (a plain echo): SIZE bytes (64) out,
                                         their echo back, again for SECONDS;
                                         the latency of each, p50 and p99
  flows.py expect SRC PORT tcp|udp FIRST COUNT
                                         the matching `clusteradm which -` input
  flows.py compare ANSWERS PREDICTIONS   every answer came from the predicted
                                         owner (member i answers "m<i>")
  flows.py counters MODE NBUCKETS JSON...
                                         per-bucket counters of every member
                                         (clusteradm -j bucket show) agree
"""
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import threading
import time



def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def connect(dst, port, sport, timeout):
    """A TCP connection to DST:PORT from source port SPORT."""
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", sport))
        s.settimeout(timeout)
        s.connect((dst, port))
    except OSError:
        s.close()
        raise
    return s


def serve(name, port, addrs, held=False):
    sel = selectors.DefaultSelector()
    reply = (name + "\n").encode()
    for a in addrs:
        t = socket.socket(family(a), socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((a, port))
        t.listen(1024)
        sel.register(t, selectors.EVENT_READ, "tcp")
        u = socket.socket(family(a), socket.SOCK_DGRAM)
        u.bind((a, port))
        sel.register(u, selectors.EVENT_READ, "udp")
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == "tcp":
                c, _ = s.accept()
                try:
                    if not held:
                        # The answer and our FIN in one segment (corked
                        # until the shutdown): the client's FIN always
                        # comes after ours, so this side ends in
                        # TIME_WAIT. Had the client's come first (the
                        # server preempted between send and close), this
                        # side went LAST_ACK -> CLOSED, and the client's
                        # second ACK, for our FIN sent again, met only
                        # the listener: a RST (seen in datapath under TCG).
                        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    c.sendall(reply)
                    if not held:
                        c.shutdown(socket.SHUT_WR)
                except OSError:
                    # Reset before we answered (e.g. the client gave up):
                    # that connection is gone, the others are served.
                    c.close()
                    continue
                if held:
                    sel.register(c, selectors.EVENT_READ, "conn")
                else:
                    c.close()
            elif key.data == "conn":
                try:
                    data = s.recv(4096)
                    s.sendall(reply * data.count(b"\n"))
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
            else:
                _, peer = s.recvfrom(65535)
                s.sendto(reply, peer)


def one_flow(dst, port, proto, sport):
    """The answer to one flow from source port SPORT ("-" if none), then
    what each failed try met (e.g. "- reset,timeout,timeout", "m2 timeout")."""
    why = []
    for _ in range(3):  # a lost SYN or datagram is retried, not judged
        s = None
        try:
            if proto == "tcp":
                s = socket.socket(family(dst), socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("", sport))
                s.settimeout(5)
                s.connect((dst, port))
                data = s.recv(64)
            else:
                s = socket.socket(family(dst), socket.SOCK_DGRAM)
                s.bind(("", sport))
                s.settimeout(2)
                s.sendto(b"?", (dst, port))
                data, _ = s.recvfrom(64)
            if data:
                # Tries that failed first are kept, after the answer.
                return " ".join([data.decode().strip()] + [w.replace(" ", "-") for w in why])
            why.append("closed")
        except socket.timeout:
            why.append("timeout")
        except ConnectionResetError:
            why.append("reset")
        except OSError as e:
            why.append(e.strerror or type(e).__name__)
        finally:
            if s is not None:
                s.close()
    return "- " + ",".join(w.replace(" ", "-") for w in why)


def client(dst, port, proto, first, count):
    # One flow at a time. Four at a time were no faster in the emulated VM
    # (datapath's multicast mode: 263 s against 277 s, 2026-11-27); one
    # member sent one RST in that run (every answer still from its
    # predicted owner), which 3000 more flows four at a time, captured on
    # every member, did not show again.
    print("\n".join(f"{p} {one_flow(dst, port, proto, p)}" for p in range(first, first + count)))


def ask(s):
    """One question on a held connection: the answer, or what went wrong."""
    try:
        s.sendall(b"?\n")
        data = b""
        while not data.endswith(b"\n"):
            more = s.recv(64)
            if not more:
                return "reset"
            data += more
        return data.decode().strip()
    except ConnectionResetError:
        return "reset"
    except OSError:
        return "lost"


class Stream(threading.Thread):
    """A connection to a plain echo, exchanging chunks of random size and
    content back to back until told to stop: every byte must come back as
    sent. Records the longest wait for an echo (the stall)."""

    def __init__(self, dst, port, sport, stop, think=0.0):
        super().__init__(daemon=True)
        self.think = think
        self.stop, self.result, self.bytes, self.stall = stop, "ok", 0, 0.0
        self.exchanges = 0
        self.s = connect(dst, port, sport, 10)
        self.s.settimeout(60)
        self.rng = random.Random(sport)

    def run(self):
        try:
            while not self.stop.is_set():
                n = self.rng.randint(1, 3000)
                chunk = self.rng.randbytes(n)
                t0 = time.monotonic()
                self.s.sendall(chunk)
                got = b""
                while len(got) < n:
                    more = self.s.recv(n - len(got))
                    if not more:
                        self.result = f"closed after {self.bytes} bytes"
                        return
                    got += more
                self.stall = max(self.stall, time.monotonic() - t0)
                if got != chunk:
                    self.result = f"mismatch after {self.bytes} bytes"
                    return
                self.bytes += n
                self.exchanges += 1
                if self.think:
                    time.sleep(self.think)
        except ConnectionResetError:
            self.result = f"reset after {self.bytes} bytes"
        except OSError as e:
            self.result = f"{e} after {self.bytes} bytes"


def hold(dst, port, first, count, rounds, cmd, streams=0, stream_port=0, stream_first=0,
         think_ms=0):
    stop = threading.Event()
    flows = [Stream(dst, stream_port, stream_first + k, stop, think_ms / 1000)
             for k in range(streams)]
    for f in flows:
        f.start()
    conns = []
    for sport in range(first, first + count):
        s = connect(dst, port, sport, 10)
        name = s.recv(64).decode().strip()
        conns.append((sport, s, name))
        if len(conns) % 50 == 0:
            print(f"# {len(conns)} connections held", flush=True)
    by = {}
    for _, _, name in conns:
        by[name] = by.get(name, 0) + 1
    print(f"# {count} connections held, by member: {dict(sorted(by.items()))}", flush=True)
    for r in range(1, rounds + 1):
        t0 = time.monotonic()
        subprocess.run(cmd, shell=True, check=True, env=dict(os.environ, ROUND=str(r)))
        t1 = time.monotonic()
        tally = {"ok": 0, "reset": 0, "lost": 0, "moved": 0}
        for sport, s, name in conns:
            got = ask(s)
            kind = got if got in ("reset", "lost") else "ok" if got == name else "moved"
            tally[kind] += 1
            if kind != "ok":
                print(f"# round {r}: sport {sport} of {name}: {got}")
        print(f"round {r} " + " ".join(f"{k}={v}" for k, v in tally.items())
              + f" # {t1 - t0:.1f} s, then {time.monotonic() - t1:.1f} s asking", flush=True)
    if not flows:
        return
    time.sleep(2)  # the streams go on a little after the last crash
    stop.set()
    for f in flows:
        f.join(90)
    bad = [f for f in flows if f.result != "ok" or f.is_alive()]
    for f in bad:
        print(f"# stream from {f.s.getsockname()[1]}: {f.result if not f.is_alive() else 'stuck'}")
    stalls = sorted(f.stall for f in flows)
    print(f"streams ok={len(flows) - len(bad)} bad={len(bad)} "
          f"bytes={sum(f.bytes for f in flows)} exchanges={sum(f.exchanges for f in flows)} "
          f"stall_p50_ms={stalls[len(stalls) // 2] * 1000:.0f} "
          f"stall_max_ms={stalls[-1] * 1000:.0f} "
          f"stalls_ms={','.join(f'{x * 1000:.0f}' for x in stalls)} "
          f"stall_by_port={','.join(f'{stream_first + k}:{f.stall * 1000:.0f}' for k, f in enumerate(flows))}",
          flush=True)


def half(dst, port, first, count, go):
    conns = []
    t0 = time.monotonic()
    for sport in range(first, first + count):
        conns.append((sport, connect(dst, port, sport, 10)))
    print(f"# {count} handshakes in {time.monotonic() - t0:.1f} s", flush=True)
    while not os.path.exists(go):
        time.sleep(0.1)
    tally = {"restored": 0, "greeted": 0, "reset": 0, "lost": 0}
    for sport, s in conns:
        got = ask(s)
        if got in ("reset", "lost"):
            print(f"# sport {sport}: {got}")
            tally[got] += 1
            continue
        # A handshake a live member finishes now is accepted and greeted
        # (the greeting, then the answer); a restored one only answers.
        # Everything is read to the server's FIN (after ours), however
        # late it comes: the lines are counted, none is left unread (a
        # close with unread bytes would be a reset of ours).
        rest = b""
        try:
            s.settimeout(10)
            s.shutdown(socket.SHUT_WR)
            while more := s.recv(64):
                rest += more
        except OSError:
            print(f"# sport {sport}: no end after the answer")
            tally["lost"] += 1
            continue
        lines = got.count("\n") + 1 + rest.count(b"\n")
        tally["greeted" if lines >= 2 else "restored"] += 1
        s.close()
    print("half " + " ".join(f"{k}={v}" for k, v in tally.items()), flush=True)


def backlog(dst, port, sport, nbytes, cmd, half=False):
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A window of a few KiB: the echo can send little of its answer.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.bind(("", sport))
    s.settimeout(30)
    s.connect((dst, port))
    data = random.Random(sport).randbytes(nbytes)
    s.sendall(data)
    if half:
        s.shutdown(socket.SHUT_WR)
    print(f"# sent {nbytes} bytes{' and a FIN' if half else ''}", flush=True)
    subprocess.run(cmd, shell=True, check=False)
    got = b""
    try:
        s.settimeout(60)
        while len(got) < nbytes or half:
            more = s.recv(65536)
            if not more:
                break
            got += more
    except ConnectionResetError:
        print(f"backlog reset after {len(got)} bytes", flush=True)
        return
    except OSError as e:
        print(f"backlog {e} after {len(got)} bytes", flush=True)
        return
    if len(got) > nbytes:
        print(f"backlog got {len(got) - nbytes} bytes more than sent", flush=True)
    elif got != data[:len(got)]:
        print(f"backlog mismatch after {next(i for i in range(len(got)) if got[i] != data[i])} bytes", flush=True)
    elif len(got) < nbytes:
        print(f"backlog closed after {len(got)} bytes", flush=True)
    else:
        print("backlog ok", flush=True)
    s.close()


def pump(dst, port, seconds):
    """Echo throughput of one connection: a thread writes 64 KiB blocks as
    fast as they go, this one reads the echo back and checks it."""
    s = socket.create_connection((dst, port), timeout=30)
    block = random.Random(1).randbytes(65536)
    stop = threading.Event()

    def writer():
        try:
            while not stop.is_set():
                s.sendall(block)
        except OSError:
            pass

    w = threading.Thread(target=writer, daemon=True)
    t0 = time.monotonic()
    w.start()
    got, at = 0, 0
    while time.monotonic() - t0 < seconds:
        data = s.recv(1 << 20)
        if not data:
            sys.exit("pump: the echo closed")
        n = len(data)
        want = (block * 2)[at:at + n] if n <= 65536 else None
        if want is not None and data != want:
            sys.exit(f"pump: the echo differs after {got} bytes")
        got += n
        at = (at + n) % 65536
    elapsed = time.monotonic() - t0
    stop.set()
    s.close()
    print(f"pump bytes={got} seconds={elapsed:.1f} mbit_s={got * 8 / elapsed / 1e6:.2f}", flush=True)


def rr(dst, port, seconds, size=64):
    """Request/response latency of one connection to a plain echo: each
    request waits for its whole echo before the next goes."""
    s = socket.create_connection((dst, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = random.Random(2).randbytes(size)
    lat = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        t = time.monotonic()
        s.sendall(req)
        got = b""
        while len(got) < size:
            data = s.recv(size - len(got))
            if not data:
                sys.exit("rr: the echo closed")
            got += data
        lat.append(time.monotonic() - t)
        if got != req:
            sys.exit(f"rr: the echo differs after {len(lat)} requests")
    s.close()
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000
    print(f"rr n={len(lat)} p50_ms={pct(50):.2f} p99_ms={pct(99):.2f}", flush=True)


def expect(src, port, proto, first, count):
    for sport in range(first, first + count):
        print(f"{src} sport {sport} dport {port} proto {proto}")


def compare(answers_path, predictions_path):
    answers = [l.split() for l in open(answers_path) if l.strip()]
    predictions = [json.loads(l) for l in open(predictions_path) if l.strip()]
    if len(answers) != len(predictions):
        sys.exit(f"{len(answers)} answers, {len(predictions)} predictions")
    bad = [(a, p) for a, p in zip(answers, predictions) if a[1] != f"m{p['owner']}"]
    owners = {}
    for a in answers:
        owners[a[1]] = owners.get(a[1], 0) + 1
    print(f"answers by member: {dict(sorted(owners.items()))}")
    for a, p in bad[:10]:
        print(f"sport {a[0]}: answered by {a[1]}, predicted m{p['owner']} (bucket {p['bucket']})")
    if bad:
        sys.exit(f"{len(bad)} of {len(answers)} flows answered by the wrong member")


def counters(mode, nbuckets, paths):
    """Per-bucket counters of members 1.. (files in member order) agree.

    multicast, unicast: every member sees every packet; owners drop none,
    the others drop all. forward: member 1, the forwarder, sees every
    packet and forwards those it does not own; every other member sees
    exactly the packets forwarded to it, of its own buckets.
    """
    members = [json.load(open(p)) for p in paths]
    errors = []
    for m, buckets in enumerate(members, start=1):
        if len(buckets) != nbuckets:
            errors.append(f"m{m}: {len(buckets)} buckets, want {nbuckets}")
    if errors:
        sys.exit("\n".join(errors))
    for i in range(nbuckets):
        seen = members[0][i]["packets"]
        for m, buckets in enumerate(members, start=1):
            b = buckets[i]
            owned = b["owner"] == m
            if mode != "forward":
                want = (seen, 0 if owned else seen, 0)
            elif m == 1:
                want = (seen, 0, 0 if owned else seen)
            else:
                want = (seen if members[0][i]["owner"] == m else 0, 0, 0)
            got = (b["packets"], b["drops"], b.get("forwarded", 0))
            if got != want:
                errors.append(f"m{m} bucket {i} (owner {b['owner']}): "
                              f"packets/drops/forwarded {got}, want {want}")
    total = sum(b["packets"] for b in members[0])
    flows = sum(b["flows"] for b in members[0])
    print(f"{total} packets, {flows} new TCP flows counted by member 1")
    for e in errors[:10]:
        print(e)
    if errors:
        sys.exit(f"{len(errors)} counter mismatches")


def main(argv):
    cmd = argv[1]
    if cmd in ("serve", "serve-held"):
        serve(argv[2], int(argv[3]), argv[4:], held=cmd == "serve-held")
    elif cmd == "client":
        client(argv[2], int(argv[3]), argv[4], int(argv[5]), int(argv[6]))
    elif cmd == "hold":
        hold(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), int(argv[6]), argv[7],
             *map(int, argv[8:12]))
    elif cmd == "half":
        half(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), argv[6])
    elif cmd == "backlog":
        backlog(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), argv[6],
                argv[7:8] == ["half"])
    elif cmd == "pump":
        pump(argv[2], int(argv[3]), float(argv[4]))
    elif cmd == "rr":
        rr(argv[2], int(argv[3]), float(argv[4]), *map(int, argv[5:6]))
    elif cmd == "expect":
        expect(argv[2], int(argv[3]), argv[4], int(argv[5]), int(argv[6]))
    elif cmd == "compare":
        compare(argv[2], argv[3])
    elif cmd == "counters":
        counters(argv[2], int(argv[3]), argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
