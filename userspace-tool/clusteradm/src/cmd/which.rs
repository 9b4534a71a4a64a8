//! `clusteradm which`: which bucket, and so which member, a flow belongs to
//! in a live cluster — computed here with the kernel's own hash code
//! (`crate::shared::hash`) from the cluster's hash mode, seed, client
//! affinity and bucket count, then looked up in its table.

use std::net::IpAddr;

use crate::kapi::abi::{Hash, UNOWNED};
use crate::kapi::addr;
use crate::kapi::cluster::{self, Cluster};
use crate::kapi::table::{self, Table};
use crate::kapi::words::{self as args, Words};
use crate::kapi::{Client, Error};
use crate::shared::hash::{self, Flow, FlowHash, L2tp, Mode};
use crate::shared::siphash::Key;
use serde::Serialize;

use crate::output::print_json;

/// `which`'s keywords.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct WhichArgs {
    sport: Option<u16>,
    dst: Option<IpAddr>,
    dport: Option<u16>,
    proto: Option<u8>,
    forwarded: bool,
    l2tp: Option<L2tp>,
    seed: Option<[u8; 16]>,
}

/// Parses `which`'s keywords.
pub(crate) fn parse(words: &[String]) -> Result<WhichArgs, Error> {
    let mut w = Words::new(words);
    let mut r = WhichArgs::default();
    while let Some(kw) = w.keyword() {
        match kw {
            "sport" => w.once(kw, &mut r.sport, args::port)?,
            "dport" => w.once(kw, &mut r.dport, args::port)?,
            "dst" => w.once(kw, &mut r.dst, |s| {
                s.parse::<IpAddr>()
                    .map_err(|_| "not an IP address".to_string())
            })?,
            "proto" => w.once(kw, &mut r.proto, args::parse_proto)?,
            "forwarded" => r.forwarded = true,
            "l2tp" => w.once(kw, &mut r.l2tp, args::parse_l2tp)?,
            "seed" => w.once(kw, &mut r.seed, args::seed)?,
            _ => return Err(args::unknown(kw)),
        }
    }
    Ok(r)
}

/// The answer.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Answer {
    /// The flow's bucket.
    pub(crate) bucket: u32,
    /// Its owner, `None` (JSON `null`) if unowned.
    pub(crate) owner: Option<u16>,
    /// Whether the owner is this host's member.
    pub(crate) local: bool,
}

/// Hashes the flow from `src` described by `a` in cluster `c` with table `t`.
pub(crate) fn compute(src: IpAddr, a: &WhichArgs, c: &Cluster, t: &Table) -> Result<Answer, Error> {
    let dst = match (a.dst, src) {
        (Some(d), _) => d,
        (None, IpAddr::V4(_)) => IpAddr::V4(c.addr4.ok_or_else(|| {
            Error::failed(format!("cluster {} has no IPv4 address; give dst", c.id))
        })?),
        (None, IpAddr::V6(_)) => IpAddr::V6(c.addr6.ok_or_else(|| {
            Error::failed(format!("cluster {} has no IPv6 address; give dst", c.id))
        })?),
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(Error::usage("source and destination must be of one family"));
    }
    let mode = match c.hash.map(Hash::from_u32) {
        Some(Some(Hash::Seed)) => Mode::Seed,
        Some(Some(Hash::Keyed)) => Mode::Keyed(Key(a.seed.or(c.seed).ok_or_else(|| {
            Error::failed(format!(
                "cluster {}'s seed is not readable here (run as root, or give seed HEX)",
                c.id
            ))
        })?)),
        Some(None) => {
            return Err(Error::failed(format!(
                "cluster {} uses hash {}, unknown to this clusteradm",
                c.id,
                c.hash_name().unwrap_or_default()
            )))
        }
        None => {
            return Err(Error::failed(format!(
                "cluster {}: the kernel did not report its hash",
                c.id
            )))
        }
    };
    let f = Flow {
        src: addr::words(src),
        dst: addr::words(dst),
        proto: a.proto.unwrap_or(hash::IPPROTO_TCP),
        sport: a.sport.unwrap_or(0),
        dport: a.dport.unwrap_or(0),
        l2tp: a.l2tp,
        forwarded: a.forwarded,
    };
    let h = FlowHash {
        mode,
        affinity: c.flow_affinity()?,
    };
    let bucket = h.bucket(&f, t.bucket_bits);
    let o = t.owners.get(bucket as usize).copied().unwrap_or(UNOWNED);
    Ok(Answer {
        bucket,
        owner: (o != UNOWNED).then_some(o),
        local: t.is_local(o),
    })
}

/// The answer as text.
pub(crate) fn render(a: &Answer) -> String {
    match a.owner {
        None => format!("bucket {} unowned", a.bucket),
        Some(o) if a.local => format!("bucket {} owner {o} (local)", a.bucket),
        Some(o) => format!("bucket {} owner {o}", a.bucket),
    }
}

/// `which`'s flow source: one address, or `-` for a batch on stdin.
#[derive(Clone, Debug)]
pub(crate) enum Src {
    /// One flow from this address.
    One(IpAddr),
    /// Flows read from standard input.
    Batch,
}

/// Parses `which`'s SRC argument.
pub(crate) fn parse_src(s: &str) -> Result<Src, String> {
    if s == "-" {
        return Ok(Src::Batch);
    }
    s.parse()
        .map(Src::One)
        .map_err(|_| "not an IP address (or - for flows on standard input)".to_string())
}

fn answer(src: IpAddr, words: &[String], c: &Cluster, t: &Table, json: bool) -> Result<(), Error> {
    const OP: &str = "which";
    let a = parse(words).map_err(|e| e.context(OP))?;
    if let Some(d) = a.dst {
        if d.is_ipv4() != src.is_ipv4() {
            return Err(Error::usage(
                "which: source and destination must be of one family",
            ));
        }
    }
    let ans = compute(src, &a, c, t).map_err(|e| e.context(OP))?;
    if json {
        print_json(&ans)
    } else {
        println!("{}", render(&ans));
        Ok(())
    }
}

/// `which ID SRC KEYWORDS`, or `which ID - [KEYWORDS]` with flows on stdin
/// (each line's keywords after those of the command line).
pub(crate) fn which(id: u32, src: Src, words: &[String], json: bool) -> Result<(), Error> {
    const OP: &str = "which";
    // Keywords are checked before the kernel is asked anything.
    let a = parse(words).map_err(|e| e.context(OP))?;
    if let (Src::One(s), Some(d)) = (&src, a.dst) {
        if d.is_ipv4() != s.is_ipv4() {
            return Err(Error::usage(
                "which: source and destination must be of one family",
            ));
        }
    }
    let mut nl = Client::connect()?;
    let c = cluster::get(&mut nl, id).map_err(|e| e.context(OP))?;
    let t = table::get(&mut nl, id).map_err(|e| e.context(OP))?;
    match src {
        Src::One(a) => answer(a, words, &c, &t, json),
        Src::Batch => {
            for line in std::io::stdin().lines() {
                let line = line.map_err(|e| Error::failed(format!("which: reading input: {e}")))?;
                let mut it = line.split_whitespace();
                let Some(first) = it.next() else { continue };
                let a: IpAddr = first
                    .parse()
                    .map_err(|_| Error::usage(format!("which: {first:?} is not an IP address")))?;
                let mut all = words.to_vec();
                all.extend(it.map(String::from));
                answer(a, &all, &c, &t, json)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn cluster(hash: u32, seed: Option<[u8; 16]>) -> Cluster {
        Cluster {
            id: 1,
            addr4: Some(Ipv4Addr::new(192, 168, 0, 1)),
            hash: Some(hash),
            seed,
            bucket_bits: Some(10),
            ..Cluster::default()
        }
    }

    fn table(member: u32) -> Table {
        Table {
            id: 1,
            bucket_bits: 10,
            member: Some(member),
            owners: (0..1024u16)
                .map(|b| if b == 0x2aa { UNOWNED } else { b % 4 })
                .collect(),
            forwarder: None,
            macs: vec![],
        }
    }

    const VECTOR_KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    #[test]
    fn keywords() {
        let a = parse(&words(
            "sport 40000 dst 10.0.0.9 dport 80 proto udp forwarded l2tp 5:7 \
             seed 000102030405060708090a0b0c0d0e0f",
        ))
        .unwrap();
        assert_eq!(a.sport, Some(40000));
        assert_eq!(a.dport, Some(80));
        assert_eq!(a.dst, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(a.proto, Some(17));
        assert!(a.forwarded);
        assert_eq!(
            a.l2tp,
            Some(L2tp {
                tunnel: 5,
                session: 7
            })
        );
        assert_eq!(a.seed, Some(VECTOR_KEY));
        for bad in [
            "sport",
            "sport x",
            "proto sctpx",
            "dst nowhere",
            "color red",
            "sport 1 sport 2",
        ] {
            assert_eq!(parse(&words(bad)).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn agrees_with_the_core_vectors() {
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let a = parse(&words("sport 40000 dport 80")).unwrap();
        // Vector 0: seed hash, 0x0c5 = 197; 197 % 4 = 1.
        let ans = compute(src, &a, &cluster(1, None), &table(1)).unwrap();
        assert_eq!(
            ans,
            Answer {
                bucket: 197,
                owner: Some(1),
                local: true
            }
        );
        assert_eq!(render(&ans), "bucket 197 owner 1 (local)");
        // Vector 6: keyed, 0x23c = 572; owner 0, not local.
        let ans = compute(src, &a, &cluster(0, Some(VECTOR_KEY)), &table(1)).unwrap();
        assert_eq!(
            ans,
            Answer {
                bucket: 572,
                owner: Some(0),
                local: false
            }
        );
        assert_eq!(render(&ans), "bucket 572 owner 0");
        assert_eq!(
            serde_json::to_string(&ans).unwrap(),
            r#"{"bucket":572,"owner":0,"local":false}"#
        );
        // Vector 2: ICMP, 0x2aa, unowned in this table.
        let a = parse(&words("proto icmp")).unwrap();
        let ans = compute(src, &a, &cluster(1, None), &table(1)).unwrap();
        assert_eq!(
            ans,
            Answer {
                bucket: 0x2aa,
                owner: None,
                local: false
            }
        );
        assert_eq!(render(&ans), "bucket 682 unowned");
    }

    #[test]
    fn seed_keyword_overrides_and_missing_seed_fails() {
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let a = parse(&words(
            "sport 40000 dport 80 seed 000102030405060708090a0b0c0d0e0f",
        ))
        .unwrap();
        let ans = compute(src, &a, &cluster(0, None), &table(1)).unwrap();
        assert_eq!(ans.bucket, 572);
        let a = parse(&words("sport 40000")).unwrap();
        let e = compute(src, &a, &cluster(0, None), &table(1)).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("seed is not readable"), "{e}");
    }

    #[test]
    fn affinity_is_taken_into_account() {
        // Core vectors 10 and 13: source affinity 0x0a2, /24 0x0a0.
        let mut c = cluster(1, None);
        c.affinity = Some(1);
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        for kw in ["sport 40000 dport 80", "proto udp sport 5201", "proto icmp"] {
            let ans = compute(src, &parse(&words(kw)).unwrap(), &c, &table(1)).unwrap();
            assert_eq!(ans.bucket, 0x0a2, "{kw}");
        }
        c.affinity = Some(2);
        let a = parse(&words("sport 1234 dport 80")).unwrap();
        for src in ["10.0.0.2", "10.0.0.77", "10.0.0.255"] {
            let ans = compute(src.parse().unwrap(), &a, &c, &table(1)).unwrap();
            assert_eq!(ans.bucket, 0x0a0, "{src}");
        }
        // A /8: 10.0.0.0 whatever the rest (the seed hash folds it alike).
        c.affinity_prefix = (Some(8), None);
        let ans = compute("10.9.8.7".parse().unwrap(), &a, &c, &table(1)).unwrap();
        assert_eq!(ans.bucket, 0x0a0);
        c.affinity = Some(9);
        let e = compute(src, &a, &c, &table(1)).unwrap_err();
        assert!(e.to_string().contains("affinity 9"), "{e}");
    }

    #[test]
    fn destination_defaults_to_the_cluster_address() {
        let v6: IpAddr = "2001:db8::42".parse().unwrap();
        let a = parse(&words("")).unwrap();
        let e = compute(v6, &a, &cluster(1, None), &table(1)).unwrap_err();
        assert!(e.to_string().contains("no IPv6 address"), "{e}");
        let a = parse(&words("dst 10.0.0.1")).unwrap();
        assert_eq!(
            compute(v6, &a, &cluster(1, None), &table(1))
                .unwrap_err()
                .exit_code(),
            2
        );
    }
}
