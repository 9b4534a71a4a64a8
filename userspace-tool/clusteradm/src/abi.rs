//! The ipcluster generic netlink ABI, as numbers.
//!
//! Mirrors `include/uapi/linux/ipcluster.h`, which YNL generates from
//! `Documentation/netlink/specs/ipcluster.yaml`; keep the three in step.

/// The generic netlink family name.
pub(crate) const FAMILY_NAME: &str = "ipcluster";
/// The family version this client speaks.
pub(crate) const FAMILY_VERSION: u8 = 1;

/// Largest member id; [`UNOWNED`] is reserved.
pub(crate) const MAX_MEMBER_ID: u16 = 65534;
/// A table entry nobody owns.
pub(crate) const UNOWNED: u16 = u16::MAX;

/// `enum ipcluster_mode`: how every member gets every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A multicast cluster MAC every member accepts.
    Multicast = 0,
    /// A shared unicast cluster MAC the switch floods.
    Unicast = 1,
    /// The master receives and forwards what it does not own.
    Forward = 2,
}

impl Mode {
    /// Every mode, in ABI order.
    pub(crate) const ALL: [Mode; 3] = [Mode::Multicast, Mode::Unicast, Mode::Forward];

    /// The CLI (and spec) name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Multicast => "multicast",
            Mode::Unicast => "unicast",
            Mode::Forward => "forward",
        }
    }

    /// The mode with ABI value `v`.
    pub(crate) fn from_u32(v: u32) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| *m as u32 == v)
    }
}

/// `enum ipcluster_hash`: the flow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SipHash-2-4 under the cluster seed.
    Keyed = 0,
    /// The original XOR hash.
    Seed = 1,
}

impl Hash {
    /// Every hash, in ABI order.
    pub(crate) const ALL: [Hash; 2] = [Hash::Keyed, Hash::Seed];

    /// The CLI (and spec) name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hash::Keyed => "keyed",
            Hash::Seed => "seed",
        }
    }

    /// The hash with ABI value `v`.
    pub(crate) fn from_u32(v: u32) -> Option<Hash> {
        Hash::ALL.into_iter().find(|h| *h as u32 == v)
    }
}

/// `IPCLUSTER_CMD_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmd {
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
}

/// `IPCLUSTER_A_CLUSTER_*`.
pub(crate) mod cluster {
    /// Cluster id (u32).
    pub(crate) const ID: u16 = 1;
    /// Interface of the cluster IP (u32).
    pub(crate) const IFINDEX: u16 = 2;
    /// IPv4 address (u32, network order).
    pub(crate) const ADDR4: u16 = 3;
    /// IPv6 address (16 bytes).
    pub(crate) const ADDR6: u16 = 4;
    /// Cluster MAC (6 bytes).
    pub(crate) const MAC: u16 = 5;
    /// `enum ipcluster_mode` (u32).
    pub(crate) const MODE: u16 = 6;
    /// `enum ipcluster_hash` (u32).
    pub(crate) const HASH: u16 = 7;
    /// Keyed-hash seed (16 bytes).
    pub(crate) const SEED: u16 = 8;
    /// log2 of the bucket count (u32).
    pub(crate) const BUCKET_BITS: u16 = 9;
    /// The local member's id (u32).
    pub(crate) const MEMBER_ID: u16 = 10;
    /// The bucket table (u16 per bucket, native order).
    pub(crate) const TABLE: u16 = 11;
    /// Malformed packets dropped (u64).
    pub(crate) const MALFORMED: u16 = 12;
    /// Interface filtering forwarded traffic (u32, repeated).
    pub(crate) const FWD_IFINDEX: u16 = 13;
}

/// `IPCLUSTER_A_BUCKET_*`.
pub(crate) mod bucket {
    /// The cluster (u32).
    pub(crate) const CLUSTER_ID: u16 = 1;
    /// Bucket index (u32).
    pub(crate) const INDEX: u16 = 2;
    /// Owner member id (u32).
    pub(crate) const OWNER: u16 = 3;
    /// Packets hashed here (u64).
    pub(crate) const PACKETS: u16 = 4;
    /// Bytes hashed here (u64).
    pub(crate) const BYTES: u16 = 5;
    /// New flows hashed here (u64).
    pub(crate) const FLOWS: u16 = 6;
    /// Packets dropped here, not owned (u64).
    pub(crate) const DROPS: u16 = 7;
}

/// The spec name of attribute `kind` in the attribute set `cmd` uses.
pub(crate) fn attr_name(cmd: Cmd, kind: u16) -> Option<&'static str> {
    const CLUSTER: [&str; 13] = [
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
    ];
    const BUCKET: [&str; 7] = [
        "cluster-id",
        "index",
        "owner",
        "packets",
        "bytes",
        "flows",
        "drops",
    ];
    let set: &[&'static str] = match cmd {
        Cmd::BucketGet => &BUCKET,
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
        assert_eq!(attr_name(Cmd::ClusterNew, 14), None);
        assert_eq!(attr_name(Cmd::ClusterNew, 0), None);
        assert_eq!(
            attr_name(Cmd::BucketGet, bucket::CLUSTER_ID),
            Some("cluster-id")
        );
        assert_eq!(attr_name(Cmd::BucketGet, bucket::DROPS), Some("drops"));
    }

    #[test]
    fn limits_match_the_core() {
        // IPCLUSTER_MAX_BUCKET_BITS
        assert_eq!(ipcluster_core::hash::MAX_BUCKET_BITS, 12);
        assert_eq!(UNOWNED, ipcluster_core::buckets::UNOWNED);
    }
}
