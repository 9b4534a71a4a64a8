//! Clusters: the keywords that describe one (`cluster add`'s, which the
//! daemon's `[cluster] add` shares), the `cluster-new` request they make,
//! and a cluster as `cluster-get` reports it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::abi::{self, cluster as a, Cmd, Hash, Mode};
use crate::attr::{Attr, Attrs};
use crate::client::Client;
use crate::error::Error;
use crate::mac::{self, Mac};
use crate::shared::hash::{Affinity, FlowHash};
use crate::words::{self as args, Words};

/// `cluster add` as typed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AddArgs {
    id: Option<u32>,
    dev: Option<String>,
    addr4: Option<Ipv4Addr>,
    addr6: Option<Ipv6Addr>,
    mac: Option<Mac>,
    mode: Option<Mode>,
    hash: Option<Hash>,
    seed: Option<[u8; 16]>,
    bucket_bits: Option<u32>,
    member: Option<u16>,
    fwd_devs: Vec<String>,
    drain_ms: Option<u32>,
    tcp_export: bool,
    commit_queue: Option<u16>,
    affinity: Option<Affinity>,
}

/// Parses `cluster add`'s keywords.
pub fn parse_add(words: &[String]) -> Result<AddArgs, Error> {
    let mut w = Words::new(words);
    let mut r = AddArgs::default();
    while let Some(kw) = w.keyword() {
        match kw {
            "id" => w.once(kw, &mut r.id, args::cluster_id)?,
            "dev" => w.once(kw, &mut r.dev, args::ifname)?,
            "addr" => w.once(kw, &mut r.addr4, args::ipv4)?,
            "addr6" => w.once(kw, &mut r.addr6, args::ipv6)?,
            "mac" => w.once(kw, &mut r.mac, Mac::parse)?,
            "mode" => w.once(kw, &mut r.mode, args::mode)?,
            "hash" => w.once(kw, &mut r.hash, args::hash)?,
            "seed" => w.once(kw, &mut r.seed, args::seed)?,
            "buckets" => w.once(kw, &mut r.bucket_bits, args::bucket_bits)?,
            "member" => w.once(kw, &mut r.member, args::member_id)?,
            "fwd-dev" => r.fwd_devs.push(w.parse(kw, args::ifname)?),
            "drain" => w.once(kw, &mut r.drain_ms, args::drain)?,
            "tcp-export" => r.tcp_export = true,
            "commit" => w.once(kw, &mut r.commit_queue, args::queue)?,
            "affinity" if r.affinity.is_some() => {
                return Err(Error::usage("\"affinity\" given twice"))
            }
            "affinity" => r.affinity = Some(args::affinity(&mut w, kw)?),
            _ => return Err(args::unknown(kw)),
        }
    }
    if r.dev.is_none() {
        return Err(args::missing("dev"));
    }
    if r.commit_queue.is_some() && !r.tcp_export {
        return Err(Error::usage("commit needs tcp-export"));
    }
    match (r.mode.unwrap_or(Mode::Multicast), r.mac) {
        (Mode::Multicast, Some(m)) if !m.is_multicast() => {
            return Err(Error::usage(format!(
                "mode multicast needs a multicast mac, and {m} is unicast"
            )))
        }
        (Mode::Unicast, Some(m)) if m.is_multicast() => {
            return Err(Error::usage(format!(
                "mode unicast needs a unicast mac, and {m} is multicast"
            )))
        }
        _ => {}
    }
    Ok(r)
}

/// A `cluster-new` request, every default filled in.
#[derive(Debug, PartialEq, Eq)]
pub struct AddRequest {
    id: Option<u32>,
    ifindex: u32,
    addr4: Option<Ipv4Addr>,
    addr6: Option<Ipv6Addr>,
    mac: Option<Mac>,
    mode: Mode,
    hash: Hash,
    seed: Option<[u8; 16]>,
    /// The seed was generated here (and must be shown to the operator).
    seed_generated: bool,
    bucket_bits: Option<u32>,
    member: Option<u16>,
    fwd_ifindex: Vec<u32>,
    drain_ms: Option<u32>,
    tcp_export: bool,
    commit_queue: Option<u16>,
    affinity: Affinity,
}

impl AddRequest {
    /// Resolves devices with `ifindex` and draws a missing keyed-hash seed
    /// from `random`.
    pub fn resolve(
        a: &AddArgs,
        ifindex: impl Fn(&str) -> Result<u32, Error>,
        random: impl FnOnce() -> Result<[u8; 16], Error>,
    ) -> Result<Self, Error> {
        let mode = a.mode.unwrap_or(Mode::Multicast);
        let hash = a.hash.unwrap_or(Hash::Keyed);
        let dev = a.dev.as_deref().ok_or_else(|| args::missing("dev"))?;
        let ifindex_dev = ifindex(dev)?;
        let fwd_ifindex = a
            .fwd_devs
            .iter()
            .map(|d| ifindex(d))
            .collect::<Result<_, _>>()?;
        let (seed, seed_generated) = match (a.seed, hash) {
            (Some(s), _) => (Some(s), false),
            (None, Hash::Keyed) => (Some(random()?), true),
            (None, Hash::Seed) => (None, false),
        };
        Ok(AddRequest {
            id: a.id,
            ifindex: ifindex_dev,
            addr4: a.addr4,
            addr6: a.addr6,
            mac: a
                .mac
                .or_else(|| mac::default_mac(mode, a.id, a.addr4, a.addr6)),
            mode,
            hash,
            seed,
            seed_generated,
            bucket_bits: a.bucket_bits,
            member: a.member,
            fwd_ifindex,
            drain_ms: a.drain_ms,
            tcp_export: a.tcp_export,
            commit_queue: a.commit_queue,
            affinity: a.affinity.unwrap_or_default(),
        })
    }

    /// The seed, when it was drawn here rather than given: the operator
    /// must give it to every other member.
    pub fn generated_seed(&self) -> Option<[u8; 16]> {
        self.seed.filter(|_| self.seed_generated)
    }

    /// The cluster id, if given.
    pub fn id(&self) -> Option<u32> {
        self.id
    }

    /// The cluster's interface.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The cluster's addresses.
    pub fn addrs(&self) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        (self.addr4, self.addr6)
    }

    /// The flow hash the kernel will use (the keyed hash needs the seed).
    pub fn flow_hash(&self) -> Option<FlowHash> {
        let mode = match self.hash {
            Hash::Seed => crate::shared::hash::Mode::Seed,
            Hash::Keyed => {
                crate::shared::hash::Mode::Keyed(crate::shared::siphash::Key(self.seed?))
            }
        };
        Some(FlowHash {
            mode,
            affinity: self.affinity,
        })
    }

    /// Whether the kernel exports the TCP state of the cluster's connections.
    pub fn tcp_export(&self) -> bool {
        self.tcp_export
    }

    /// The output-commit queue, if any.
    pub fn commit_queue(&self) -> Option<u16> {
        self.commit_queue
    }

    /// The cluster MAC (none in forward mode unless given).
    pub fn mac(&self) -> Option<Mac> {
        self.mac
    }

    /// log2 of the bucket count, if given.
    pub fn bucket_bits(&self) -> Option<u32> {
        self.bucket_bits
    }

    /// The request's attributes, in the spec's order.
    pub fn attrs(&self) -> Vec<Attr> {
        let mut v = Vec::new();
        if let Some(id) = self.id {
            v.push(Attr::u32(a::ID, id));
        }
        v.push(Attr::u32(a::IFINDEX, self.ifindex));
        if let Some(x) = self.addr4 {
            v.push(Attr::bytes(a::ADDR4, &x.octets()));
        }
        if let Some(x) = self.addr6 {
            v.push(Attr::bytes(a::ADDR6, &x.octets()));
        }
        if let Some(m) = self.mac {
            v.push(Attr::bytes(a::MAC, &m.0));
        }
        v.push(Attr::u32(a::MODE, self.mode as u32));
        v.push(Attr::u32(a::HASH, self.hash as u32));
        if let Some(s) = self.seed {
            v.push(Attr::bytes(a::SEED, &s));
        }
        if let Some(b) = self.bucket_bits {
            v.push(Attr::u32(a::BUCKET_BITS, b));
        }
        if let Some(m) = self.member {
            v.push(Attr::u32(a::MEMBER_ID, u32::from(m)));
        }
        for &i in &self.fwd_ifindex {
            v.push(Attr::u32(a::FWD_IFINDEX, i));
        }
        if let Some(ms) = self.drain_ms {
            v.push(Attr::u32(a::DRAIN_MS, ms));
        }
        if self.tcp_export {
            v.push(Attr::bytes(a::TCP_EXPORT, &[]));
        }
        if let Some(q) = self.commit_queue {
            v.push(Attr::bytes(a::COMMIT_QUEUE, &q.to_ne_bytes()));
        }
        v.extend(affinity_attrs(self.affinity));
        v
    }
}

/// The attributes of affinity `x`: none for the kernel's default.
fn affinity_attrs(x: Affinity) -> Vec<Attr> {
    match x {
        Affinity::None => vec![],
        Affinity::Source => vec![Attr::u32(a::AFFINITY, abi::Affinity::Source as u32)],
        Affinity::Network { v4, v6 } => vec![
            Attr::u32(a::AFFINITY, abi::Affinity::Network as u32),
            Attr::u32(a::AFFINITY_PREFIX4, v4.into()),
            Attr::u32(a::AFFINITY_PREFIX6, v6.into()),
        ],
    }
}

/// A cluster as `cluster-get` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster id.
    pub id: u32,
    /// Interface of the cluster IP.
    pub ifindex: Option<u32>,
    /// IPv4 address.
    pub addr4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub addr6: Option<Ipv6Addr>,
    /// Cluster MAC.
    pub mac: Option<Mac>,
    /// `enum ipcluster_mode`, raw.
    pub mode: Option<u32>,
    /// `enum ipcluster_hash`, raw.
    pub hash: Option<u32>,
    /// Keyed-hash seed (privileged callers only).
    pub seed: Option<[u8; 16]>,
    /// log2 of the bucket count.
    pub bucket_bits: Option<u32>,
    /// The local member id.
    pub member: Option<u32>,
    /// Malformed packets dropped.
    pub malformed: Option<u64>,
    /// Interfaces filtering forwarded traffic.
    pub fwd_ifindex: Vec<u32>,
    /// How long a bucket that changes owner drains, ms.
    pub drain_ms: Option<u32>,
    /// The TCP state of its connections is exported.
    pub tcp_export: bool,
    /// Output commit's netfilter queue.
    pub commit_queue: Option<u16>,
    /// `enum ipcluster_affinity`, raw.
    pub affinity: Option<u32>,
    /// Network affinity's IPv4 and IPv6 prefix lengths.
    pub affinity_prefix: (Option<u32>, Option<u32>),
}

impl Cluster {
    /// Decodes a `cluster-get` reply.
    pub fn from_attrs(r: &Attrs) -> Result<Self, Error> {
        Ok(Cluster {
            id: r.need_u32(a::ID, "id")?,
            ifindex: r.u32(a::IFINDEX)?,
            addr4: r.array::<4>(a::ADDR4)?.map(Ipv4Addr::from),
            addr6: r.array::<16>(a::ADDR6)?.map(Ipv6Addr::from),
            mac: r.array::<6>(a::MAC)?.map(Mac),
            mode: r.u32(a::MODE)?,
            hash: r.u32(a::HASH)?,
            seed: r.array::<16>(a::SEED)?,
            bucket_bits: r.u32(a::BUCKET_BITS)?,
            member: r.u32(a::MEMBER_ID)?,
            malformed: r.u64(a::MALFORMED)?,
            fwd_ifindex: r.all_u32(a::FWD_IFINDEX)?,
            drain_ms: r.u32(a::DRAIN_MS)?,
            tcp_export: r.get(a::TCP_EXPORT).is_some(),
            commit_queue: r.array::<2>(a::COMMIT_QUEUE)?.map(u16::from_ne_bytes),
            affinity: r.u32(a::AFFINITY)?,
            affinity_prefix: (r.u32(a::AFFINITY_PREFIX4)?, r.u32(a::AFFINITY_PREFIX6)?),
        })
    }

    /// The client affinity the kernel hashes with (none if it reports
    /// none); an error for one this client does not know.
    pub fn flow_affinity(&self) -> Result<Affinity, Error> {
        let unknown = || {
            Error::failed(format!(
                "cluster {}: affinity {} (prefixes {:?}) unknown to this clusteradm",
                self.id,
                self.affinity.unwrap_or_default(),
                self.affinity_prefix
            ))
        };
        let prefix = |p: Option<u32>, default: u8| match p {
            None => Ok(default),
            Some(p) => u8::try_from(p).map_err(|_| unknown()),
        };
        Ok(match self.affinity.map(abi::Affinity::from_u32) {
            None | Some(Some(abi::Affinity::None)) => Affinity::None,
            Some(Some(abi::Affinity::Source)) => Affinity::Source,
            Some(Some(abi::Affinity::Network)) => Affinity::Network {
                v4: prefix(self.affinity_prefix.0, crate::shared::hash::DEFAULT_PREFIX4)?,
                v6: prefix(self.affinity_prefix.1, crate::shared::hash::DEFAULT_PREFIX6)?,
            },
            Some(None) => return Err(unknown()),
        })
    }

    /// The affinity as `cluster add` takes it (its number if this client
    /// does not know it).
    pub fn affinity_text(&self) -> Option<String> {
        let raw = self.affinity?;
        Some(match self.flow_affinity() {
            Ok(x) => args::affinity_text(x),
            Err(_) => raw.to_string(),
        })
    }

    /// The mode's name (its number if this client does not know it).
    pub fn mode_name(&self) -> Option<String> {
        self.mode
            .map(|m| Mode::from_u32(m).map_or_else(|| m.to_string(), |m| m.name().to_string()))
    }

    /// The hash's name (its number if this client does not know it).
    pub fn hash_name(&self) -> Option<String> {
        self.hash
            .map(|h| Hash::from_u32(h).map_or_else(|| h.to_string(), |h| h.name().to_string()))
    }
}

/// Gets cluster `id` over `nl`.
pub fn get(nl: &mut Client, id: u32) -> Result<Cluster, Error> {
    let r = nl.request(Cmd::ClusterGet, &[Attr::u32(a::ID, id)])?;
    let first = r
        .first()
        .ok_or_else(|| Error::failed(format!("cluster {id}: empty reply")))?;
    Cluster::from_attrs(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{feed_all, genl_reply, nla};
    use crate::client::{build_request, to_bytes, Replies, Step};

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn resolve(s: &str) -> Result<AddRequest, Error> {
        let a = parse_add(&words(s))?;
        AddRequest::resolve(
            &a,
            |d| match d {
                "eth0" => Ok(2),
                "eth1" => Ok(3),
                "eth2" => Ok(4),
                _ => Err(Error::failed(format!("dev \"{d}\": no such device"))),
            },
            || Ok([0xab; 16]),
        )
    }

    #[test]
    fn add_keywords() {
        let a = parse_add(&words(
            "id 7 dev eth0 addr 192.168.0.1 addr6 2001:db8::1 mac 01:00:5e:00:00:01 \
             mode multicast hash seed seed 000102030405060708090a0b0c0d0e0f buckets 256 \
             member 3 fwd-dev eth1 fwd-dev eth2",
        ))
        .unwrap();
        assert_eq!(a.id, Some(7));
        assert_eq!(a.dev.as_deref(), Some("eth0"));
        assert_eq!(a.addr4, Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(a.addr6, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(a.mode, Some(Mode::Multicast));
        assert_eq!(a.hash, Some(Hash::Seed));
        assert_eq!(a.seed.unwrap()[1], 1);
        assert_eq!(a.bucket_bits, Some(8));
        assert_eq!(a.member, Some(3));
        assert_eq!(a.fwd_devs, ["eth1", "eth2"]);
    }

    #[test]
    fn add_usage_errors() {
        for (line, want) in [
            ("addr 10.0.0.1", "\"dev\" is required"),
            ("dev eth0 frob 1", "unknown keyword \"frob\""),
            ("dev eth0 addr", "missing value after \"addr\""),
            (
                "dev eth0 addr 10.0.0.300",
                "invalid \"addr\" value \"10.0.0.300\"",
            ),
            ("dev eth0 addr6 10.0.0.1", "invalid \"addr6\" value"),
            ("dev eth0 mode anycast", "invalid \"mode\" value"),
            ("dev eth0 hash md5", "invalid \"hash\" value"),
            ("dev eth0 seed 1234", "invalid \"seed\" value"),
            ("dev eth0 buckets 1000", "power of two"),
            ("dev eth0 member 65535", "invalid \"member\" value"),
            ("dev eth0 id 0", "invalid \"id\" value"),
            ("dev eth0 dev eth1", "\"dev\" given twice"),
            ("dev eth0 mac 02:00:00:00:00:01", "needs a multicast mac"),
            (
                "dev eth0 mode unicast mac 01:00:5e:00:00:01",
                "needs a unicast mac",
            ),
        ] {
            let e = parse_add(&words(line)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{line}");
            assert!(e.to_string().contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let r = resolve("dev eth0 addr 192.168.0.1").unwrap();
        assert_eq!(r.mode, Mode::Multicast);
        assert_eq!(r.hash, Hash::Keyed);
        assert_eq!(r.mac.unwrap().to_string(), "01:00:5e:28:00:01");
        assert_eq!(r.seed, Some([0xab; 16]));
        assert!(r.seed_generated);
        let r = resolve("id 9 dev eth0 addr 10.0.0.1 mode unicast hash seed").unwrap();
        assert_eq!(r.mac.unwrap().to_string(), "02:bf:00:00:00:09");
        assert_eq!(r.seed, None);
        let r = resolve("dev eth0 seed 000102030405060708090a0b0c0d0e0f mode forward").unwrap();
        assert_eq!(r.mac, None);
        assert!(!r.seed_generated);
        assert_eq!(r.seed.unwrap()[15], 15);
    }

    #[test]
    fn affinity_goes_to_the_request_and_the_flow_hash() {
        let r = resolve("id 1 dev eth0 addr 10.0.0.1 hash seed").unwrap();
        assert_eq!(r.flow_hash().unwrap().affinity, Affinity::None);
        assert!(r.attrs().iter().all(|x| x.kind != a::AFFINITY));
        let r = resolve("id 1 dev eth0 addr 10.0.0.1 affinity source hash seed").unwrap();
        assert_eq!(r.flow_hash().unwrap().affinity, Affinity::Source);
        let r = resolve("id 1 dev eth0 affinity network 16 addr 10.0.0.1").unwrap();
        let want = Affinity::Network { v4: 16, v6: 64 };
        assert_eq!(r.flow_hash().unwrap().affinity, want);
        let attrs = r.attrs();
        let tail: Vec<_> = attrs[attrs.len() - 3..].iter().map(|x| x.kind).collect();
        assert_eq!(
            tail,
            [a::AFFINITY, a::AFFINITY_PREFIX4, a::AFFINITY_PREFIX6]
        );
        let e = parse_add(&words("dev eth0 affinity source affinity none")).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = parse_add(&words("dev eth0 affinity network 33")).unwrap_err();
        assert!(e.to_string().contains("an IPv4 prefix is 1 to 32"), "{e}");
    }

    #[test]
    fn missing_devices_fail_at_resolution() {
        let e = resolve("dev eth9").unwrap_err();
        assert_eq!(e, Error::failed("dev \"eth9\": no such device"));
        let e = resolve("dev eth0 fwd-dev eth9").unwrap_err();
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn cluster_new_message_layout() {
        let r = resolve(
            "id 7 dev eth0 addr 192.168.0.1 buckets 256 member 3 fwd-dev eth1 fwd-dev eth2",
        )
        .unwrap();
        let b = to_bytes(
            &build_request(
                0x20,
                Cmd::ClusterNew as u8,
                1,
                neli::consts::nl::NlmF::ACK,
                1,
                &r.attrs(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut want = Vec::new();
        want.extend(nla(a::ID, &7u32.to_ne_bytes()));
        want.extend(nla(a::IFINDEX, &2u32.to_ne_bytes()));
        want.extend(nla(a::ADDR4, &[192, 168, 0, 1]));
        want.extend(nla(a::MAC, &[1, 0, 0x5e, 0x28, 0, 1]));
        want.extend(nla(a::MODE, &0u32.to_ne_bytes()));
        want.extend(nla(a::HASH, &0u32.to_ne_bytes()));
        want.extend(nla(a::SEED, &[0xab; 16]));
        want.extend(nla(a::BUCKET_BITS, &8u32.to_ne_bytes()));
        want.extend(nla(a::MEMBER_ID, &3u32.to_ne_bytes()));
        want.extend(nla(a::FWD_IFINDEX, &3u32.to_ne_bytes()));
        want.extend(nla(a::FWD_IFINDEX, &4u32.to_ne_bytes()));
        assert_eq!(&b[20..], &want[..]);
        assert_eq!(
            u32::from_ne_bytes(b[..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(
            &b[16..18],
            &[Cmd::ClusterNew as u8, crate::abi::FAMILY_VERSION]
        );
    }

    fn reply_attrs() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(nla(a::ID, &7u32.to_ne_bytes()));
        v.extend(nla(a::IFINDEX, &1u32.to_ne_bytes()));
        v.extend(nla(a::ADDR4, &[192, 168, 0, 1]));
        v.extend(nla(
            a::ADDR6,
            &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        ));
        v.extend(nla(a::MAC, &[1, 0, 0x5e, 0x28, 0, 1]));
        v.extend(nla(a::MODE, &1u32.to_ne_bytes()));
        v.extend(nla(a::HASH, &0u32.to_ne_bytes()));
        v.extend(nla(a::BUCKET_BITS, &10u32.to_ne_bytes()));
        v.extend(nla(a::MEMBER_ID, &2u32.to_ne_bytes()));
        v.extend(nla(a::MALFORMED, &12u64.to_ne_bytes()));
        v.extend(nla(a::FWD_IFINDEX, &1u32.to_ne_bytes()));
        v.extend(nla(a::AFFINITY, &2u32.to_ne_bytes()));
        v.extend(nla(a::AFFINITY_PREFIX4, &20u32.to_ne_bytes()));
        v.extend(nla(a::AFFINITY_PREFIX6, &48u32.to_ne_bytes()));
        v.extend(nla(99, &[1, 2, 3])); // unknown attributes are skipped
        v
    }

    fn decode(bytes: &[u8]) -> Cluster {
        let mut r = Replies::new(0x20, 5);
        assert_eq!(feed_all(&mut r, bytes), Ok(Step::More));
        Cluster::from_attrs(&r.msgs[0]).unwrap()
    }

    #[test]
    fn cluster_get_reply_decodes() {
        let c = decode(&genl_reply(
            0x20,
            Cmd::ClusterGet as u8,
            0,
            5,
            &reply_attrs(),
        ));
        assert_eq!(c.id, 7);
        assert_eq!(c.ifindex, Some(1));
        assert_eq!(c.addr4, Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(c.addr6, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(c.mac, Some(Mac([1, 0, 0x5e, 0x28, 0, 1])));
        assert_eq!(c.mode_name().as_deref(), Some("unicast"));
        assert_eq!(c.hash_name().as_deref(), Some("keyed"));
        assert_eq!(c.bucket_bits, Some(10));
        assert_eq!(c.member, Some(2));
        assert_eq!(c.malformed, Some(12));
        assert_eq!(c.fwd_ifindex, [1]);
        assert_eq!(c.flow_affinity(), Ok(Affinity::Network { v4: 20, v6: 48 }));
        assert_eq!(c.affinity_text().as_deref(), Some("network 20 48"));
        assert_eq!(c.seed, None);
        assert!(!c.tcp_export);
    }

    #[test]
    fn seed_is_optional() {
        let mut attrs = nla(a::ID, &3u32.to_ne_bytes());
        attrs.extend(nla(a::SEED, &[0x11; 16]));
        attrs.extend(nla(a::MODE, &7u32.to_ne_bytes()));
        let c = decode(&genl_reply(0x20, Cmd::ClusterGet as u8, 0, 5, &attrs));
        assert_eq!(c.seed, Some([0x11; 16]));
        assert_eq!(c.mode_name().as_deref(), Some("7"));
    }

    #[test]
    fn bad_replies_are_errors() {
        let mut r = Replies::new(0x20, 5);
        feed_all(
            &mut r,
            &genl_reply(0x20, 3, 0, 5, &nla(a::IFINDEX, &1u32.to_ne_bytes())),
        )
        .unwrap();
        assert!(Cluster::from_attrs(&r.msgs[0])
            .unwrap_err()
            .to_string()
            .contains("no id"));
        let mut attrs = nla(a::ID, &3u32.to_ne_bytes());
        attrs.extend(nla(a::MAC, &[1, 2, 3]));
        let mut r = Replies::new(0x20, 5);
        feed_all(&mut r, &genl_reply(0x20, 3, 0, 5, &attrs)).unwrap();
        assert!(Cluster::from_attrs(&r.msgs[0]).is_err());
    }
}
