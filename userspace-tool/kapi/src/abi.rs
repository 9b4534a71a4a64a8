//! The ipcluster generic netlink ABI, as numbers.
//!
//! Mirrors `include/uapi/linux/ipcluster.h`, which YNL generates from
//! `Documentation/netlink/specs/ipcluster.yaml`; a test reads that header
//! and fails on any difference.

/// The generic netlink family name.
pub const FAMILY_NAME: &str = "ipcluster";
/// The family version this client speaks.
pub const FAMILY_VERSION: u8 = 1;

/// Largest member id; [`UNOWNED`] is reserved.
pub const MAX_MEMBER_ID: u16 = 65534;
/// A table entry nobody owns.
pub const UNOWNED: u16 = u16::MAX;
/// Most member MACs a forward-mode table lists.
pub const MAX_MEMBERS: usize = 256;
/// `IPCLUSTER_MAX_DRAIN_MS`: the longest bucket drain.
pub const MAX_DRAIN_MS: u32 = 3_600_000;

/// `enum ipcluster_mode`: how every member gets every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A multicast cluster MAC every member accepts.
    Multicast = 0,
    /// A shared unicast cluster MAC the switch floods.
    Unicast = 1,
    /// The master receives and forwards what it does not own.
    Forward = 2,
}

impl Mode {
    /// Every mode, in ABI order.
    pub const ALL: [Mode; 3] = [Mode::Multicast, Mode::Unicast, Mode::Forward];

    /// The CLI (and spec) name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Multicast => "multicast",
            Mode::Unicast => "unicast",
            Mode::Forward => "forward",
        }
    }

    /// The mode with ABI value `v`.
    pub fn from_u32(v: u32) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| *m as u32 == v)
    }
}

/// `enum ipcluster_hash`: the flow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SipHash-2-4 under the cluster seed.
    Keyed = 0,
    /// The original XOR hash.
    Seed = 1,
}

impl Hash {
    /// Every hash, in ABI order.
    pub const ALL: [Hash; 2] = [Hash::Keyed, Hash::Seed];

    /// The CLI (and spec) name.
    pub fn name(self) -> &'static str {
        match self {
            Hash::Keyed => "keyed",
            Hash::Seed => "seed",
        }
    }

    /// The hash with ABI value `v`.
    pub fn from_u32(v: u32) -> Option<Hash> {
        Hash::ALL.into_iter().find(|h| *h as u32 == v)
    }
}

/// `enum ipcluster_affinity`: which flows of one client share a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affinity {
    /// Each connection by itself.
    None = 0,
    /// One bucket per client address.
    Source = 1,
    /// One bucket per client network.
    Network = 2,
}

impl Affinity {
    /// Every affinity, in ABI order.
    pub const ALL: [Affinity; 3] = [Affinity::None, Affinity::Source, Affinity::Network];

    /// The CLI (and spec) name.
    pub fn name(self) -> &'static str {
        match self {
            Affinity::None => "none",
            Affinity::Source => "source",
            Affinity::Network => "network",
        }
    }

    /// The affinity with ABI value `v`.
    pub fn from_u32(v: u32) -> Option<Affinity> {
        Affinity::ALL.into_iter().find(|a| *a as u32 == v)
    }
}

/// `IPCLUSTER_CMD_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Create a cluster.
    ClusterNew = 1,
    /// Delete a cluster.
    ClusterDel = 2,
    /// Get one cluster or dump all.
    ClusterGet = 3,
    /// Replace a bucket table.
    TableSet = 4,
    /// Get a bucket table.
    TableGet = 5,
    /// Dump per-bucket counters.
    BucketGet = 6,
    /// TCP failover state records (tcp group).
    TcpStateNtf = 8,
    /// The bytes of a connection its client has not acknowledged.
    TcpUnsent = 9,
    /// Queue a restored connection on its application's listener.
    TcpAdopt = 10,
    /// Release a fresh socket from the caller's memory cgroup.
    TcpAdoptPrepare = 11,
}

/// `IPCLUSTER_A_CLUSTER_*`.
pub mod cluster {
    /// Cluster id (u32).
    pub const ID: u16 = 1;
    /// Interface of the cluster IP (u32).
    pub const IFINDEX: u16 = 2;
    /// IPv4 address (u32, network order).
    pub const ADDR4: u16 = 3;
    /// IPv6 address (16 bytes).
    pub const ADDR6: u16 = 4;
    /// Cluster MAC (6 bytes).
    pub const MAC: u16 = 5;
    /// `enum ipcluster_mode` (u32).
    pub const MODE: u16 = 6;
    /// `enum ipcluster_hash` (u32).
    pub const HASH: u16 = 7;
    /// Keyed-hash seed (16 bytes).
    pub const SEED: u16 = 8;
    /// log2 of the bucket count (u32).
    pub const BUCKET_BITS: u16 = 9;
    /// The local member's id (u32).
    pub const MEMBER_ID: u16 = 10;
    /// The bucket table (u16 per bucket, native order).
    pub const TABLE: u16 = 11;
    /// Malformed packets dropped (u64).
    pub const MALFORMED: u16 = 12;
    /// Interface filtering forwarded traffic (u32, repeated).
    pub const FWD_IFINDEX: u16 = 13;
    /// Forward mode: the member receiving everything (u32).
    pub const FORWARDER: u16 = 14;
    /// Forward mode: member MACs, 8-byte records (u16 id, 6-byte MAC).
    pub const MEMBERS: u16 = 15;
    /// How long a bucket that changes owner drains, ms (u32).
    pub const DRAIN_MS: u16 = 16;
    /// Export the TCP state of connections to the cluster (flag).
    pub const TCP_EXPORT: u16 = 17;
    /// Output commit: the netfilter queue holding segments (u16).
    pub const COMMIT_QUEUE: u16 = 18;
    /// `enum ipcluster_affinity` (u32).
    pub const AFFINITY: u16 = 19;
    /// Network affinity: the IPv4 client prefix length (u32).
    pub const AFFINITY_PREFIX4: u16 = 20;
    /// Network affinity: the IPv6 client prefix length (u32).
    pub const AFFINITY_PREFIX6: u16 = 21;
    /// Members gone, whose buckets' drains end (u16 ids, native order).
    pub const GONE: u16 = 22;
}

/// `IPCLUSTER_A_TCP_STATE_*`.
pub mod tcp_state {
    /// The cluster (u32).
    pub const CLUSTER_ID: u16 = 1;
    /// Failover state records, back to back (`tcpstate.rs`).
    pub const RECORDS: u16 = 2;
}

/// `IPCLUSTER_A_TCP_ADOPT_*`.
pub mod tcp_adopt {
    /// A descriptor of the calling process: the restored socket (u32).
    pub const FD: u16 = 1;
}

/// `IPCLUSTER_A_BUCKET_*`.
pub mod bucket {
    /// The cluster (u32).
    pub const CLUSTER_ID: u16 = 1;
    /// Bucket index (u32).
    pub const INDEX: u16 = 2;
    /// Owner member id (u32).
    pub const OWNER: u16 = 3;
    /// Packets hashed here (u64).
    pub const PACKETS: u16 = 4;
    /// Bytes hashed here (u64).
    pub const BYTES: u16 = 5;
    /// New flows hashed here (u64).
    pub const FLOWS: u16 = 6;
    /// Packets dropped here, not owned (u64).
    pub const DROPS: u16 = 7;
    /// Packets passed to their owner by the forwarder (u64).
    pub const FORWARDED: u16 = 8;
    /// Milliseconds left of the bucket's drain (u32), if it drains.
    pub const DRAIN_MS: u16 = 9;
}

/// The spec name of attribute `kind` in the attribute set `cmd` uses.
pub fn attr_name(cmd: Cmd, kind: u16) -> Option<&'static str> {
    const CLUSTER: [&str; 22] = [
        "id",
        "ifindex",
        "addr4",
        "addr6",
        "mac",
        "mode",
        "hash",
        "seed",
        "bucket-bits",
        "member-id",
        "table",
        "malformed",
        "fwd-ifindex",
        "forwarder",
        "members",
        "drain-ms",
        "tcp-export",
        "commit-queue",
        "affinity",
        "affinity-prefix4",
        "affinity-prefix6",
        "gone",
    ];
    const BUCKET: [&str; 9] = [
        "cluster-id",
        "index",
        "owner",
        "packets",
        "bytes",
        "flows",
        "drops",
        "forwarded",
        "drain-ms",
    ];
    const TCP_STATE: [&str; 2] = ["cluster-id", "records"];
    const TCP_ADOPT: [&str; 1] = ["fd"];
    let set: &[&'static str] = match cmd {
        Cmd::BucketGet => &BUCKET,
        Cmd::TcpStateNtf | Cmd::TcpUnsent => &TCP_STATE,
        Cmd::TcpAdopt | Cmd::TcpAdoptPrepare => &TCP_ADOPT,
        _ => &CLUSTER,
    };
    set.get(usize::from(kind).checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for m in Mode::ALL {
            assert_eq!(Mode::from_u32(m as u32), Some(m));
        }
        for h in Hash::ALL {
            assert_eq!(Hash::from_u32(h as u32), Some(h));
        }
        for a in Affinity::ALL {
            assert_eq!(Affinity::from_u32(a as u32), Some(a));
        }
        assert_eq!(Affinity::from_u32(3), None);
        assert_eq!(Mode::from_u32(3), None);
        assert_eq!(Hash::from_u32(2), None);
    }

    #[test]
    fn attribute_names_follow_the_spec() {
        assert_eq!(attr_name(Cmd::ClusterNew, cluster::ID), Some("id"));
        assert_eq!(
            attr_name(Cmd::ClusterNew, cluster::BUCKET_BITS),
            Some("bucket-bits")
        );
        assert_eq!(
            attr_name(Cmd::ClusterNew, cluster::FWD_IFINDEX),
            Some("fwd-ifindex")
        );
        assert_eq!(
            attr_name(Cmd::ClusterNew, cluster::AFFINITY_PREFIX6),
            Some("affinity-prefix6")
        );
        assert_eq!(attr_name(Cmd::TableSet, cluster::GONE), Some("gone"));
        assert_eq!(attr_name(Cmd::ClusterNew, 23), None);
        assert_eq!(attr_name(Cmd::ClusterNew, 0), None);
        assert_eq!(
            attr_name(Cmd::BucketGet, bucket::CLUSTER_ID),
            Some("cluster-id")
        );
        assert_eq!(attr_name(Cmd::BucketGet, bucket::DROPS), Some("drops"));
    }

    /// The `NAME = value` pairs of the uapi header's `#define`s and enums
    /// (enumerators numbered as C does).
    fn uapi() -> std::collections::HashMap<String, u64> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../include/uapi/linux/ipcluster.h"
        );
        let text = std::fs::read_to_string(path).expect("the generated uapi header");
        let mut out = std::collections::HashMap::new();
        let mut next = None;
        for line in text.lines().map(str::trim) {
            if let Some(d) = line.strip_prefix("#define ") {
                let mut it = d.split_whitespace();
                if let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if let Ok(v) = v.parse() {
                        out.insert(k.to_string(), v);
                    }
                }
            } else if line.starts_with("enum") {
                next = Some(0);
            } else if line.starts_with('}') {
                next = None;
            } else if let (Some(n), Some(e)) = (next, line.strip_suffix(',')) {
                let (name, v) = match e.split_once(" = ") {
                    Some((k, v)) => (k, v.parse().unwrap_or(n)),
                    None => (e, n),
                };
                if !name.is_empty() && !name.starts_with("__") {
                    out.insert(name.to_string(), v);
                }
                next = Some(v + 1);
            }
        }
        out
    }

    #[test]
    fn numbers_match_the_generated_uapi_header() {
        let h = uapi();
        let want = |k: &str| *h.get(k).unwrap_or_else(|| panic!("{k} not in the header"));
        assert_eq!(want("IPCLUSTER_FAMILY_VERSION"), u64::from(FAMILY_VERSION));
        assert_eq!(want("IPCLUSTER_MAX_MEMBER_ID"), u64::from(MAX_MEMBER_ID));
        assert_eq!(want("IPCLUSTER_MAX_MEMBERS"), MAX_MEMBERS as u64);
        assert_eq!(want("IPCLUSTER_MAX_DRAIN_MS"), u64::from(MAX_DRAIN_MS));
        assert_eq!(
            want("IPCLUSTER_A_CLUSTER_COMMIT_QUEUE"),
            u64::from(cluster::COMMIT_QUEUE)
        );
        assert_eq!(
            want("IPCLUSTER_A_TCP_STATE_CLUSTER_ID"),
            u64::from(tcp_state::CLUSTER_ID)
        );
        assert_eq!(
            want("IPCLUSTER_A_TCP_STATE_RECORDS"),
            u64::from(tcp_state::RECORDS)
        );
        for m in Mode::ALL {
            let k = format!("IPCLUSTER_MODE_{}", m.name().to_uppercase());
            assert_eq!(want(&k), m as u64, "{k}");
        }
        for x in Hash::ALL {
            let k = format!("IPCLUSTER_HASH_{}", x.name().to_uppercase());
            assert_eq!(want(&k), x as u64, "{k}");
        }
        for x in Affinity::ALL {
            let k = format!("IPCLUSTER_AFFINITY_{}", x.name().to_uppercase());
            assert_eq!(want(&k), x as u64, "{k}");
        }
        for (cmd, set) in [
            (Cmd::ClusterNew, "CLUSTER"),
            (Cmd::BucketGet, "BUCKET"),
            (Cmd::TcpUnsent, "TCP_STATE"),
            (Cmd::TcpAdopt, "TCP_ADOPT"),
        ] {
            let mut kind = 1;
            while let Some(name) = attr_name(cmd, kind) {
                let k = format!(
                    "IPCLUSTER_A_{set}_{}",
                    name.replace('-', "_").to_uppercase()
                );
                assert_eq!(want(&k), u64::from(kind), "{k}");
                kind += 1;
            }
            // Every attribute of the header has a name here.
            let prefix = format!("IPCLUSTER_A_{set}_");
            let count = h.keys().filter(|n| n.starts_with(&prefix)).count();
            assert_eq!(
                count,
                usize::from(kind - 1),
                "{prefix}*: attributes missing here"
            );
        }
        for (c, name) in [
            (Cmd::ClusterNew, "CLUSTER_NEW"),
            (Cmd::ClusterDel, "CLUSTER_DEL"),
            (Cmd::ClusterGet, "CLUSTER_GET"),
            (Cmd::TableSet, "TABLE_SET"),
            (Cmd::TableGet, "TABLE_GET"),
            (Cmd::BucketGet, "BUCKET_GET"),
            (Cmd::TcpStateNtf, "TCP_STATE_NTF"),
            (Cmd::TcpUnsent, "TCP_UNSENT"),
            (Cmd::TcpAdopt, "TCP_ADOPT"),
            (Cmd::TcpAdoptPrepare, "TCP_ADOPT_PREPARE"),
        ] {
            assert_eq!(want(&format!("IPCLUSTER_CMD_{name}")), c as u64, "{name}");
        }
    }

    #[test]
    fn limits_match_the_core() {
        // IPCLUSTER_MAX_BUCKET_BITS
        assert_eq!(crate::shared::hash::MAX_BUCKET_BITS, 12);
        assert_eq!(UNOWNED, crate::shared::buckets::UNOWNED);
    }
}
