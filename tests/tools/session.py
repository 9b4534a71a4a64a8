#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The cluster link's wire format, version 2, spoken from outside the
daemons: signed datagrams, the Hello key agreement and sealed datagrams
(the daemon's `proto.rs`, `proto/sealed.rs` and `wire/session.rs`).

  session.py selftest
        two peers of this file agree a session over UDP on 127.0.0.1 and
        open each other's sealed datagrams; the signed and sealed
        encodings are checked byte for byte against the layout the wire
        format sets out

A tool that speaks as a member opens a `Session` to a daemon: it sends a
signed Hello from a UDP socket of its own (an ephemeral port, so the
member's own daemon on the same host is left alone), the daemon answers
that socket address, and from then on `Session.send` seals messages with
the key the two agreed. Everything is big-endian.

Signed: "IPCM" 3 kind | sender u16 | cluster u32 | counter u64 (the
sender's wall clock in microseconds) | body length u16 | certificate
length u16 | body | certificate (DER) | Ed25519 signature (64 bytes).

Sealed: "IPCM" 3 kind|0x80 | sender u16 | cluster u32 | session u32 |
counter u64 (from 1) | body length u16 | ChaCha20-Poly1305 of the body
and its 16-byte tag; the nonce is 4 zero bytes and the counter, the
associated data the 26 bytes before the ciphertext.
"""
import base64
import hashlib
import ipaddress
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = 3
JOIN, WELCOME, REFUSE, OFFER, OBJECT, MASTER_ALIVE = 1, 2, 3, 4, 5, 6
MEMBER_ALIVE, LEAVE, TCP_STATE, TCP_ACK, HELLO = 7, 8, 9, 10, 11
SEALED = 0x80
# Kinds that travel only sealed: a signed one is refused.
SEALED_ONLY = (WELCOME, MEMBER_ALIVE, LEAVE, TCP_STATE, TCP_ACK)
NO_MEMBER = 0xFFFF
SIGNED_HEAD = 24
SEALED_HEAD = 26
TAG = 16
SIG = 64
HELLO_LEN = 82
INFO = b"ipcluster v2 session"


def der(pem_path):
    """The DER bytes of a PEM file's (first) block."""
    lines = open(pem_path).read().split("\n")
    body = "".join(l for l in lines if l and not l.startswith("-----"))
    return base64.b64decode(body)


def signing_key(key_path):
    """The Ed25519 key of a PKCS#8 PEM file (RFC 8410, with or without its
    public key): the 32-byte seed follows a fixed 16-byte prefix. (Older
    cryptography releases cannot load the form that carries the public
    key.)"""
    key = der(key_path)
    assert key[5:12] == bytes.fromhex("300506032b6570"), "not an Ed25519 key"
    return Ed25519PrivateKey.from_private_bytes(key[16:48])


class Identity:
    """A member's certificate (DER) and its signing key."""

    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    @classmethod
    def load(cls, pki, name):
        return cls(der(f"{pki}/{name}.pem"), signing_key(f"{pki}/{name}.key"))


_last_counter = 0


def counter():
    """A signed counter: the wall clock in microseconds, above any this
    process used before."""
    global _last_counter
    _last_counter = max(_last_counter + 1, int(time.time() * 1e6))
    return _last_counter


def mapped(addr):
    """A link address as a Hello names it: IPv4 mapped into IPv6."""
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        a = ipaddress.IPv6Address("::ffff:" + str(a))
    return a.packed


def unsigned(kind, body, sender, cluster, cert, count=None):
    """A signed datagram of KIND without its signature."""
    count = counter() if count is None else count
    head = b"IPCM" + struct.pack(">BBHIQHH", VERSION, kind, sender, cluster, count,
                                 len(body), len(cert))
    return head + body + cert


def signed(kind, body, sender, cluster, ident, count=None):
    """A signed datagram of KIND from member SENDER, carrying IDENT's
    certificate and signed with its key."""
    d = unsigned(kind, body, sender, cluster, ident.cert, count)
    return d + ident.key.sign(d)


def parse_signed(d):
    """(kind, sender, cluster, counter, body, cert, signed bytes, signature)
    of a signed datagram, or None when it has not the shape of one."""
    if len(d) < SIGNED_HEAD + SIG or d[:4] != b"IPCM" or d[4] != VERSION or d[5] & SEALED:
        return None
    kind, sender, cluster, count, blen, clen = struct.unpack_from(">BHIQHH", d, 5)
    if len(d) != SIGNED_HEAD + blen + clen + SIG:
        return None
    body = d[SIGNED_HEAD:SIGNED_HEAD + blen]
    cert = d[SIGNED_HEAD + blen:SIGNED_HEAD + blen + clen]
    return kind, sender, cluster, count, body, cert, d[:-SIG], d[-SIG:]


def verify(cert, data, sig):
    """Whether SIG is the signature of DATA by certificate CERT's key."""
    from cryptography import x509

    try:
        x509.load_der_x509_certificate(cert).public_key().verify(sig, data)
        return True
    except Exception:  # a bad certificate or signature alike
        return False


# Message bodies, as the daemon encodes them.
def hello_body(port, to, key, echo=bytes(32)):
    return struct.pack(">H", port) + mapped(to) + key + echo


def master_alive(config, timing, table, members, owners):
    """The master's keepalive: configuration version CONFIG, TIMING the
    keepalive period in milliseconds and the misses allowed, table
    version TABLE, MEMBERS (id, link address) pairs, the master first, and
    OWNERS the bucket table, a member id per bucket. The two lists are
    each a u16 length in bytes and the records: 18 bytes a member (its id,
    its address as an IPv6 address), 2 an owner."""
    period_ms, misses = timing
    m = b"".join(struct.pack(">H", i) + mapped(a) for i, a in members)
    o = b"".join(struct.pack(">H", i) for i in owners)
    return (struct.pack(">IHBIH", config, period_ms, misses, table, len(m)) + m
            + struct.pack(">H", len(o)) + o)


def member_alive(seq=1, table=1, config=1):
    return struct.pack(">III", seq, table, config)


def leave(why=2):
    """Leave; 2 is "stale configuration", which ends a daemon for good."""
    return bytes([why])


def tcp_state(seq, records):
    return struct.pack(">QH", seq, len(records)) + records


def tcp_ack(seqs):
    b = b"".join(struct.pack(">Q", s) for s in seqs)
    return struct.pack(">H", len(b)) + b


def nonce(count):
    return bytes(4) + struct.pack(">Q", count)


def seal(key, kind, sender, cluster, sid, count, body):
    """A sealed datagram of message KIND, its BODY sealed with KEY."""
    head = b"IPCM" + struct.pack(">BBHIIQH", VERSION, kind | SEALED, sender, cluster, sid,
                                 count, len(body))
    return head + ChaCha20Poly1305(key).encrypt(nonce(count), body, head)


def sealed_header(d):
    """(kind, sender, cluster, session, counter) of a sealed datagram, or
    None when it has not the shape of one."""
    if len(d) < SEALED_HEAD + TAG or d[:4] != b"IPCM" or d[4] != VERSION or not d[5] & SEALED:
        return None
    kind, sender, cluster, sid, count, blen = struct.unpack_from(">BHIIQH", d, 5)
    if len(d) != SEALED_HEAD + blen + TAG:
        return None
    return kind & ~SEALED, sender, cluster, sid, count


def unseal(key, d):
    """The body of sealed datagram D (raises InvalidTag when KEY did not
    seal it)."""
    count = struct.unpack_from(">Q", d, 16)[0]
    return ChaCha20Poly1305(key).decrypt(nonce(count), d[SEALED_HEAD:], d[:SEALED_HEAD])


def derive(shared, i_pub, r_pub, port, cluster, i_cert, r_cert):
    """(key initiator to responder, key responder to initiator, session
    id) of an agreement on PORT (the responder's)."""
    salt = i_pub + r_pub
    info = (INFO + struct.pack(">HI", port, cluster) + hashlib.sha256(i_cert).digest()
            + hashlib.sha256(r_cert).digest())
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=info).derive(shared)
    sid = struct.unpack(">I", hashlib.sha256(salt).digest()[:4])[0]
    return okm[:32], okm[32:], sid


def ephemeral():
    k = X25519PrivateKey.generate()
    return k, k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def exchange(private, public):
    return private.exchange(X25519PublicKey.from_public_bytes(public))


class NoSession(Exception):
    """The peer did not answer the Hello."""


def udp_socket(dst, src=None):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(src or ("", 0))
    return s


def same(a, b):
    """Whether socket addresses A and B are the same (IPv4 either plain or
    mapped)."""
    ip = lambda x: ipaddress.ip_address(x[0].split("%")[0])
    canon = lambda x: x.ipv4_mapped or x if x.version == 6 else x
    return canon(ip(a)) == canon(ip(b)) and a[1] == b[1]


class Session:
    """A session with the daemon at DST:PORT, as member SENDER of CLUSTER
    with certificate PKI/NAME.pem: the Hello goes out (again every second,
    TRIES times in all) until the daemon answers; NoSession when it never
    does. An Identity may stand for PKI and NAME (pki=ident, name=None)."""

    def __init__(self, dst, port, cluster, pki, name, sender, tries=3, sock=None):
        self.dst, self.port, self.cluster, self.sender = dst, port, cluster, sender
        self.ident = pki if name is None else Identity.load(pki, name)
        self.sock = sock or udp_socket(dst)
        self.sent = 0
        self.seen = set()
        self.hellos = 0
        private, public = ephemeral()
        for _ in range(tries):
            self.hellos += 1
            body = hello_body(port, dst, public)
            self.sock.sendto(signed(HELLO, body, sender, cluster, self.ident), (dst, port))
            answer = self._answer(public, time.time() + 1.0)
            if answer:
                r_pub, r_cert = answer
                self.tx, self.rx, self.id = derive(exchange(private, r_pub), public, r_pub, port,
                                                   cluster, self.ident.cert, r_cert)
                return
        self.sock.close()
        raise NoSession(f"{dst}:{port} did not answer {tries} Hellos")

    def _answer(self, public, deadline):
        """The responder's key and certificate, from the first authentic
        Hello that answers PUBLIC before DEADLINE."""
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                d, src = self.sock.recvfrom(65536)
            except socket.timeout:
                return None
            p = parse_signed(d)
            if not p or p[0] != HELLO or len(p[4]) != HELLO_LEN or not same(src, (self.dst, self.port)):
                continue
            body, cert = p[4], p[5]
            if body[50:82] == public and verify(cert, p[6], p[7]):
                return body[18:50], cert
        return None

    def seal(self, kind, body):
        """A sealed datagram of KIND, not sent."""
        self.sent += 1
        return seal(self.tx, kind, self.sender, self.cluster, self.id, self.sent, body)

    def send(self, kind, body):
        """Sends BODY sealed as a message of KIND; the datagram."""
        d = self.seal(kind, body)
        self.sock.sendto(d, (self.dst, self.port))
        return d

    def open(self, d):
        """(kind, body) of a sealed datagram from the peer, or None when it is
        not one of this session's or was seen already."""
        h = sealed_header(d)
        if not h or h[3] != self.id or h[4] in self.seen:
            return None
        try:
            body = unseal(self.rx, d)
        except Exception:  # cryptography's InvalidTag
            return None
        self.seen.add(h[4])
        return h[0], body

    def close(self):
        self.sock.close()


class Responder:
    """The answering side of the agreement, as a daemon has it: on its
    own link address and port, for the self-test."""

    def __init__(self, sock, cluster, ident, sender):
        self.sock, self.cluster, self.ident, self.sender = sock, cluster, ident, sender
        self.sessions = {}

    def hello(self, d, src):
        """Answers first Hello D from SRC; the session (tx, rx, id)."""
        p = parse_signed(d)
        assert p and p[0] == HELLO and verify(p[5], p[6], p[7]), "not a good Hello"
        body, cert = p[4], p[5]
        port, to, i_pub = struct.unpack(">H", body[:2])[0], body[2:18], body[18:50]
        me = self.sock.getsockname()
        assert port == me[1] and to == mapped(me[0]), "a Hello for another address or port"
        private, public = ephemeral()
        i2r, r2i, sid = derive(exchange(private, i_pub), i_pub, public, port, self.cluster,
                               cert, self.ident.cert)
        answer = hello_body(src[1], src[0], public, i_pub)
        self.sock.sendto(signed(HELLO, answer, self.sender, self.cluster, self.ident), src)
        self.sessions[src] = (r2i, i2r, sid)
        return self.sessions[src]


# Known answers for the self-test. X25519: RFC 7748 section 6.1 (Alice
# initiates, Bob answers). The keys, session id and sealed datagram were
# computed with ring 0.17.14 (the daemon's crate) from the spec: HKDF-SHA256
# over port 7401, cluster 7 and certificates b"i" and b"r"; then message
# kind 9 from member 3, session 0xdeadbeef, counter 42, body b"records".
ALICE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
BOB = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
RING_OKM = ("e0c235155cae23ef816d0cc3952eb86e472eda40baef32957fa089f0e2babfe1"
            "02e11b00d86dc4c55b5ccafdbc5de51271210fc5d14590e28e16938b2fb9ccd5")
RING_SID = 0x99625B51
RING_SEALED = ("4950434d0389000300000007deadbeef000000000000002a0007"
               "0e1b6f1ec8aa431b923e98ff4de0729bb81fc5dbcd513f")


def _x25519(private_hex):
    k = X25519PrivateKey.from_private_bytes(bytes.fromhex(private_hex))
    return k, k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _test_vectors():
    a, a_pub = _x25519(ALICE)
    b, b_pub = _x25519(BOB)
    shared = exchange(a, b_pub)
    assert shared == exchange(b, a_pub) == bytes.fromhex(SHARED), "X25519 (RFC 7748)"
    i2r, r2i, sid = derive(shared, a_pub, b_pub, 7401, 7, b"i", b"r")
    assert i2r + r2i == bytes.fromhex(RING_OKM) and sid == RING_SID, "HKDF as ring has it"
    d = seal(i2r, TCP_STATE, 3, 7, 0xDEADBEEF, 42, b"records")
    # The header as the spec lays it out: magic, version, kind | 0x80,
    # sender, cluster, session, counter, body length.
    head = "4950434d 03 89 0003 00000007 deadbeef 000000000000002a 0007"
    assert d[:SEALED_HEAD] == bytes.fromhex(head.replace(" ", "")), "sealed header"
    assert d == bytes.fromhex(RING_SEALED), "sealed as ring seals it"
    assert sealed_header(d) == (TCP_STATE, 3, 7, 0xDEADBEEF, 42)
    assert unseal(i2r, d) == b"records"
    return i2r


def _test_signed():
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    ident = Identity(b"CERT", key)
    body = hello_body(7401, "192.0.2.11", bytes([6]) * 32)
    d = signed(HELLO, body, 3, 7, ident, count=0x0102030405060708)
    expect = ("4950434d 03 0b 0003 00000007 0102030405060708 0052 0004"  # header
              " 1ce9 00000000000000000000ffff c000020b" + " 06" * 32 + " 00" * 32  # Hello
              + " 43455254")  # certificate
    assert d[:-SIG] == bytes.fromhex(expect.replace(" ", "")), "signed layout"
    key.public_key().verify(d[-SIG:], d[:-SIG])
    p = parse_signed(d)
    assert p[:6] == (HELLO, 3, 7, 0x0102030405060708, body, b"CERT")
    assert len(body) == HELLO_LEN
    assert member_alive(1, 2, 3) == bytes.fromhex("000000010000000200000003")
    assert tcp_state(5, b"ab") == bytes.fromhex("00000000000000050002") + b"ab"
    assert tcp_ack([7]) == bytes.fromhex("00080000000000000007")
    # As the daemon's proto::encode_body writes it: configuration 5,
    # period 50 ms, 3 misses, table 9; two members; owners 1, 2, 1, none.
    members = [(1, "192.0.2.11"), (2, "2001:db8::12")]
    alive = master_alive(5, (50, 3), 9, members, [1, 2, 1, NO_MEMBER])
    expect = ("00000005 0032 03 00000009"
              " 0024 0001 00000000000000000000ffffc000020b 0002 20010db8000000000000000000000012"
              " 0008 0001 0002 0001 ffff")
    assert alive == bytes.fromhex(expect.replace(" ", "")), "master keepalive layout"
    assert mapped("2001:db8::11") == bytes.fromhex("20010db8000000000000000000000011")


def _identity(name):
    """A self-signed Ed25519 certificate and its key."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = Ed25519PrivateKey.generate()
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(n).issuer_name(n)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, None))
    return Identity(cert.public_bytes(Encoding.DER), key)


def _test_live():
    """Two peers of this file on 127.0.0.1: a Session and a Responder."""
    import threading

    rsock = udp_socket("127.0.0.1", ("127.0.0.1", 0))
    resp = Responder(rsock, 7, _identity("m2"), 2)
    got = []

    def serve():
        d, src = rsock.recvfrom(65536)
        tx, rx, sid = resp.hello(d, src)
        for _ in range(3):
            d, _ = rsock.recvfrom(65536)
            h = sealed_header(d)
            got.append((h[0], h[3] == sid, unseal(rx, d)))
        rsock.sendto(seal(tx, TCP_ACK, 2, 7, sid, 1, tcp_ack([1])), src)

    t = threading.Thread(target=serve)
    t.start()
    s = Session("127.0.0.1", rsock.getsockname()[1], 7, _identity("m1"), None, 1)
    first = s.send(TCP_STATE, tcp_state(1, b"one"))
    s.send(MEMBER_ALIVE, member_alive())
    s.send(LEAVE, leave())
    t.join(5)
    assert got == [(TCP_STATE, True, tcp_state(1, b"one")), (MEMBER_ALIVE, True, member_alive()),
                   (LEAVE, True, leave())], got
    s.sock.settimeout(5)
    ack, _ = s.sock.recvfrom(65536)
    assert s.open(ack) == (TCP_ACK, tcp_ack([1])), "the responder's datagram opens"
    assert s.open(ack) is None, "once"
    assert s.open(first) is None, "one key each way"
    bad = bytearray(ack)
    bad[20] ^= 1
    assert s.open(bytes(bad)) is None, "the header is covered by the tag"
    s.close()
    rsock.close()
    return s.id


def selftest():
    _test_vectors()
    _test_signed()
    sid = _test_live()
    print(f"ok: RFC 7748, ring's keys and sealing, the signed layout, a live session {sid:#010x}")


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        selftest()
    else:
        sys.exit(__doc__)
