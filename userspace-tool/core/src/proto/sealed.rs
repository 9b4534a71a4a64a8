// SPDX-License-Identifier: GPL-2.0
//! Sealed datagrams: a message to one member, encrypted and authenticated
//! with the key its sender and recipient agreed for this port (the
//! AEAD itself is the daemon's, with `ring`).
//!
//! ```text
//!  0  magic "IPCM"          4  version (3)     5  kind | 0x80
//!  6  sender member id (u16)
//!  8  cluster id (u32)     12  session id (u32)
//! 16  counter (u64, from 1 per session and direction; the nonce)
//! 24  body length (u16)    26  the body, encrypted, then a 16-byte tag
//! ```
//!
//! The 26 header bytes are the AEAD's associated data, so every field a
//! receiver reads before opening is covered by the tag: a receiver checks
//! cluster, kind, session and counter first (all cheap), and pays for the
//! tag only for a datagram that could be new.

use super::{kind, Error, MAGIC, MAX_BODY, VERSION};

/// Bytes before the encrypted body.
pub const HEADER_LEN: usize = 26;
/// Bytes of the AEAD tag.
pub const TAG_LEN: usize = 16;

/// A sealed datagram's clear header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The inner message's kind (without [`kind::SEALED`]).
    pub kind: u8,
    /// The sender's member id.
    pub sender: u16,
    /// The cluster the message is for.
    pub cluster: u32,
    /// The session (key) it is sealed with.
    pub session: u32,
    /// Its number in that session and direction.
    pub counter: u64,
    /// The body's length.
    pub len: u16,
}

impl Header {
    /// Writes the header into `out[..HEADER_LEN]`.
    pub fn put(&self, out: &mut [u8]) -> Result<(), Error> {
        let h = out.get_mut(..HEADER_LEN).ok_or(Error::NoRoom)?;
        h[..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = self.kind | kind::SEALED;
        h[6..8].copy_from_slice(&self.sender.to_be_bytes());
        h[8..12].copy_from_slice(&self.cluster.to_be_bytes());
        h[12..16].copy_from_slice(&self.session.to_be_bytes());
        h[16..24].copy_from_slice(&self.counter.to_be_bytes());
        h[24..26].copy_from_slice(&self.len.to_be_bytes());
        Ok(())
    }
}

/// Whether datagram `d` claims to be sealed (its shape is not checked).
pub fn is_sealed(d: &[u8]) -> bool {
    d.len() > 5 && d[5] & kind::SEALED != 0
}

/// The header of sealed datagram `d`, if it has the shape of one: the
/// encrypted body and tag are `d[HEADER_LEN..]`, exactly `len +
/// TAG_LEN` bytes.
pub fn decode(d: &[u8]) -> Result<Header, Error> {
    if d.len() < HEADER_LEN || d[..4] != MAGIC || d[4] != VERSION {
        return Err(Error::NotOurs);
    }
    let be = |r: core::ops::Range<usize>| d[r].iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
    let h = Header {
        kind: d[5] & !kind::SEALED,
        sender: be(6..8) as u16,
        cluster: be(8..12) as u32,
        session: be(12..16) as u32,
        counter: be(16..24),
        len: be(24..26) as u16,
    };
    if d[5] & kind::SEALED == 0 || !super::sealed_only(h.kind) {
        return Err(Error::UnknownKind(d[5]));
    }
    if usize::from(h.len) > MAX_BODY || d.len() != HEADER_LEN + usize::from(h.len) + TAG_LEN {
        return Err(Error::Malformed);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_bad_shapes_are_refused() {
        let h = Header {
            kind: kind::TCP_STATE,
            sender: 3,
            cluster: 7,
            session: 0xdead_beef,
            counter: 42,
            len: 5,
        };
        let mut d = [0u8; HEADER_LEN + 5 + TAG_LEN];
        h.put(&mut d).unwrap();
        assert!(is_sealed(&d));
        assert_eq!(decode(&d), Ok(h));
        assert_eq!(decode(&d[..d.len() - 1]), Err(Error::Malformed));
        let mut signed_kind = d;
        signed_kind[5] = kind::MASTER_ALIVE | kind::SEALED;
        assert!(decode(&signed_kind).is_err(), "only sealed-only kinds");
        let mut v1 = d;
        v1[4] = 1;
        assert_eq!(decode(&v1), Err(Error::NotOurs));
        for n in 0..d.len() {
            let _ = decode(&d[..n]);
        }
    }
}
