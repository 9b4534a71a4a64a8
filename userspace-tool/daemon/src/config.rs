//! The daemon's configuration file (TOML). `ipcluster.example.toml`, next
//! to clusteradm's `Cargo.toml` and printed by `clusteradm daemon --help`,
//! shows and explains every key with its default; a test parses it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::kapi::Error;
use serde::Deserialize;

/// The configuration file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) cluster: ClusterConf,
    pub(crate) link: Link,
    pub(crate) pki: PkiConf,
    #[serde(default)]
    pub(crate) protocol: Protocol,
    #[serde(default)]
    pub(crate) tcp: TcpConf,
    #[serde(default)]
    pub(crate) metrics: MetricsConf,
}

/// The metrics endpoint.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsConf {
    /// Where to serve `GET /metrics` (none: no endpoint).
    pub(crate) listen: Option<std::net::SocketAddr>,
}

/// TCP survival (for clusters made with `tcp-export`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TcpConf {
    /// Per cluster port, the unix socket of the application that takes
    /// the connections restored here.
    pub(crate) handoff: std::collections::HashMap<u16, PathBuf>,
    /// Most replicated connections kept (and most of this member's
    /// connections replicated).
    pub(crate) max_conns: usize,
    /// Most bytes of queues (output commit) one replicated connection
    /// holds: a socket's send and receive buffers rarely hold more.
    pub(crate) max_conn_bytes: usize,
    /// Most bytes of queues all replicas hold together.
    pub(crate) max_bytes: usize,
    /// In async mode, how long a connection's change waits for others to
    /// go with it to the other members (what a crash may lose at most;
    /// no timer runs while nothing waits); with output commit, how often
    /// resends and held segments are looked at. Each timer wakes the
    /// replication's thread, so a shorter one costs CPU on every member.
    pub(crate) flush_ms: u64,
}

impl Default for TcpConf {
    fn default() -> Self {
        TcpConf {
            handoff: Default::default(),
            max_conns: 65536,
            max_conn_bytes: 16 << 20,
            max_bytes: 512 << 20,
            flush_ms: 50,
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterConf {
    pub(crate) add: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Link {
    pub(crate) dev: String,
    pub(crate) addr: Ipv4Addr,
    #[serde(default = "default_group")]
    pub(crate) group: Ipv4Addr,
    #[serde(default = "default_port")]
    pub(crate) port: u16,
}

fn default_group() -> Ipv4Addr {
    Ipv4Addr::new(239, 255, 73, 1)
}

fn default_port() -> u16 {
    7400
}

fn default_require_address() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct PkiConf {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) revoked: Option<PathBuf>,
    #[serde(default)]
    pub(crate) listed: Vec<String>,
    /// Take messages only from certificates that name their holder's
    /// address on the link (`clusteradm cert issue DIR NAME addr ADDR`);
    /// by default, for a certificate that names none could be presented
    /// from any host of the link.
    #[serde(default = "default_require_address")]
    pub(crate) require_address: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Protocol {
    pub(crate) period_ms: u64,
    pub(crate) join_wait_ms: u64,
    pub(crate) offer_wait_ms: u64,
    pub(crate) rebalance_ms: u64,
    pub(crate) min_interval: u32,
    pub(crate) config: u32,
    pub(crate) hook: Option<PathBuf>,
    pub(crate) approve: bool,
    pub(crate) realtime: bool,
    /// With `majority`, a side of a partition serves buckets only while
    /// its master counts more than half of `members`.
    pub(crate) quorum: Quorum,
    /// The cluster's size, for the quorum.
    pub(crate) members: usize,
    /// How far members' clocks may differ: signed datagrams whose
    /// counter (the sender's clock) is further from ours are stale.
    pub(crate) max_clock_skew_ms: u64,
}

/// Whether a side of a partition needs a quorum to serve.
#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Quorum {
    /// Every side serves (each has a master; a link-only partition
    /// serves every flow twice until it heals).
    #[default]
    None,
    /// Only a side with more than half of `[protocol] members`.
    Majority,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            period_ms: 50,
            max_clock_skew_ms: 60_000,
            join_wait_ms: 150,
            offer_wait_ms: 100,
            rebalance_ms: 2000,
            min_interval: 2,
            config: 1,
            hook: None,
            approve: false,
            realtime: true,
            quorum: Quorum::None,
            members: 0,
        }
    }
}

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

/// Parses a configuration file's text.
pub(crate) fn parse(text: &str) -> Result<Config, Error> {
    toml::from_str(text).map_err(|e| Error::usage(format!("configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_parses() {
        let c = parse(include_str!("../../clusteradm/ipcluster.example.toml")).unwrap();
        assert_eq!(c.link.port, default_port());
        assert_eq!(c.protocol.period_ms, Protocol::default().period_ms);
        assert!(c.protocol.realtime);
        assert_eq!(c.tcp.max_conns, TcpConf::default().max_conns);
        assert_eq!(c.tcp.flush_ms, TcpConf::default().flush_ms);
    }

    #[test]
    fn configurations_parse_with_defaults_and_refuse_unknown_keys() {
        let c = parse(
            r#"
            [cluster]
            add = "id 1 dev eth0 addr 192.0.2.100 seed 000102030405060708090a0b0c0d0e0f"
            [link]
            dev = "eth0"
            addr = "192.0.2.11"
            [pki]
            ca = "/p/ca.pem"
            cert = "/p/m1.pem"
            key = "/p/m1.key"
            "#,
        )
        .unwrap();
        assert_eq!(c.link.group, Ipv4Addr::new(239, 255, 73, 1));
        assert_eq!(c.link.port, 7400);
        assert_eq!(c.protocol.period_ms, 50);
        assert_eq!(c.protocol.rebalance_ms, 2000);
        assert!(c.protocol.realtime);
        let e = parse("[cluster]\nadd = \"\"\nfrob = 1\n").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("frob"), "{e}");
    }
}
