//! `clusteradm hash`: which bucket a flow falls into.

use clap::Args;
use ipcluster_core::hash::{self, Flow, L2tp, Mode};
use ipcluster_core::siphash::Key;
use serde::Serialize;
use std::net::IpAddr;

/// A flow, as the kernel would see it.
#[derive(Args, Debug)]
pub(crate) struct HashArgs {
    /// Source address.
    #[arg(long)]
    src: IpAddr,
    /// Destination address (the cluster IP for local traffic).
    #[arg(long)]
    dst: IpAddr,
    /// tcp, udp, icmp or a protocol number.
    #[arg(long, default_value = "tcp", value_parser = parse_proto)]
    proto: u8,
    /// Source port.
    #[arg(long, default_value_t = 0)]
    sport: u16,
    /// Destination port.
    #[arg(long, default_value_t = 0)]
    dport: u16,
    /// Forwarded traffic (symmetric hash).
    #[arg(long)]
    forwarded: bool,
    /// L2TP tunnel and session IDs, as TUNNEL:SESSION.
    #[arg(long, value_parser = parse_l2tp)]
    l2tp: Option<L2tp>,
    /// Number of buckets (a power of two).
    #[arg(long, default_value_t = 1 << hash::DEFAULT_BUCKET_BITS, value_parser = parse_buckets)]
    buckets: u32,
    /// Keyed hash with this 128-bit seed (32 hex digits); the seed hash without.
    #[arg(long, value_parser = parse_key)]
    key: Option<Key>,
}

pub(crate) fn parse_proto(s: &str) -> Result<u8, String> {
    match s {
        "tcp" => Ok(hash::IPPROTO_TCP),
        "udp" => Ok(hash::IPPROTO_UDP),
        "icmp" => Ok(hash::IPPROTO_ICMP),
        n => n.parse().map_err(|_| format!("unknown protocol {n:?}")),
    }
}

pub(crate) fn parse_l2tp(s: &str) -> Result<L2tp, String> {
    let (t, sess) = s.split_once(':').ok_or("expected TUNNEL:SESSION")?;
    Ok(L2tp {
        tunnel: t.parse().map_err(|e| format!("tunnel: {e}"))?,
        session: sess.parse().map_err(|e| format!("session: {e}"))?,
    })
}

pub(crate) fn parse_buckets(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !n.is_power_of_two() || n.trailing_zeros() > hash::MAX_BUCKET_BITS {
        return Err(format!(
            "must be a power of two from 1 to {}",
            1u32 << hash::MAX_BUCKET_BITS
        ));
    }
    Ok(n)
}

pub(crate) fn parse_key(s: &str) -> Result<Key, String> {
    let s = s.trim_start_matches("0x");
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a key is 32 hex digits".into());
    }
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| format!("{e}"))?;
    }
    Ok(Key(k))
}

/// An address as the core's four words.
pub(crate) fn words(a: IpAddr) -> [u32; 4] {
    match a {
        IpAddr::V4(v4) => [0, 0, 0, u32::from(v4)],
        IpAddr::V6(v6) => ipcluster_core::packet::addr_words(&v6.octets()),
    }
}

#[derive(Serialize)]
struct Answer {
    bucket: u32,
    buckets: u32,
    mode: &'static str,
}

pub(crate) fn hash(a: &HashArgs, json: bool) -> Result<(), String> {
    if a.src.is_ipv4() != a.dst.is_ipv4() {
        return Err("source and destination must be of one family".into());
    }
    let flow = Flow {
        src: words(a.src),
        dst: words(a.dst),
        proto: a.proto,
        sport: a.sport,
        dport: a.dport,
        l2tp: a.l2tp,
        forwarded: a.forwarded,
    };
    let (mode, name) = match a.key {
        Some(k) => (Mode::Keyed(k), "keyed"),
        None => (Mode::Seed, "seed"),
    };
    let bits = a.buckets.trailing_zeros();
    let ans = Answer {
        bucket: hash::bucket(&mode, &flow, bits),
        buckets: a.buckets,
        mode: name,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&ans).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "bucket {} of {} ({} hash)",
            ans.bucket, ans.buckets, ans.mode
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_the_core_layout() {
        assert_eq!(
            words("192.168.0.1".parse().unwrap()),
            [0, 0, 0, 0xc0a8_0001]
        );
        assert_eq!(
            words("2001:db8::1".parse().unwrap()),
            [0x2001_0db8, 0, 0, 1]
        );
    }

    #[test]
    fn keys_and_bucket_counts_are_checked() {
        assert!(parse_key("000102030405060708090a0b0c0d0e0f").is_ok());
        assert!(parse_key("0001").is_err());
        assert!(parse_key("zz0102030405060708090a0b0c0d0e0f").is_err());
        assert!(parse_key("aé0102030405060708090a0b0c0d0e0").is_err());
        assert_eq!(parse_buckets("1024"), Ok(1024));
        assert!(parse_buckets("1000").is_err());
        assert!(parse_buckets("8192").is_err());
    }
}
