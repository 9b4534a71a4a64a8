//! `clusteradm cluster add|del|show`: creating, deleting and listing
//! clusters (`cluster-new`, `cluster-del`, `cluster-get`).

use crate::kapi::abi::{cluster as a, Cmd};
use crate::kapi::attr::Attr;
use crate::kapi::cluster::{self, AddRequest, Cluster};
use crate::kapi::sys::dev;
use crate::kapi::{words, Client, Error};
use serde::Serialize;

use crate::output::print_json;

/// Text, `ip`-style: the keywords `cluster add` takes, then a second
/// line with the seed (if readable), forwarding devices and counters.
fn render(c: &Cluster, ifname: &dyn Fn(u32) -> String) -> String {
    let mut first = vec![format!("cluster {}", c.id)];
    let kv = |v: &mut Vec<String>, k: &str, x: String| v.push(format!("{k} {x}"));
    if let Some(i) = c.ifindex {
        kv(&mut first, "dev", ifname(i));
    }
    if let Some(x) = c.addr4 {
        kv(&mut first, "addr", x.to_string());
    }
    if let Some(x) = c.addr6 {
        kv(&mut first, "addr6", x.to_string());
    }
    if let Some(x) = c.mac {
        kv(&mut first, "mac", x.to_string());
    }
    if let Some(x) = c.mode_name() {
        kv(&mut first, "mode", x);
    }
    if let Some(x) = c.hash_name() {
        kv(&mut first, "hash", x);
    }
    if let Some(x) = c.affinity_text() {
        kv(&mut first, "affinity", x);
    }
    if let Some(b) = c.bucket_bits {
        kv(&mut first, "buckets", (1u64 << b).to_string());
    }
    if let Some(m) = c.member {
        kv(&mut first, "member", m.to_string());
    }
    if let Some(ms) = c.drain_ms {
        kv(&mut first, "drain", words::drain_text(ms));
    }
    if c.tcp_export {
        first.push("tcp-export".into());
    }
    if let Some(q) = c.commit_queue {
        kv(&mut first, "commit", q.to_string());
    }
    let mut second = Vec::new();
    for &i in &c.fwd_ifindex {
        kv(&mut second, "fwd-dev", ifname(i));
    }
    if let Some(x) = c.seed {
        kv(&mut second, "seed", hex(&x));
    }
    if let Some(x) = c.malformed {
        kv(&mut second, "malformed", x.to_string());
    }
    let mut s = first.join(" ");
    if !second.is_empty() {
        s.push_str("\n    ");
        s.push_str(&second.join(" "));
    }
    s.push('\n');
    s
}

fn to_json(c: &Cluster, ifname: &dyn Fn(u32) -> String) -> ClusterJson {
    ClusterJson {
        id: c.id,
        dev: c.ifindex.map(ifname),
        ifindex: c.ifindex,
        addr: c.addr4.map(|x| x.to_string()),
        addr6: c.addr6.map(|x| x.to_string()),
        mac: c.mac.map(|x| x.to_string()),
        mode: c.mode_name(),
        hash: c.hash_name(),
        affinity: c.affinity.map(|x| {
            crate::kapi::abi::Affinity::from_u32(x)
                .map_or_else(|| x.to_string(), |x| x.name().to_string())
        }),
        affinity_prefix4: c.affinity_prefix.0,
        affinity_prefix6: c.affinity_prefix.1,
        bucket_bits: c.bucket_bits,
        buckets: c.bucket_bits.map(|b| 1u64 << b),
        member: c.member,
        fwd_dev: c.fwd_ifindex.iter().map(|&i| ifname(i)).collect(),
        fwd_ifindex: c.fwd_ifindex.clone(),
        drain_ms: c.drain_ms,
        tcp_export: c.tcp_export,
        commit_queue: c.commit_queue,
        seed: c.seed.map(|s| hex(&s)),
        malformed: c.malformed,
    }
}

/// `cluster show -j`: one of these per cluster.
#[derive(Serialize, Debug)]
struct ClusterJson {
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifindex: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity_prefix4: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity_prefix6: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buckets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<u32>,
    fwd_dev: Vec<String>,
    fwd_ifindex: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drain_ms: Option<u32>,
    tcp_export: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit_queue: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    malformed: Option<u64>,
}

/// Lower-case hex.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random_seed() -> Result<[u8; 16], Error> {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).map_err(|e| Error::failed(format!("random seed: {e}")))?;
    Ok(s)
}

/// `cluster add KEYWORDS`.
pub(crate) fn add(words: &[String], json: bool) -> Result<(), Error> {
    const OP: &str = "cluster add";
    let parsed = cluster::parse_add(words).map_err(|e| e.context(OP))?;
    let req = AddRequest::resolve(&parsed, dev::index, random_seed).map_err(|e| e.context(OP))?;
    let mut nl = Client::connect()?;
    let replies = nl
        .request(Cmd::ClusterNew, &req.attrs())
        .map_err(|e| e.context(OP))?;
    let id = match replies.first() {
        Some(r) => r.u32(a::ID)?,
        None => None,
    }
    .or(req.id())
    .ok_or_else(|| {
        Error::failed(format!(
            "{OP}: the kernel did not report the new cluster's id"
        ))
    })?;
    let seed = req.generated_seed().map(|s| hex(&s));
    if json {
        #[derive(Serialize)]
        struct Added {
            id: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            seed: Option<String>,
        }
        print_json(&Added { id, seed })
    } else {
        match seed {
            Some(s) => {
                println!("cluster {id} seed {s}");
                eprintln!("clusteradm: give every member of cluster {id} this seed");
            }
            None => println!("cluster {id}"),
        }
        Ok(())
    }
}

/// `cluster del ID`.
pub(crate) fn del(id: u32) -> Result<(), Error> {
    let mut nl = Client::connect()?;
    nl.request(Cmd::ClusterDel, &[Attr::u32(a::ID, id)])
        .map_err(|e| e.context("cluster del"))?;
    Ok(())
}

/// `cluster show [ID]`.
pub(crate) fn show(id: Option<u32>, json: bool) -> Result<(), Error> {
    const OP: &str = "cluster show";
    let mut nl = Client::connect()?;
    let mut clusters = match id {
        Some(id) => vec![cluster::get(&mut nl, id).map_err(|e| e.context(OP))?],
        None => nl
            .dump(Cmd::ClusterGet, &[])
            .map_err(|e| e.context(OP))?
            .iter()
            .map(Cluster::from_attrs)
            .collect::<Result<Vec<_>, _>>()?,
    };
    clusters.sort_by_key(|c| c.id);
    if json {
        let v: Vec<ClusterJson> = clusters.iter().map(|c| to_json(c, &dev::name)).collect();
        print_json(&v)
    } else {
        for c in &clusters {
            print!("{}", render(c, &dev::name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kapi::attr::Attrs;
    use crate::kapi::mac::Mac;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn cluster(attrs: Vec<Attr>) -> Cluster {
        Cluster::from_attrs(&Attrs(attrs)).unwrap()
    }

    #[test]
    fn cluster_get_reply_renders() {
        let c = cluster(vec![
            Attr::u32(a::ID, 7),
            Attr::u32(a::IFINDEX, 1),
            Attr::bytes(a::ADDR4, &[192, 168, 0, 1]),
            Attr::bytes(
                a::ADDR6,
                &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
            ),
            Attr::bytes(a::MAC, &[1, 0, 0x5e, 0x28, 0, 1]),
            Attr::u32(a::MODE, 1),
            Attr::u32(a::HASH, 0),
            Attr::u32(a::AFFINITY, 2),
            Attr::u32(a::AFFINITY_PREFIX4, 16),
            Attr::u32(a::AFFINITY_PREFIX6, 56),
            Attr::u32(a::BUCKET_BITS, 10),
            Attr::u32(a::MEMBER_ID, 2),
            Attr::bytes(a::MALFORMED, &12u64.to_ne_bytes()),
            Attr::u32(a::FWD_IFINDEX, 1),
        ]);
        assert_eq!(c.addr4, Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(c.mac, Some(Mac([1, 0, 0x5e, 0x28, 0, 1])));
        let name = |i: u32| format!("eth{i}");
        assert_eq!(
            render(&c, &name),
            "cluster 7 dev eth1 addr 192.168.0.1 addr6 2001:db8::1 mac 01:00:5e:28:00:01 \
             mode unicast hash keyed affinity network 16 56 buckets 1024 member 2\n    fwd-dev eth1 malformed 12\n"
        );
        let j = serde_json::to_value(to_json(&c, &name)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({
                "id": 7, "dev": "eth1", "ifindex": 1, "addr": "192.168.0.1",
                "addr6": "2001:db8::1", "mac": "01:00:5e:28:00:01", "mode": "unicast",
                "hash": "keyed", "affinity": "network", "affinity_prefix4": 16,
                "affinity_prefix6": 56, "bucket_bits": 10, "buckets": 1024, "member": 2,
                "fwd_dev": ["eth1"], "fwd_ifindex": [1], "malformed": 12,
                "tcp_export": false
            })
        );
    }

    #[test]
    fn seed_is_shown_when_present() {
        let c = cluster(vec![
            Attr::u32(a::ID, 3),
            Attr::bytes(a::SEED, &[0x11; 16]),
            Attr::u32(a::MODE, 7),
            Attr::u32(a::AFFINITY, 1),
        ]);
        assert_eq!(
            render(&c, &|i| format!("if{i}")),
            format!(
                "cluster 3 mode 7 affinity source\n    seed {}\n",
                "11".repeat(16)
            )
        );
    }
}
