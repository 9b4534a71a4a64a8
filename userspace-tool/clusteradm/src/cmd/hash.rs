//! `clusteradm hash`: which bucket a flow falls into.

use std::net::IpAddr;

use crate::kapi::addr::words;
use crate::kapi::words::{self, parse_buckets, parse_key, parse_l2tp, parse_proto, Words};
use crate::shared::hash::{self, Affinity, Flow, FlowHash, L2tp, Mode};
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
    /// Client affinity, as `cluster add` takes it: none, source, or
    /// "network [PREFIX4 [PREFIX6]]".
    #[arg(long, default_value = "none", value_parser = parse_affinity)]
    affinity: Affinity,
}

/// `--affinity`'s value: `cluster add`'s `affinity` words.
fn parse_affinity(s: &str) -> Result<Affinity, String> {
    let mut all = vec!["affinity".to_string()];
    all.extend(s.split_whitespace().map(String::from));
    let mut w = Words::new(&all);
    w.keyword();
    let a = words::affinity(&mut w, "affinity").map_err(|e| e.to_string())?;
    match w.keyword() {
        None => Ok(a),
        Some(extra) => Err(format!("unexpected \"{extra}\" after the affinity")),
    }
}

#[derive(Serialize)]
struct Answer {
    bucket: u32,
    buckets: u32,
    mode: &'static str,
    /// The affinity, unless none.
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity: Option<String>,
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
    let h = FlowHash {
        mode,
        affinity: a.affinity,
    };
    let ans = Answer {
        bucket: h.bucket(&flow, bits),
        buckets: a.buckets,
        mode: name,
        affinity: (a.affinity != Affinity::None).then(|| words::affinity_text(a.affinity)),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&ans).map_err(|e| e.to_string())?
        );
    } else {
        let affinity = ans
            .affinity
            .as_ref()
            .map_or_else(String::new, |x| format!(", affinity {x}"));
        println!(
            "bucket {} of {} ({} hash{affinity})",
            ans.bucket, ans.buckets, ans.mode
        );
    }
    Ok(())
}
