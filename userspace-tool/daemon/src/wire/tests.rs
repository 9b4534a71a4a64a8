//! The endpoint's checks, datagram by datagram, as a peer or an attacker
//! on the link would send them.

use super::*;
use crate::cert::{self, Pem};
use crate::membership::node::Message;
use crate::shared::proto::Exit;
use crate::survival::link;

fn at(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, host], port))
}

fn identity(ca: &Pem, name: &str, host: u8) -> Identity {
    let ip = IpAddr::from([192, 0, 2, host]);
    Identity::new(&cert::issue_at(ca, name, Some(ip)).unwrap()).unwrap()
}

fn endpoint<M: Payload>(ca: &Pem, host: u8, port: u16, revoked: &[String]) -> Endpoint<M> {
    let trust = Trust::new(&ca.cert, [], revoked.iter().cloned()).unwrap();
    let id = identity(ca, &format!("m{host}"), host);
    Endpoint::new(7, id, trust, now_us(), at(host, port))
}

const ALIVE: Message = Message::MemberAlive {
    seq: 1,
    table: 2,
    config: 1,
};

/// Delivers what `a` (at `aa`) and `b` (at `ba`) send each other until
/// neither has more; what `b` took.
fn pump<M: Payload>(
    a: &mut Endpoint<M>,
    aa: SocketAddr,
    b: &mut Endpoint<M>,
    ba: SocketAddr,
    mut to_b: Vec<Sent>,
) -> Vec<(u16, M)> {
    let now = UnixTime::now();
    let mut got = Vec::new();
    while !to_b.is_empty() {
        let mut to_a = Vec::new();
        for s in to_b.drain(..) {
            assert_eq!(s.to, ba);
            if let Ok(Some(m)) = b.open(&s.d, aa, now, &mut to_a) {
                got.push(m);
            }
        }
        for s in to_a {
            assert_eq!(s.to, aa);
            let _ = a.open(&s.d, ba, now, &mut to_b);
        }
    }
    got
}

#[test]
fn a_sealed_message_waits_for_a_session_and_then_opens_once() {
    let ca = cert::new_ca("c").unwrap();
    let (aa, ba) = (at(1, 7400), at(2, 7400));
    let mut a: Endpoint<Message> = endpoint(&ca, 1, 7400, &[]);
    let mut b: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    assert_eq!(out.len(), 1, "a Hello, the keepalive waits");
    assert!(!sealed::is_sealed(&out[0].d));
    assert_eq!(pump(&mut a, aa, &mut b, ba, out), [(3, ALIVE)]);
    // From now on, sealed at once.
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    assert!(sealed::is_sealed(&out[0].d));
    let d = out.remove(0).d;
    let now = UnixTime::now();
    assert_eq!(b.open(&d, aa, now, &mut out), Ok(Some((3, ALIVE))));
    assert_eq!(b.open(&d, aa, now, &mut out), Err(Reject::Replayed));
    // From another address (the session is the pair's), or altered.
    assert_eq!(
        b.open(&d, at(9, 7400), now, &mut out),
        Err(Reject::UnknownSession)
    );
    let mut bad = d.clone();
    *bad.last_mut().unwrap() ^= 1;
    bad[17] ^= 1; // another counter, so the window lets it through
    assert_eq!(b.open(&bad, aa, now, &mut out), Err(Reject::BadTag));
    // Answers go back sealed under the same session.
    let mut back = Vec::new();
    b.seal(1, aa, &Message::Leave(Exit::NotAMember), &mut back)
        .unwrap();
    assert!(sealed::is_sealed(&back[0].d));
    let r = b.rejected;
    assert_eq!((r.replayed, r.unknown_session, r.bad_tag), (1, 1, 1));
}

#[test]
fn nothing_crosses_ports_or_is_taken_signed_where_it_travels_sealed() {
    let ca = cert::new_ca("c").unwrap();
    let (aa, ba) = (at(1, 7401), at(2, 7401));
    let mut a: Endpoint<link::Message> = endpoint(&ca, 1, 7401, &[]);
    let mut b: Endpoint<link::Message> = endpoint(&ca, 2, 7401, &[]);
    let mut bm: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let state = link::Message::State {
        seq: 1,
        records: vec![1; 56],
    };
    let mut out = Vec::new();
    a.seal(3, ba, &state, &mut out).unwrap();
    pump(&mut a, aa, &mut b, ba, out);
    let mut out = Vec::new();
    a.seal(3, ba, &state, &mut out).unwrap();
    let now = UnixTime::now();
    let mut none = Vec::new();
    // TCP state at the membership's port: refused before any key.
    assert_eq!(
        bm.open(&out[0].d, aa, now, &mut none),
        Err(Reject::WrongPort)
    );
    assert_eq!(
        b.open(&out[0].d, aa, now, &mut none),
        Ok(Some((3, state.clone())))
    );
    // A sealed-only kind, signed with a member's own key.
    let d = {
        let mut w = Vec::new();
        ALIVE.with_wire(|m| a.signed(3, m).map(|d| w = d)).unwrap();
        w
    };
    assert_eq!(
        bm.open(&d, at(1, 7400), now, &mut none),
        Err(Reject::SignedWhereSealed)
    );
    // A Hello meant for the TCP state port, at the membership's.
    let mut hello = Vec::new();
    a.seal(3, at(2, 7402), &state, &mut hello).unwrap();
    assert_eq!(
        bm.open(&hello[0].d, aa, now, &mut none),
        Err(Reject::NotForUs)
    );
    assert!(none.is_empty(), "nothing answered");
    assert_eq!(
        (bm.rejected.wrong_port, bm.rejected.signed_where_sealed),
        (1, 1)
    );
}

#[test]
fn a_restart_means_new_keys_and_old_traffic_opens_nothing() {
    let ca = cert::new_ca("c").unwrap();
    let (aa, ba) = (at(1, 7400), at(2, 7400));
    let mut a: Endpoint<Message> = endpoint(&ca, 1, 7400, &[]);
    let mut b: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    let hello = out[0].d.clone();
    pump(&mut a, aa, &mut b, ba, out);
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    let old = out.remove(0).d;
    // b restarts: a second later, with new keys.
    std::thread::sleep(Duration::from_millis(1100));
    let mut b: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let now = UnixTime::now();
    let mut hellos = Vec::new();
    assert_eq!(
        b.open(&old, aa, now, &mut hellos),
        Err(Reject::UnknownSession)
    );
    assert_eq!(b.open(&hello, aa, now, &mut Vec::new()), Err(Reject::Stale));
    // b's Hello gets the pair new keys; a's next keepalive opens.
    assert_eq!(hellos.len(), 1);
    let mut back = Vec::new();
    assert_eq!(a.open(&hellos[0].d, ba, now, &mut back), Ok(None));
    for s in back {
        let _ = b.open(&s.d, aa, now, &mut Vec::new());
    }
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    assert_eq!(
        b.open(&out[0].d, aa, now, &mut Vec::new()),
        Ok(Some((3, ALIVE)))
    );
}

#[test]
fn a_certificate_counts_only_from_its_address_and_while_trusted() {
    let ca = cert::new_ca("c").unwrap();
    let ba = at(2, 7400);
    let mut a: Endpoint<Message> = endpoint(&ca, 1, 7400, &[]);
    let mut b: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let mut out = Vec::new();
    a.seal(3, ba, &ALIVE, &mut out).unwrap();
    let now = UnixTime::now();
    let mut none = Vec::new();
    // m1's Hello from m3's host: not answered.
    assert_eq!(
        b.open(&out[0].d, at(3, 7400), now, &mut none),
        Err(Reject::WrongAddress)
    );
    assert!(none.is_empty());
    // A stranger's CA: its keepalives are ignored, its join refused.
    let rogue_ca = cert::new_ca("rogue").unwrap();
    let mut rogue: Endpoint<Message> = endpoint(&rogue_ca, 4, 7400, &[]);
    let join = Message::Join {
        refused: None,
        config: 1,
    };
    let mut out = Vec::new();
    rogue.seal(proto::NO_MEMBER, ba, &join, &mut out).unwrap();
    rogue
        .seal(1, ba, &Message::Offer { members: 9 }, &mut out)
        .unwrap();
    let refused = Message::Join {
        refused: Some(Nak::BadCertificate),
        config: 1,
    };
    let from = at(4, 7400);
    assert_eq!(
        b.open(&out[0].d, from, now, &mut none),
        Ok(Some((proto::NO_MEMBER, refused)))
    );
    assert_eq!(
        b.open(&out[1].d, from, now, &mut none),
        Err(Reject::Untrusted)
    );
    // Revoked: refused at once, sessions gone.
    let fp = fingerprint(a.id.cert());
    let mut out = Vec::new();
    a.seal(3, ba, &Message::Offer { members: 1 }, &mut out)
        .unwrap();
    b.set_trust(Trust::new(&ca.cert, [], [fp]).unwrap());
    let r = b.open(&out[0].d, at(1, 7400), now, &mut none);
    assert_eq!(r, Err(Reject::Untrusted));
}

#[test]
fn old_and_future_signed_counters_are_stale() {
    let ca = cert::new_ca("c").unwrap();
    let mut a: Endpoint<Message> = endpoint(&ca, 1, 7400, &[]);
    let mut b: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let offer = Message::Offer { members: 1 };
    let mut none = Vec::new();
    let now = UnixTime::now();
    // Signed by a's key with counter `c`.
    let at_counter = |a: &Endpoint<Message>, c: u64| {
        let h = Header {
            sender: 1,
            cluster: 7,
            counter: c,
        };
        let mut d = encode(&h, &offer, a.id.cert()).unwrap();
        let n = d.len() - proto::SIG_LEN;
        let sig = a.id.sign(&d[..n]);
        d[n..].copy_from_slice(&sig);
        d
    };
    let t = now_us();
    // Two minutes old, two minutes ahead, and from before b started.
    for c in [t - 120_000_000, t + 120_000_000, b.start - 2_000_000] {
        let d = at_counter(&a, c);
        assert_eq!(b.open(&d, at(1, 7400), now, &mut none), Err(Reject::Stale));
    }
    let d = offer.with_wire(|m| a.signed(1, m)).unwrap();
    assert_eq!(
        b.open(&d, at(1, 7400), now, &mut none),
        Ok(Some((1, offer.clone())))
    );
    assert_eq!(
        b.open(&d, at(1, 7400), now, &mut none),
        Err(Reject::Replayed)
    );
}

/// `make bench` (IPC_BENCH=link): CPU per datagram on the link, sender
/// and receiver together, signed against sealed, for a keepalive and for
/// TCP state of one full segment. Single-threaded, so wall time is CPU
/// time.
#[test]
#[ignore = "a benchmark: make bench"]
fn bench_link_cost_per_datagram() {
    let ca = cert::new_ca("c").unwrap();
    let (aa, ba) = (at(1, 7401), at(2, 7401));
    let mut a: Endpoint<link::Message> = endpoint(&ca, 1, 7401, &[]);
    let mut b: Endpoint<link::Message> = endpoint(&ca, 2, 7401, &[]);
    a.budget.clear();
    b.budget.clear();
    let state = link::Message::State {
        seq: 1,
        records: vec![7; 56 + 24 + 1448],
    };
    let mut out = Vec::new();
    a.seal(3, ba, &state, &mut out).unwrap();
    pump(&mut a, aa, &mut b, ba, out);
    let mut out = Vec::new();
    let now = UnixTime::now();
    let per = |n: u32, t: Instant| t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    // Signed: what every datagram cost before sessions (the same checks
    // on a kind that may still travel signed).
    let (n_signed, n_sealed) = (2_000u32, 50_000u32);
    let msg = Message::Offer { members: 3 };
    let mut am: Endpoint<Message> = endpoint(&ca, 1, 7400, &[]);
    let mut bm: Endpoint<Message> = endpoint(&ca, 2, 7400, &[]);
    let t = Instant::now();
    for _ in 0..n_signed {
        let d = msg.with_wire(|m| am.signed(3, m)).unwrap();
        bm.budget.clear();
        assert!(matches!(
            bm.open(&d, at(1, 7400), now, &mut out),
            Ok(Some(_))
        ));
    }
    let signed = per(n_signed, t);
    let t = Instant::now();
    let mut sent = Vec::new();
    for _ in 0..n_sealed {
        a.seal(3, ba, &state, &mut sent).unwrap();
        let d = sent.pop().unwrap().d;
        assert!(matches!(b.open(&d, aa, now, &mut out), Ok(Some(_))));
    }
    let sealed = per(n_sealed, t);
    println!("link: signed {signed:.1} µs/datagram ({n_signed} keepalive-sized datagrams, sign + verify)");
    println!(
        "link: sealed {sealed:.2} µs/datagram ({n_sealed} TCP state datagrams of {} bytes, seal + open)",
        56 + 24 + 1448
    );
    println!("link: sealed/signed CPU ratio {:.4}", sealed / signed);
}
