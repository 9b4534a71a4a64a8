//! The daemon's start: what `clusteradm daemon CONFIG` runs. It reads the
//! configuration, creates the kernel's cluster, loads this host's
//! certificate and the cluster's trust, starts TCP survival when the
//! cluster exports TCP state, opens the cluster link, and hands all of it
//! to the membership's loop ([`event_loop`]).
//!
//! A cluster added with `commit QUEUE` (output commit) has the daemon hold
//! each segment its connections send in netfilter queue QUEUE until another
//! member acknowledged the state and bytes it reveals (`survival::commit`).
//!
//! On SIGTERM, or when told its configuration is stale, the daemon deletes
//! its kernel cluster (so it serves no bucket a survivor takes) and exits.

mod event_loop;

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::kapi::abi::{cluster as c, Cmd};
use crate::kapi::attr::Attr;
use crate::kapi::cluster::{self, AddRequest};
use crate::kapi::sys::sockbuf::{self, Buf};
use crate::kapi::{Client, Error};
use crate::shared::keepalive;
use crate::survival::handoff::Handoff;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::cert::{self, Identity, Pem, Trust};
use crate::config::{self, read, Config, Link, PkiConf, Protocol, Quorum};
use crate::membership::node::{Message, Settings};
use crate::metrics::{self, http::Published};
use crate::survival::{self, link, Survival};
use crate::wire::{Endpoint, Payload};

/// Runs the membership daemon the configuration file at `path` describes,
/// until SIGTERM or until the cluster says its configuration is stale.
pub fn run(path: &Path) -> Result<(), Error> {
    let cfg = config::parse(&read(path)?).map_err(|e| e.context(&path.display().to_string()))?;
    init_logging();
    // Before the kernel cluster: an address it cannot bind leaves none.
    let published = serve_metrics(&cfg)?;
    let kernel = create_cluster(&cfg.cluster.add)?;
    let link_at = SocketAddr::from((cfg.link.addr, cfg.link.port));
    let skew = Duration::from_millis(cfg.protocol.max_clock_skew_ms);
    let (keys, endpoint) = Keys::load(&cfg.pki, kernel.id, link_at, skew)?;
    let mut settings = settings(&cfg.protocol, kernel.buckets())?;
    settings.member_id = cert::der(&keys.pem.cert)
        .ok()
        .and_then(|d| cert::member_id(&d));
    let link = match kernel.req.flow_hash() {
        Some(hash) if kernel.req.tcp_export() => Some(start_survival(&cfg, &kernel, hash, keys)?),
        _ => None,
    };
    let sock = link_socket(&cfg.link, cfg.link.port)?;
    if cfg.protocol.realtime {
        crate::sys::realtime();
    }
    event_loop::run(cfg, kernel, endpoint, link, sock, settings, published)
}

/// The metrics endpoint `[metrics] listen` asks for, if any. Its thread
/// starts before the membership's takes a realtime priority, so it runs
/// at the normal one.
fn serve_metrics(cfg: &Config) -> Result<Option<Published>, Error> {
    let Some(at) = cfg.metrics.listen else {
        return Ok(None);
    };
    let p = Published::default();
    let bound = metrics::http::serve(at, p.clone())
        .map_err(|e| Error::failed(format!("[metrics] listen {at}: {e}")))?;
    info!(%bound, "serving metrics");
    Ok(Some(p))
}

/// Logs to standard error, filtered by `IPCLUSTER_LOG` (`info` without it).
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IPCLUSTER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The kernel's cluster, as this daemon created it.
struct Kernel {
    id: u32,
    req: AddRequest,
    nl: Client,
}

impl Kernel {
    /// The cluster's bucket count.
    fn buckets(&self) -> usize {
        1usize << self.bits()
    }

    /// log2 of the bucket count.
    fn bits(&self) -> u32 {
        self.req.bucket_bits().unwrap_or(10)
    }
}

/// Creates the kernel cluster `[cluster] add` describes, deleting first
/// whatever a previous run left: its table is the old master's business,
/// not ours.
fn create_cluster(add: &str) -> Result<Kernel, Error> {
    let words: Vec<String> = add.split_whitespace().map(String::from).collect();
    let args = cluster::parse_add(&words).map_err(|e| e.context("[cluster] add"))?;
    let req = AddRequest::resolve(&args, crate::kapi::sys::dev::index, || {
        Err(Error::usage(
            "[cluster] add: give the seed (every member needs the same)",
        ))
    })?;
    let id = req
        .id()
        .ok_or_else(|| Error::usage("[cluster] add: give the cluster id"))?;
    let mut nl = Client::connect()?;
    let _ = nl.request(Cmd::ClusterDel, &[Attr::u32(c::ID, id)]);
    nl.request(Cmd::ClusterNew, &req.attrs())
        .map_err(|e| e.context("creating the kernel cluster"))?;
    Ok(Kernel { id, req, nl })
}

/// This host's certificate and the cluster's trust, as the `[pki]`
/// section gives them, for the endpoints that sign and check datagrams.
struct Keys {
    pem: Pem,
    trust: Trust,
    /// Where the replay counters start: the wall clock in microseconds,
    /// so that they keep rising across restarts.
    start: u64,
    /// `[protocol] max_clock_skew_ms`.
    skew: Duration,
}

impl Keys {
    /// Loads the `[pki]` files, and makes the membership's endpoint of
    /// cluster `id` with them; an error if the certificate names
    /// addresses but not this host's on the link, `me` (the others would
    /// take nothing from it).
    fn load(
        p: &PkiConf,
        id: u32,
        link: SocketAddr,
        skew: Duration,
    ) -> Result<(Keys, Endpoint<Message>), Error> {
        let me = link.ip();
        let pem = Pem {
            cert: read(&p.cert)?,
            key: read(&p.key)?,
        };
        let identity = Identity::new(&pem).map_err(Error::failed)?;
        let bound = cert::addresses(identity.cert());
        if !bound.is_empty() && !bound.contains(&me) {
            return Err(Error::failed(format!(
                "{}: the certificate names {bound:?}, not this host's [link] addr {me}",
                p.cert.display()
            )));
        }
        if bound.is_empty() && p.require_address {
            return Err(Error::failed(format!(
                "{}: the certificate names no address, and [pki] require_address \
                 (the default) makes the others refuse it: issue it with \
                 `clusteradm cert issue DIR NAME addr {me}`",
                p.cert.display()
            )));
        }
        let trust = trust(p)?;
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let endpoint = Endpoint::new(id, identity, trust.clone(), start, link).max_skew(skew);
        let keys = Keys {
            pem,
            trust,
            start,
            skew,
        };
        Ok((keys, endpoint))
    }

    /// Another endpoint of cluster `id`, at `link`, for the TCP state
    /// link.
    fn endpoint<M: Payload>(self, id: u32, link: SocketAddr) -> Result<Endpoint<M>, Error> {
        let identity = Identity::new(&self.pem).map_err(Error::failed)?;
        Ok(Endpoint::new(id, identity, self.trust, self.start, link).max_skew(self.skew))
    }
}

/// The trust the `[pki]` section describes (the revocation list as it is
/// now).
pub(crate) fn trust(p: &PkiConf) -> Result<Trust, Error> {
    let revoked = match &p.revoked {
        Some(path) => cert::parse_revoked(&read(path)?),
        None => Vec::new(),
    };
    Trust::new(&read(&p.ca)?, p.listed.clone(), revoked)
        .map(|t| t.requiring_address(p.require_address))
        .map_err(Error::failed)
}

/// The membership protocol's settings from `[protocol]`, for `buckets`
/// buckets.
fn settings(p: &Protocol, buckets: usize) -> Result<Settings, Error> {
    let mut settings = Settings::new(buckets);
    settings.config = p.config;
    settings.period = Duration::from_millis(p.period_ms.max(1));
    settings.join_wait = Duration::from_millis(p.join_wait_ms);
    settings.offer_wait = Duration::from_millis(p.offer_wait_ms);
    settings.rebalance_every = Duration::from_millis(p.rebalance_ms.max(1));
    if p.approve && p.hook.is_none() {
        return Err(Error::usage("[protocol] approve needs a hook to ask"));
    }
    settings.approve = p.approve;
    if !(keepalive::MIN_INTERVAL..=keepalive::MAX_INTERVAL).contains(&p.min_interval) {
        return Err(Error::usage(format!(
            "[protocol] min_interval {} is not within {}..{}",
            p.min_interval,
            keepalive::MIN_INTERVAL,
            keepalive::MAX_INTERVAL
        )));
    }
    settings.min_interval = p.min_interval;
    settings.quorum = match (p.quorum, p.members) {
        (Quorum::None, _) => 0,
        (Quorum::Majority, 0) => {
            return Err(Error::usage(
                "[protocol] quorum = \"majority\" needs members = N, the cluster's size",
            ))
        }
        (Quorum::Majority, n) => n / 2 + 1,
    };
    Ok(settings)
}

/// TCP survival for a cluster that exports TCP state: its replicas, the
/// kernel's exports, output commit's queue, and the TCP state link on the
/// cluster link's next port, all on a thread of their own.
fn start_survival(
    cfg: &Config,
    kernel: &Kernel,
    hash: crate::shared::hash::FlowHash,
    keys: Keys,
) -> Result<link::Handle, Error> {
    let (id, commit) = (kernel.id, kernel.req.commit_queue());
    let (v4, v6) = kernel.req.addrs();
    let addrs = v4.map(IpAddr::V4).into_iter().chain(v6.map(IpAddr::V6));
    let limits = survival::Limits {
        conns: cfg.tcp.max_conns,
        conn_bytes: cfg.tcp.max_conn_bytes,
        bytes: cfg.tcp.max_bytes,
    };
    let mut survival = Survival::new(
        (hash, kernel.bits(), addrs.collect()),
        Handoff::new(cfg.tcp.handoff.clone())
            .map_err(|e| Error::failed(format!("hand-off thread: {e}")))?,
        limits,
        commit.is_some(),
    );
    survival.adopt_with(Box::new(KernelAdopt(Client::connect()?)));
    let mut nl = Client::connect()?;
    survival.tickle_with(Box::new(|conns| {
        // (Up to two seconds of waiting for the clients' answers: not on
        // the replication thread.)
        let n = conns.len();
        let spawned = std::thread::Builder::new()
            .name("tickle".into())
            .spawn(move || match survival::tickle::reset_all(conns) {
                Ok(k) => info!(
                    reset = k,
                    of = n,
                    "tickled the clients of reset connections"
                ),
                Err(e) => warn!(%e, "tickling the clients of reset connections"),
            });
        if let Err(e) = spawned {
            warn!(%e, "tickling the clients of reset connections");
        }
    }));
    survival.end_drains_with(Box::new(move |gone| {
        let attrs = crate::kapi::table::gone_attrs(id, gone);
        if let Err(e) = nl.request(Cmd::TableSet, &attrs) {
            warn!(%e, ?gone, "ending the drains of members that are gone");
        }
    }));
    if commit.is_some() {
        let mut nl = Client::connect()?;
        survival.fetch_unsent(Box::new(move |i, from| {
            crate::kapi::tcp::unsent(&mut nl, id, i, from)
                .map_err(|e| debug!(%e, sport = i.sport, "bytes not sent yet"))
                .ok()
        }));
        let mut nl = Client::connect()?;
        survival.fetch_state(Box::new(move |i| {
            crate::kapi::tcp::state(&mut nl, id, i)
                .map_err(|e| debug!(%e, sport = i.sport, "a connection's records as now"))
                .ok()
        }));
        // The kernel aborts the socket (its RST, ECONNABORTED to the
        // application); one still in its handshake goes without a word,
        // so the client also gets an RST of ours.
        survival.abort_with(Box::new(|c| {
            match crate::kapi::sockdiag::destroy(c.local, c.client) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            survival::tickle::reset(c)
        }));
    }
    let queue = match commit {
        Some(q) => Some(
            crate::kapi::nfqueue::Queue::bind(q)
                .map_err(|e| Error::failed(format!("binding netfilter queue {q}: {e}")))?,
        ),
        None => None,
    };
    let port = cfg.link.port.checked_add(1).ok_or_else(|| {
        Error::usage("[link] port: TCP state takes the next port; 65535 has none")
    })?;
    let (kernel_tx, kernel_rx) = mpsc::unbounded_channel();
    survival::watch_kernel(id, kernel_tx)
        .map_err(|e| Error::failed(format!("TCP state export: {e}")))?;
    link::start(
        link_socket(&cfg.link, port)?,
        SocketAddr::from((cfg.link.group, port)),
        keys.endpoint(id, SocketAddr::from((cfg.link.addr, port)))?,
        survival,
        kernel_rx,
        queue,
        Duration::from_millis(cfg.tcp.flush_ms.max(1)),
    )
    .map_err(|e| Error::failed(format!("TCP state link: {e}")))
}

/// Adoption through this host's kernel module.
struct KernelAdopt(Client);

impl survival::Adopt for KernelAdopt {
    fn prepare(&mut self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), String> {
        crate::kapi::tcp::adopt_prepare(&mut self.0, fd).map_err(|e| e.to_string())
    }

    fn adopt(&mut self, fd: std::os::fd::OwnedFd) -> Result<(), String> {
        crate::kapi::tcp::adopt(&mut self.0, fd).map_err(|e| e.to_string())
    }
}

/// A cluster link socket on `port`: the group joined on the link's
/// address, multicast sent from it, our own multicast not looped back.
fn link_socket(l: &Link, port: u16) -> Result<std::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol as P, Socket, Type};
    let e = |what: &str, err: std::io::Error| Error::failed(format!("cluster link: {what}: {err}"));
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(P::UDP)).map_err(|x| e("socket", x))?;
    s.set_reuse_address(true)
        .map_err(|x| e("SO_REUSEADDR", x))?;
    s.bind_device(Some(l.dev.as_bytes()))
        .map_err(|x| e(&format!("SO_BINDTODEVICE {}", l.dev), x))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(|x| e("bind", x))?;
    s.join_multicast_v4(&l.group, &l.addr)
        .map_err(|x| e("join group", x))?;
    s.set_multicast_if_v4(&l.addr)
        .map_err(|x| e("IP_MULTICAST_IF", x))?;
    s.set_multicast_loop_v4(false)
        .map_err(|x| e("IP_MULTICAST_LOOP", x))?;
    s.set_nonblocking(true).map_err(|x| e("O_NONBLOCK", x))?;
    // Room for a burst of TCP state (or of keepalives after a stall)
    // while the loop is busy: 4 MiB, past rmem_max (we have
    // CAP_NET_ADMIN); the default where that is refused.
    if let Err(err) = sockbuf::grow(std::os::fd::AsRawFd::as_raw_fd(&s), Buf::Receive, 4 << 20) {
        debug!(%err, "link socket's receive buffer");
    }
    Ok(s.into())
}
