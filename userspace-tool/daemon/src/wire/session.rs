//! One session: the keys two members agreed for one port, as WireGuard
//! and IPsec do it — an ephemeral X25519 exchange, both halves signed by
//! the members' certificates, expanded with HKDF-SHA256 into one
//! ChaCha20-Poly1305 key per direction. A restart means new ephemeral
//! keys on both sides, so nothing sealed before it opens after it.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::digest::{digest, SHA256};
use ring::hkdf::{self, Salt, HKDF_SHA256};
use ring::rand::SystemRandom;

use super::window::Window;
use super::Reject;
use crate::shared::proto::sealed::{self, TAG_LEN};
use crate::shared::proto::KEY_LEN;

/// What a session's keys are bound to, besides the two ephemeral keys:
/// the port (of the responder), the cluster and both certificates, so
/// that a key agreed for one of them is worth nothing for another.
pub(crate) struct Binding<'a> {
    pub(crate) port: u16,
    pub(crate) cluster: u32,
    pub(crate) initiator_cert: &'a [u8],
    pub(crate) responder_cert: &'a [u8],
}

/// A key agreement this side started: its private half waits for the
/// answer.
pub(crate) struct Pending {
    key: EphemeralPrivateKey,
    pub(crate) public: [u8; KEY_LEN],
}

impl Pending {
    pub(crate) fn new(rng: &SystemRandom) -> Option<Pending> {
        let key = EphemeralPrivateKey::generate(&X25519, rng).ok()?;
        let public = key.compute_public_key().ok()?.as_ref().try_into().ok()?;
        Some(Pending { key, public })
    }

    /// The session this agreement gives with the responder's `theirs`.
    pub(crate) fn finish(self, theirs: &[u8; KEY_LEN], b: &Binding<'_>) -> Option<Session> {
        let (mine, public) = (self.key, self.public);
        Session::agree(mine, theirs, (&public, theirs), b, true)
    }

    /// As responder to initiator key `theirs`: our public key and the
    /// session.
    pub(crate) fn answer(
        rng: &SystemRandom,
        theirs: &[u8; KEY_LEN],
        b: &Binding<'_>,
    ) -> Option<([u8; KEY_LEN], Session)> {
        let p = Pending::new(rng)?;
        let public = p.public;
        let s = Session::agree(p.key, theirs, (theirs, &public), b, false)?;
        Some((public, s))
    }
}

/// Keys of one session, its counter and its replay window.
pub(crate) struct Session {
    pub(crate) id: u32,
    /// When it was agreed.
    pub(crate) born: std::time::Instant,
    tx: LessSafeKey,
    rx: LessSafeKey,
    sent: u64,
    window: Window,
}

/// HKDF output length for two 32-byte keys.
struct Okm;

impl hkdf::KeyType for Okm {
    fn len(&self) -> usize {
        64
    }
}

impl Session {
    /// The session from our private key, their public key, the two
    /// public keys in the order (initiator, responder) and the binding.
    fn agree(
        mine: EphemeralPrivateKey,
        theirs: &[u8; KEY_LEN],
        (ik, rk): (&[u8; KEY_LEN], &[u8; KEY_LEN]),
        b: &Binding<'_>,
        initiator: bool,
    ) -> Option<Session> {
        let peer = UnparsedPublicKey::new(&X25519, theirs);
        let mut salt = [0u8; 2 * KEY_LEN];
        salt[..KEY_LEN].copy_from_slice(ik);
        salt[KEY_LEN..].copy_from_slice(rk);
        let (fi, fr) = (
            digest(&SHA256, b.initiator_cert),
            digest(&SHA256, b.responder_cert),
        );
        let (port, cluster) = (b.port.to_be_bytes(), b.cluster.to_be_bytes());
        let info: [&[u8]; 5] = [
            b"ipcluster v2 session",
            &port,
            &cluster,
            fi.as_ref(),
            fr.as_ref(),
        ];
        let mut okm = [0u8; 64];
        agreement::agree_ephemeral(mine, &peer, |shared| {
            Salt::new(HKDF_SHA256, &salt)
                .extract(shared)
                .expand(&info, Okm)
                .and_then(|o| o.fill(&mut okm))
        })
        .ok()?
        .ok()?;
        let key = |k: &[u8]| {
            UnboundKey::new(&CHACHA20_POLY1305, k)
                .ok()
                .map(LessSafeKey::new)
        };
        let (i2r, r2i) = (key(&okm[..32])?, key(&okm[32..])?);
        let (tx, rx) = if initiator { (i2r, r2i) } else { (r2i, i2r) };
        let id = digest(&SHA256, &salt);
        let id = u32::from_be_bytes(id.as_ref()[..4].try_into().ok()?);
        Some(Session {
            id,
            born: std::time::Instant::now(),
            tx,
            rx,
            sent: 0,
            window: Window::default(),
        })
    }

    /// A sealed datagram of `body` (a message of `kind`) from member
    /// `sender` of `cluster`.
    pub(crate) fn seal(&mut self, kind: u8, sender: u16, cluster: u32, body: &[u8]) -> Vec<u8> {
        self.sent += 1;
        let h = sealed::Header {
            kind,
            sender,
            cluster,
            session: self.id,
            counter: self.sent,
            len: body.len() as u16,
        };
        let mut d = vec![0u8; sealed::HEADER_LEN + body.len() + TAG_LEN];
        let (head, rest) = d.split_at_mut(sealed::HEADER_LEN);
        // The header fits: the buffer was sized for it.
        let _ = h.put(head);
        let (text, tag) = rest.split_at_mut(body.len());
        text.copy_from_slice(body);
        // Sealing fails only past 2^64 blocks.
        if let Ok(t) = self
            .tx
            .seal_in_place_separate_tag(nonce(self.sent), Aad::from(&*head), text)
        {
            tag.copy_from_slice(t.as_ref());
        }
        d
    }

    /// The body of sealed datagram `d` with header `h`, if it is new and
    /// authentic; only then does the window move.
    pub(crate) fn open(&mut self, h: &sealed::Header, d: &[u8]) -> Result<Vec<u8>, Reject> {
        if !self.window.peek(h.counter) {
            return Err(Reject::Replayed);
        }
        let (head, rest) = d.split_at(sealed::HEADER_LEN);
        let mut text = rest.to_vec();
        let n = self
            .rx
            .open_in_place(nonce(h.counter), Aad::from(head), &mut text)
            .map_err(|_| Reject::BadTag)?
            .len();
        text.truncate(n);
        self.window.fresh(h.counter);
        Ok(text)
    }
}

/// The nonce of message `counter`: unique per key, as each direction has
/// a key of its own.
fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::proto::kind;

    #[test]
    fn both_sides_agree_and_only_fresh_authentic_datagrams_open() {
        let rng = SystemRandom::new();
        let b = Binding {
            port: 7401,
            cluster: 7,
            initiator_cert: b"i",
            responder_cert: b"r",
        };
        let p = Pending::new(&rng).unwrap();
        let (rk, mut r) = Pending::answer(&rng, &p.public, &b).unwrap();
        let mut i = p.finish(&rk, &b).unwrap();
        assert_eq!(i.id, r.id);
        let d = i.seal(kind::TCP_STATE, 3, 7, b"records");
        let h = sealed::decode(&d).unwrap();
        assert_eq!(r.open(&h, &d).unwrap(), b"records");
        assert_eq!(r.open(&h, &d), Err(Reject::Replayed));
        let back = r.seal(kind::TCP_ACK, 2, 7, b"ack");
        assert_eq!(
            i.open(&sealed::decode(&back).unwrap(), &back).unwrap(),
            b"ack"
        );
        // Its own datagram does not open at the sender (one key each way).
        let d2 = i.seal(kind::TCP_STATE, 3, 7, b"x");
        assert_eq!(
            i.open(&sealed::decode(&d2).unwrap(), &d2),
            Err(Reject::BadTag)
        );
        for at in 0..d2.len() {
            let mut bad = d2.clone();
            bad[at] ^= 1;
            if let Ok(h) = sealed::decode(&bad) {
                assert!(r.open(&h, &bad).is_err(), "byte {at}");
            }
        }
        // Another binding (port, certificate) gives other keys.
        let other = Binding { port: 7400, ..b };
        let p = Pending::new(&rng).unwrap();
        let (rk, _) = Pending::answer(&rng, &p.public, &b).unwrap();
        let mut wrong = p.finish(&rk, &other).unwrap();
        let d3 = wrong.seal(kind::TCP_STATE, 3, 7, b"x");
        assert!(r.open(&sealed::decode(&d3).unwrap(), &d3).is_err());
    }
}
