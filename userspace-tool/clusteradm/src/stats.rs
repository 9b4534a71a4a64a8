//! `clusteradm bucket show`: per-bucket counters (`bucket-get` dump).

use serde::Serialize;

use crate::abi::{bucket as b, Cmd, UNOWNED};
use crate::args::{self, Words};
use crate::attr::{Attr, Attrs};
use crate::error::Error;
use crate::nl::Client;
use crate::output::{columns, print_json};

/// One bucket's counters, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Bucket {
    /// Bucket index.
    pub(crate) index: u32,
    /// Owner member id, `None` (JSON `null`) if unowned.
    pub(crate) owner: Option<u32>,
    /// Packets hashed here.
    pub(crate) packets: u64,
    /// Bytes hashed here.
    pub(crate) bytes: u64,
    /// New flows hashed here.
    pub(crate) flows: u64,
    /// Packets dropped here (not owned).
    pub(crate) drops: u64,
    /// Packets passed to their owner (forward mode, on the forwarder).
    pub(crate) forwarded: u64,
    /// Milliseconds left of the bucket's drain, if it drains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) drain_ms: Option<u32>,
}

impl Bucket {
    /// Decodes one `bucket-get` reply; absent counters read as 0.
    pub(crate) fn from_attrs(r: &Attrs) -> Result<Self, Error> {
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

    fn is_zero(&self) -> bool {
        self.packets == 0
            && self.bytes == 0
            && self.flows == 0
            && self.drops == 0
            && self.forwarded == 0
    }
}

/// Parses `bucket show`'s keywords: whether to keep only nonzero buckets.
pub(crate) fn parse_show(words: &[String]) -> Result<bool, Error> {
    let mut w = Words::new(words);
    let mut nonzero = false;
    while let Some(kw) = w.keyword() {
        match kw {
            "nonzero" => nonzero = true,
            _ => return Err(args::unknown(kw)),
        }
    }
    Ok(nonzero)
}

/// Sorts by index and drops all-zero buckets if `nonzero`.
pub(crate) fn select(mut v: Vec<Bucket>, nonzero: bool) -> Vec<Bucket> {
    v.sort_by_key(|b| b.index);
    v.retain(|b| !nonzero || !b.is_zero());
    v
}

/// The counters as a text table.
pub(crate) fn render(v: &[Bucket]) -> String {
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|b| {
            vec![
                b.index.to_string(),
                b.owner.map_or_else(|| "-".to_string(), |o| o.to_string()),
                b.packets.to_string(),
                b.bytes.to_string(),
                b.flows.to_string(),
                b.drops.to_string(),
                b.forwarded.to_string(),
                b.drain_ms.map_or_else(|| "-".to_string(), args::drain_text),
            ]
        })
        .collect();
    columns(
        &[
            "index",
            "owner",
            "packets",
            "bytes",
            "flows",
            "drops",
            "forwarded",
            "drain",
        ],
        &rows,
    )
}

/// `bucket show ID [nonzero]`.
pub(crate) fn show(id: u32, words: &[String], json: bool) -> Result<(), Error> {
    const OP: &str = "bucket show";
    let nonzero = parse_show(words).map_err(|e| e.context(OP))?;
    let mut nl = Client::connect()?;
    let replies = nl
        .dump(Cmd::BucketGet, &[Attr::u32(b::CLUSTER_ID, id)])
        .map_err(|e| e.context(OP))?;
    let v = replies
        .iter()
        .map(Bucket::from_attrs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.context(OP))?;
    let v = select(v, nonzero);
    if json {
        print_json(&v)
    } else {
        print!("{}", render(&v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::tests::{feed_all, genl_reply, nla, nlmsg};
    use crate::nl::{Replies, Step};

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
    fn dump_decodes_sorts_and_filters() {
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
        let all = select(v.clone(), false);
        assert_eq!(all.iter().map(|b| b.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(all[0].owner, None);
        assert_eq!(all[1].owner, Some(3));
        assert_eq!(all[1].bytes, 123400);
        assert_eq!(
            render(&all),
            "index  owner  packets   bytes  flows  drops  forwarded   drain\n\
             \x20   0      -       50    5000      5      0          0       -\n\
             \x20   1      3     1234  123400    123      0          0  1500ms\n\
             \x20   2      1        0       0      0      0          0       -\n"
        );
        let nz = select(v, true);
        assert_eq!(nz.len(), 2);
        assert_eq!(
            serde_json::to_string(&nz).unwrap(),
            r#"[{"index":0,"owner":null,"packets":50,"bytes":5000,"flows":5,"drops":0,"forwarded":0},{"index":1,"owner":3,"packets":1234,"bytes":123400,"flows":123,"drops":0,"forwarded":0,"drain_ms":1500}]"#
        );
    }

    #[test]
    fn show_keywords() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_show(&w("")), Ok(false));
        assert_eq!(parse_show(&w("nonzero")), Ok(true));
        assert_eq!(parse_show(&w("zero")).unwrap_err().exit_code(), 2);
    }
}
