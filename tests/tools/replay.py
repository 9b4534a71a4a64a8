#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Genuine datagrams of the cluster link where they do not belong, for
tests/link_replay.sh (the wire format and sessions: session.py).

  replay.py forge DST PORT CLUSTER PKI NAME SENDER KIND [COUNT]
        sends COUNT (1) datagrams of KIND that claim member id SENDER,
        carrying certificate PKI/NAME.pem and signed with PKI/NAME.key,
        fresh (their counters the wall clock)
  replay.py sealed [--claim ID] DST PORT CLUSTER PKI NAME SENDER KIND [COUNT]
        agrees a session with DST:PORT as PKI/NAME (member SENDER) and
        sends COUNT (1) messages of KIND through it, sealed, under member
        id ID (SENDER) in their headers; says so and sends nothing when
        none of 2 Hellos (4 with --claim) is answered (from a host its
        certificate does not name, or under an id it does not name, none
        is)
  replay.py capture OUT SECONDS [WANT...]
        hears the cluster link in this namespace (tcpdump on every
        interface: run it in the switch's namespace to hear every host)
        and writes each distinct datagram to OUT, one JSON object a
        line, with its source and destination; stops after SECONDS, or
        once it has heard each WANT (CLASS or CLASS@DST, e.g.
        tcp-state@192.0.2.12): CLASS is a kind's name, as `list` prints;
        prints "capturing" once it hears
  replay.py list FILE [WANT]
        prints the datagrams of FILE (those WANT selects): index, class,
        source address and port, destination address and port, sender
  replay.py send [--here] FILE INDEX DST PORT [COUNT]
        sends datagram INDEX of FILE COUNT (1) times to DST:PORT, from
        the socket address it came from (a raw socket: the source is
        spoofed), or with --here from this host
  replay.py flood FILE SECONDS PORTS DST...
        sends every datagram of FILE, each from the socket address it
        came from, to each DST at each of PORTS (7400,7401), round and
        round as fast as this host can (a sender per CPU) for SECONDS;
        prints the rate

KIND is one of, or several joined by commas (sealed sends COUNT of each):
  tcp-state             TCP state of a made-up connection (forge.py's)
  tcp-ack               an acknowledgement of TCP state message 1
  member-alive[:CONFIG] a member's keepalive, configuration version
                        CONFIG (1)
  leave-stale           "leave, stale configuration": its recipient exits
  master-alive:STATUS   the master's keepalive grown from STATUS (a
                        daemon's `clusteradm -j status` document): its
                        members and one more (member 99), the next table
                        version, a table giving member 99 every bucket
"""
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forge  # noqa: E402
import session as S  # noqa: E402

# The member master-alive adds, and its address.
EXTRA = (99, "192.0.2.99")


def grown(status):
    """A master keepalive that lists the members of daemon status document
    STATUS and EXTRA, with the next table version, every bucket EXTRA's."""
    st = json.load(open(status))
    members = [(i, a) for i, a in st["members"]] + [EXTRA]
    owners = [EXTRA[0]] * len(st["owners"])
    return S.master_alive(1, (st["period_ms"], st["misses"]), st["table_version"] + 1, members,
                          owners)


def messages(spec):
    """[(kind, body)] of KIND as the command line names it."""
    out = []
    for one in spec.split(","):
        name, _, arg = one.partition(":")
        out.append({
            "tcp-state": lambda: (S.TCP_STATE, S.tcp_state(1, forge.records())),
            "tcp-ack": lambda: (S.TCP_ACK, S.tcp_ack([1])),
            "member-alive": lambda: (S.MEMBER_ALIVE, S.member_alive(1, 1, int(arg or 1))),
            "leave-stale": lambda: (S.LEAVE, S.leave(2)),
            "master-alive": lambda: (S.MASTER_ALIVE, grown(arg)),
        }[name]())
    return out
# A datagram's class, by its kind byte (sealed ones with the high bit).
CLASSES = {
    1: "join", 3: "refuse", 4: "offer", 5: "object", 6: "master-alive", 11: "hello",
    0x82: "welcome", 0x87: "member-alive", 0x88: "leave", 0x89: "tcp-state", 0x8A: "tcp-ack",
}
LINK_PORTS = (7400, 7401)


def do_forge(dst, port, cluster, pki, name, sender, kind, count=1):
    s = S.udp_socket(dst)
    ident = S.Identity.load(pki, name)
    for k, body in messages(kind):
        for _ in range(count):
            s.sendto(S.signed(k, body, sender, cluster, ident), (dst, port))
            time.sleep(0.02)
    print(f"sent {count} {kind} signed by {name} as member {sender} to {dst}:{port}")


def do_sealed(dst, port, cluster, pki, name, sender, kind, count=1, claim=None):
    # Four Hellos, should a busy host answer late.
    tries = 4
    try:
        s = S.Session(dst, port, cluster, pki, name, sender, tries=tries)
    except S.NoSession:
        print(f"no session: {dst}:{port} answered none of {tries} Hellos signed by {name} "
              f"as member {sender}")
        return
    # The session is agreed; what goes through it may claim another id.
    s.sender = sender if claim is None else claim
    for k, body in messages(kind):
        for _ in range(count):
            s.send(k, body)
            time.sleep(0.02)
    claimed = f", claiming member {claim}" if claim is not None else ""
    print(f"session {s.id:#010x} with {dst}:{port}: sent {count} {kind} sealed, "
          f"as {name} (member {sender}){claimed}")


class Fragments:
    """IPv4 reassembly, enough for the link's datagrams (a TCP state
    batch is larger than the MTU)."""

    def __init__(self):
        self.parts = {}

    def add(self, ip):
        """The whole IP payload once IP packet IP completes one, else None."""
        hl = (ip[0] & 15) * 4
        ident, frag = struct.unpack_from(">HH", ip, 4)
        more, off = frag & 0x2000, (frag & 0x1FFF) * 8
        payload = ip[hl:struct.unpack_from(">H", ip, 2)[0]]
        if not more and off == 0:
            return payload
        key = (ip[12:20], ident)
        got = self.parts.setdefault(key, {})
        got[off] = (payload, more)
        whole, at = b"", 0
        while at in got:
            p, m = got[at]
            whole += p
            at += len(p)
            if not m:
                del self.parts[key]
                return whole
        return None


def link_datagram(frame, frags):
    """(src, sport, dst, dport, payload) of an Ethernet frame that carries
    (or completes) an IPv4 UDP datagram of the cluster link, else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ip = frame[14:]
    udp = frags.add(ip)
    if udp is None or len(udp) < 8:
        return None
    sport, dport = struct.unpack_from(">HH", udp)
    d = udp[8:]
    if dport not in LINK_PORTS or d[:4] != b"IPCM" or len(d) < 6:
        return None
    return socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport, d


def record(src, sport, dst, dport, d):
    kind = d[5]
    return {"class": CLASSES.get(kind, f"kind-{kind}"), "src": src, "sport": sport,
            "dst": dst, "dport": dport, "sender": struct.unpack_from(">H", d, 6)[0],
            "hex": d.hex()}


def selects(want, r):
    cls, _, dst = want.partition("@")
    return r["class"] == cls and (not dst or r["dst"] == dst)


def pcap_frames(path, at):
    """The frames of pcap file PATH from byte AT on (0: its start, past
    the file header), as Ethernet frames, and where the next begins. A
    record tcpdump has not finished writing is left for the next call."""
    frames = []
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return frames, at
        link = struct.unpack_from("<I", head, 20)[0]
        at = max(at, 24)
        f.seek(at)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            n = struct.unpack_from("<I", rec, 8)[0]
            data = f.read(n)
            if len(data) < n:
                break
            at += 16 + n
            frames.append(as_ethernet(link, data))
    return [f for f in frames if f], at


def as_ethernet(link, data):
    """A captured frame of link type LINK as an Ethernet frame (only its
    ethertype and payload matter): Ethernet itself, or the "any"
    interface's cooked headers, SLL and SLL2."""
    if link == 1:
        return data
    if link == 113 and len(data) >= 16:
        return bytes(12) + data[14:16] + data[16:]
    if link == 276 and len(data) >= 20:
        return bytes(12) + data[0:2] + data[20:]
    return None


def capture(out, seconds, wants):
    """tcpdump on every interface of this namespace (the switch's: every
    frame between two hosts crosses two of its ports), its file read as
    it grows. It keeps every UDP datagram: the link's, and the fragments
    after a first, which name no port. (A packet socket of this process's
    own is as good, but tcpdump's file shows when it began to hear.)"""
    import subprocess
    import tempfile

    fd, pcap = tempfile.mkstemp(suffix=".pcap")
    os.close(fd)
    dump = subprocess.Popen(["tcpdump", "-i", "any", "-Z", "root", "-U", "-s", "0", "-B", "16384",
                             "-w", pcap, "udp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    frags, seen, got, at = Fragments(), set(), [], 0
    # Once tcpdump has written its file's header it hears everything: the
    # caller waits for this line before it makes the traffic it wants
    # heard (this process alone takes seconds to start under emulation).
    while os.path.getsize(pcap) < 24 and dump.poll() is None:
        time.sleep(0.05)
    print("capturing", flush=True)
    deadline = time.time() + seconds
    try:
        with open(out, "w") as f:
            while time.time() < deadline and not all(any(selects(w, r) for r in got)
                                                     for w in wants):
                time.sleep(0.2)
                frames, at = pcap_frames(pcap, at)
                for frame in frames:
                    dg = link_datagram(frame, frags)
                    # A frame crossing the bridge is heard on two ports.
                    if dg is None or dg[4] in seen:
                        continue
                    seen.add(dg[4])
                    got.append(record(*dg))
                    f.write(json.dumps(got[-1]) + "\n")
                    f.flush()
    finally:
        dump.terminate()
        dump.wait()
        os.unlink(pcap)
    counts = {}
    for r in got:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing heard")
    missing = [w for w in wants if not any(selects(w, r) for r in got)]
    if missing:
        sys.exit(f"not heard: {' '.join(missing)}")


def load(path):
    return [json.loads(l) for l in open(path)]


def do_list(path, want=None):
    for i, r in enumerate(load(path)):
        if want is None or selects(want, r):
            print(i, r["class"], r["src"], r["sport"], r["dst"], r["dport"], r["sender"])


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


_ident = 0


def ip_packets(src, sport, dst, dport, d):
    """IPv4 packets (fragments past the MTU) of UDP datagram D from
    SRC:SPORT to DST:DPORT, for a raw socket with IP_HDRINCL (the kernel
    fills in the header checksum)."""
    global _ident
    _ident = _ident % 0xFFFF + 1
    s, t = socket.inet_aton(src), socket.inet_aton(dst)
    udp = struct.pack(">HHHH", sport, dport, 8 + len(d), 0) + d
    c = checksum(s + t + struct.pack(">BBH", 0, 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack(">H", c) + udp[8:]
    out, step = [], 1480
    for off in range(0, len(udp), step):
        part = udp[off:off + step]
        frag = (off // 8) | (0x2000 if off + step < len(udp) else 0)
        out.append(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(part), _ident, frag, 64, 17, 0,
                               s, t) + part)
    return out


def raw_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def send(path, index, dst, port, count=1, here=False):
    r = load(path)[index]
    d = bytes.fromhex(r["hex"])
    if here:
        s = S.udp_socket(dst)
        for _ in range(count):
            s.sendto(d, (dst, port))
            time.sleep(0.02)
        print(f"sent {r['class']} {index} {count} times to {dst}:{port} from here")
        return
    s = raw_socket()
    for _ in range(count):
        for p in ip_packets(r["src"], r["sport"], dst, port, d):
            s.sendto(p, (dst, 0))
        time.sleep(0.02)
    print(f"sent {r['class']} {index} {count} times to {dst}:{port} as from {r['src']}:{r['sport']}")


def flood_one(pkts, seconds):
    """Sends PKTS round and round for SECONDS: (sent, refused)."""
    s = raw_socket()
    n, full, end = 0, 0, time.time() + seconds
    while time.time() < end:
        for p, dst in pkts:
            try:
                s.sendto(p, (dst, 0))
                n += 1
            except OSError:  # ENOBUFS: the device's queue is full
                full += 1
    return n, full


def flood(path, seconds, ports, dsts):
    # A host's own address as source is dropped on arrival (a martian):
    # those pairs are left out.
    pkts = [(p, dst) for r in load(path) for dst in dsts if dst != r["src"] for port in ports
            for p in ip_packets(r["src"], r["sport"], dst, port, bytes.fromhex(r["hex"]))]
    # One sender per CPU, each from another place in the list.
    procs = os.cpu_count() or 1
    rd, wr = os.pipe()
    for k in range(1, procs):
        if os.fork() == 0:
            at = k * len(pkts) // procs
            os.write(wr, ("%d %d\n" % flood_one(pkts[at:] + pkts[:at], seconds)).encode())
            os._exit(0)
    n, full = flood_one(pkts, seconds)
    os.close(wr)
    for _ in range(1, procs):
        os.wait()
    for line in os.fdopen(rd).read().split("\n"):
        if line:
            a, b = map(int, line.split())
            n, full = n + a, full + b
    print(f"flood: {n} packets in {seconds:.0f} s ({n / seconds:.0f}/s) from {procs} processes, "
          f"{len(pkts)} distinct" + (f", {full} not sent (queue full)" if full else ""))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, a = argv[1], argv[2:]
    if cmd == "forge":
        do_forge(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5]), a[6], *[int(x) for x in a[7:8]])
    elif cmd == "sealed":
        claim = int(a[1]) if a[:1] == ["--claim"] else None
        a = a[2:] if claim is not None else a
        do_sealed(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5]), a[6],
                  *[int(x) for x in a[7:8]], claim=claim)
    elif cmd == "capture":
        capture(a[0], float(a[1]), a[2:])
    elif cmd == "list":
        do_list(a[0], *a[1:2])
    elif cmd == "send":
        here = a[:1] == ["--here"]
        a = a[1:] if here else a
        send(a[0], int(a[1]), a[2], int(a[3]), *[int(x) for x in a[4:5]], here=here)
    elif cmd == "flood":
        flood(a[0], float(a[1]), [int(p) for p in a[2].split(",")], a[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
