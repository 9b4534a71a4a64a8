// SPDX-License-Identifier: GPL-2.0
//! SipHash-2-4 (Aumasson and Bernstein), the keyed hash behind the
//! cluster-wide seed: without the key an outsider cannot choose flows that
//! all land on one member.

/// A 128-bit SipHash key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key(pub [u8; 16]);

#[derive(Clone, Copy)]
struct State([u64; 4]);

impl State {
    fn new(key: &Key) -> Self {
        let k0 = le64(&key.0[..8]);
        let k1 = le64(&key.0[8..]);
        State([
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ])
    }

    fn round(&mut self) {
        let v = &mut self.0;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.0[3] ^= m;
        self.round();
        self.round();
        self.0[0] ^= m;
    }
}

fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// SipHash-2-4 of `msg` under `key`.
pub fn siphash24(key: &Key, msg: &[u8]) -> u64 {
    let mut s = State::new(key);
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        s.compress(le64(c));
    }
    let tail = chunks.remainder();
    s.compress(le64(tail) | ((msg.len() as u64 & 0xff) << 56));
    s.0[2] ^= 0xff;
    for _ in 0..4 {
        s.round();
    }
    s.0[0] ^ s.0[1] ^ s.0[2] ^ s.0[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference implementation's vectors: key 00..0f, message 00..(n-1).
    const REFERENCE: [(usize, u64); 4] = [
        (0, 0x726f_db47_dd0e_0e31),
        (1, 0x74f8_39c5_93dc_67fd),
        (8, 0x93f5_f579_9a93_2462),
        (15, 0xa129_ca61_49be_45e5),
    ];

    #[test]
    fn reference_vectors() {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut msg = [0u8; 64];
        for (i, b) in msg.iter_mut().enumerate() {
            *b = i as u8;
        }
        for (n, want) in REFERENCE {
            assert_eq!(siphash24(&Key(k), &msg[..n]), want, "length {n}");
        }
    }

    #[test]
    fn key_matters() {
        let a = siphash24(&Key([0; 16]), b"flow");
        let b = siphash24(&Key([1; 16]), b"flow");
        assert_ne!(a, b);
    }
}
