//! Per-bucket counters (`bucket-get` dump): what the CLI shows and what
//! the daemon reads as each bucket's load.

use serde::Serialize;

use crate::abi::{bucket as b, Cmd, UNOWNED};
use crate::attr::{Attr, Attrs};
use crate::client::Client;
use crate::error::Error;

/// One bucket's counters, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Bucket index.
    pub index: u32,
    /// Owner member id, `None` (JSON `null`) if unowned.
    pub owner: Option<u32>,
    /// Packets hashed here.
    pub packets: u64,
    /// Bytes hashed here.
    pub bytes: u64,
    /// New flows hashed here.
    pub flows: u64,
    /// Packets dropped here (not owned).
    pub drops: u64,
    /// Packets passed to their owner (forward mode, on the forwarder).
    pub forwarded: u64,
    /// Milliseconds left of the bucket's drain, if it drains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_ms: Option<u32>,
}

impl Bucket {
    /// Decodes one `bucket-get` reply; absent counters read as 0.
    pub fn from_attrs(r: &Attrs) -> Result<Self, Error> {
        Ok(Bucket {
            index: r.need_u32(b::INDEX, "index")?,
            owner: r.u32(b::OWNER)?.filter(|&o| o != u32::from(UNOWNED)),
            packets: r.u64(b::PACKETS)?.unwrap_or(0),
            bytes: r.u64(b::BYTES)?.unwrap_or(0),
            flows: r.u64(b::FLOWS)?.unwrap_or(0),
            drops: r.u64(b::DROPS)?.unwrap_or(0),
            forwarded: r.u64(b::FORWARDED)?.unwrap_or(0),
            drain_ms: r.u32(b::DRAIN_MS)?,
        })
    }

    /// Whether every counter is zero.
    pub fn is_zero(&self) -> bool {
        self.packets == 0
            && self.bytes == 0
            && self.flows == 0
            && self.drops == 0
            && self.forwarded == 0
    }
}

/// Cluster `id`'s per-bucket counters (`bucket-get` dump), in the order
/// the kernel sent them.
pub fn dump(nl: &mut Client, id: u32) -> Result<Vec<Bucket>, Error> {
    nl.dump(Cmd::BucketGet, &[Attr::u32(b::CLUSTER_ID, id)])?
        .iter()
        .map(Bucket::from_attrs)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{feed_all, genl_reply, nla, nlmsg};
    use crate::client::{Replies, Step};

    fn bucket_msg(seq: u32, index: u32, owner: u32, packets: u64) -> Vec<u8> {
        let mut a = nla(b::CLUSTER_ID, &1u32.to_ne_bytes());
        a.extend(nla(b::INDEX, &index.to_ne_bytes()));
        a.extend(nla(b::OWNER, &owner.to_ne_bytes()));
        a.extend(nla(b::PACKETS, &packets.to_ne_bytes()));
        a.extend(nla(b::BYTES, &(packets * 100).to_ne_bytes()));
        a.extend(nla(b::FLOWS, &(packets / 10).to_ne_bytes()));
        a.extend(nla(b::DROPS, &0u64.to_ne_bytes()));
        if index == 1 {
            a.extend(nla(b::DRAIN_MS, &1500u32.to_ne_bytes()));
        }
        genl_reply(0x20, Cmd::BucketGet as u8, 2, seq, &a)
    }

    #[test]
    fn dump_decodes() {
        let mut d = bucket_msg(7, 2, 1, 0);
        d.extend(bucket_msg(7, 0, 65535, 50));
        d.extend(bucket_msg(7, 1, 3, 1234));
        d.extend(nlmsg(libc::NLMSG_DONE as u16, 2, 7, &0i32.to_ne_bytes()));
        let mut r = Replies::new(0x20, 7);
        assert_eq!(feed_all(&mut r, &d), Ok(Step::Done));
        let v: Vec<Bucket> = r
            .msgs
            .iter()
            .map(|m| Bucket::from_attrs(m).unwrap())
            .collect();
        assert_eq!(v.iter().map(|b| b.index).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(v[1].owner, None);
        assert_eq!(v[2].owner, Some(3));
        assert_eq!(v[2].bytes, 123400);
        assert_eq!(v[2].drain_ms, Some(1500));
        assert!(v[0].is_zero() && !v[1].is_zero());
    }
}
