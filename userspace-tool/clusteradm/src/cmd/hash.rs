//! `clusteradm hash`: which bucket a flow falls into.

use std::net::IpAddr;

use crate::kapi::addr::words;
use crate::kapi::words::{parse_buckets, parse_key, parse_l2tp, parse_proto};
use crate::shared::hash::{self, Flow, L2tp, Mode};
use crate::shared::siphash::Key;
use clap::Args;
use serde::Serialize;

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
