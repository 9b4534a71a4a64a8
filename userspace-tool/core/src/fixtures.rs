//! Examples for tests: this crate's, and those of the crates built on it,
//! which turn on the `fixtures` feature for their tests only. The kernel
//! module never compiles this file.

use crate::tcpstate::Initial;

/// An IPv4 connection named `id` from the client 192.0.2.2:`sport` to the
/// cluster address 192.0.2.100:7000 (both mapped into IPv6, as records
/// carry them), MSS 1448 with timestamps (12 bytes of options).
pub fn initial(id: u64, sport: u16) -> Initial {
    let mut src = [0u8; 16];
    src[10..12].copy_from_slice(&[0xff, 0xff]);
    src[12..].copy_from_slice(&[192, 0, 2, 2]);
    let mut dst = src;
    dst[15] = 100;
    Initial {
        id,
        src,
        dst,
        sport,
        dport: 7000,
        mss: 1448,
        opts_len: 12,
        v6: false,
    }
}
