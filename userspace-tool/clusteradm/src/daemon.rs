//! `clusteradm daemon CONFIG`: one host's membership daemon. It creates
//! the kernel's cluster, runs the membership protocol (`membership::node`)
//! on the cluster link, a UDP multicast group, with every datagram signed
//! and checked (`membership::wire`), installs each table the master
//! decides in the kernel, feeds the kernel's per-bucket counters back as
//! load, and writes its view of the cluster for `clusteradm status`.
//!
//! The configuration is TOML; `ipcluster.example.toml` (next to
//! `Cargo.toml`, printed by `clusteradm daemon --help`) shows and explains
//! every key, with the defaults; a test parses it.
//!
//! A cluster added with `commit QUEUE` (output commit) has the daemon hold
//! each segment its connections send in netfilter queue QUEUE until another
//! member acknowledged the state and bytes it reveals (`survival::commit`).
//!
//! On SIGTERM, or when told its configuration is stale, the daemon deletes
//! its kernel cluster (so it serves no bucket a survivor takes) and exits.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use ipcluster_core::keepalive;
use ipcluster_core::proto::NO_MEMBER;
use rustls_pki_types::UnixTime;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::announce;
use crate::cert::{Identity, Pem, Trust};
use crate::cmd::cert as pki;
use crate::membership::node::{addr_of, ip_of, Addr, Event, Message, Node, Out, Settings, To};
use crate::membership::wire::{Endpoint, Rejected, MAX_DATAGRAM};
use crate::survival::{self, Survival};
use ipcluster_kapi::abi::{bucket as b, Cmd};
use ipcluster_kapi::attr::Attr;
use ipcluster_kapi::bucket::Bucket;
use ipcluster_kapi::cluster::{self, AddRequest};
use ipcluster_kapi::mac::Mac;
use ipcluster_kapi::sys::sockbuf::{self, Buf};
use ipcluster_kapi::table;
use ipcluster_kapi::Client;
use ipcluster_kapi::Error;

/// The configuration file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    cluster: ClusterConf,
    link: Link,
    pki: PkiConf,
    #[serde(default)]
    protocol: Protocol,
    #[serde(default)]
    tcp: TcpConf,
}

/// TCP survival (for clusters made with `tcp-export`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, default)]
struct TcpConf {
    /// Per cluster port, the unix socket of the application that takes
    /// the connections restored here.
    handoff: std::collections::HashMap<u16, PathBuf>,
    /// Most replicated connections kept.
    max_conns: usize,
    /// In async mode, how long a connection's change waits for others to
    /// go with it to the other members (what a crash may lose at most;
    /// no timer runs while nothing waits); with output commit, how often
    /// resends and held segments are looked at. Each timer wakes the
    /// replication's thread: at 10 ms, the three daemons of the TCP
    /// benchmark used a third of its two emulated CPUs.
    flush_ms: u64,
}

impl Default for TcpConf {
    fn default() -> Self {
        TcpConf {
            handoff: Default::default(),
            max_conns: 65536,
            flush_ms: 50,
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ClusterConf {
    add: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Link {
    dev: String,
    addr: Ipv4Addr,
    #[serde(default = "default_group")]
    group: Ipv4Addr,
    #[serde(default = "default_port")]
    port: u16,
}

fn default_group() -> Ipv4Addr {
    Ipv4Addr::new(239, 255, 73, 1)
}

fn default_port() -> u16 {
    7400
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PkiConf {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    revoked: Option<PathBuf>,
    #[serde(default)]
    listed: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, default)]
struct Protocol {
    period_ms: u64,
    join_wait_ms: u64,
    offer_wait_ms: u64,
    rebalance_ms: u64,
    min_interval: u32,
    config: u32,
    hook: Option<PathBuf>,
    approve: bool,
    realtime: bool,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            period_ms: 50,
            join_wait_ms: 150,
            offer_wait_ms: 100,
            rebalance_ms: 2000,
            min_interval: 2,
            config: 1,
            hook: None,
            approve: false,
            realtime: true,
        }
    }
}

/// Where `clusteradm status` finds the daemon of cluster `id`.
pub(crate) fn state_path(id: u32) -> PathBuf {
    let dir = std::env::var_os("IPCLUSTER_RUN_DIR").unwrap_or_else(|| "/run/ipcluster".into());
    Path::new(&dir).join(format!("{id}.json"))
}

/// What the daemon writes for `clusteradm status`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub(crate) struct State {
    pub(crate) cluster: u32,
    pub(crate) role: String,
    pub(crate) member: Option<u16>,
    pub(crate) master: Option<String>,
    pub(crate) members: Vec<(u16, String)>,
    pub(crate) misses: u8,
    pub(crate) period_ms: u64,
    pub(crate) table_version: u32,
    pub(crate) owners: Vec<u16>,
    /// Per member: loss estimate (0..1) and interval (master only).
    pub(crate) loss: Vec<(u16, f64, u32)>,
    /// Buckets whose owner has not yet acknowledged them (master only).
    pub(crate) unacked: usize,
    /// Per member: the table version it last acknowledged (master only).
    #[serde(default)]
    pub(crate) acked: Vec<(u16, u32)>,
    /// TCP survival, when the cluster exports TCP state.
    #[serde(default)]
    pub(crate) tcp: Option<crate::survival::TcpStatus>,
    pub(crate) rejected: RejectedJson,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub(crate) struct RejectedJson {
    pub(crate) malformed: u64,
    pub(crate) other_cluster: u64,
    pub(crate) untrusted: u64,
    pub(crate) bad_signature: u64,
    pub(crate) replayed: u64,
}

impl From<Rejected> for RejectedJson {
    fn from(r: Rejected) -> Self {
        RejectedJson {
            malformed: r.malformed,
            other_cluster: r.other_cluster,
            untrusted: r.untrusted,
            bad_signature: r.bad_signature,
            replayed: r.replayed,
        }
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

/// Parses a configuration file's text.
pub(crate) fn parse(text: &str) -> Result<Config, Error> {
    toml::from_str(text).map_err(|e| Error::usage(format!("configuration: {e}")))
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

/// The trust the `[pki]` section describes (the revocation list as it is
/// now).
fn trust(p: &PkiConf) -> Result<Trust, Error> {
    let revoked = match &p.revoked {
        Some(path) => pki::parse_revoked(&read(path)?),
        None => Vec::new(),
    };
    Trust::new(&read(&p.ca)?, p.listed.clone(), revoked).map_err(Error::failed)
}

/// `clusteradm daemon CONFIG`.
pub(crate) fn run(path: &Path) -> Result<(), Error> {
    let cfg = parse(&read(path)?).map_err(|e| e.context(&path.display().to_string()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IPCLUSTER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let words: Vec<String> = cfg
        .cluster
        .add
        .split_whitespace()
        .map(String::from)
        .collect();
    let args = cluster::parse_add(&words).map_err(|e| e.context("[cluster] add"))?;
    let req = AddRequest::resolve(&args, ipcluster_kapi::sys::dev::index, || {
        Err(Error::usage(
            "[cluster] add: give the seed (every member needs the same)",
        ))
    })?;
    let id = req
        .id()
        .ok_or_else(|| Error::usage("[cluster] add: give the cluster id"))?;
    let buckets = 1usize << req.bucket_bits().unwrap_or(10);
    let mut nl = Client::connect()?;
    // Start from a clean cluster: whatever table a previous run left is
    // the old master's business, not ours.
    let _ = nl.request(
        Cmd::ClusterDel,
        &[Attr::u32(ipcluster_kapi::abi::cluster::ID, id)],
    );
    nl.request(Cmd::ClusterNew, &req.attrs())
        .map_err(|e| e.context("creating the kernel cluster"))?;

    let pem = Pem {
        cert: read(&cfg.pki.cert)?,
        key: read(&cfg.pki.key)?,
    };
    let identity = Identity::new(&pem).map_err(Error::failed)?;
    let trust = trust(&cfg.pki)?;
    let start = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let endpoint = Endpoint::new(id, identity, trust.clone(), start);
    let p = &cfg.protocol;
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

    let group = SocketAddr::from((cfg.link.group, cfg.link.port));
    let link = match req.flow_hash() {
        Some(hash) if req.tcp_export() => {
            let mut survival = Survival::new(
                hash,
                req.bucket_bits().unwrap_or(10),
                cfg.tcp.handoff.clone(),
                cfg.tcp.max_conns,
                req.commit_queue().is_some(),
            );
            if req.commit_queue().is_some() {
                let mut nl = Client::connect()?;
                survival.fetch_unsent(Box::new(move |i, from| {
                    ipcluster_kapi::tcp::unsent(&mut nl, id, i, from)
                        .map_err(|e| debug!(%e, sport = i.sport, "bytes not sent yet"))
                        .ok()
                }));
            }
            let queue = match req.commit_queue() {
                Some(q) => Some(
                    ipcluster_kapi::nfqueue::Queue::bind(q)
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
            let own = Endpoint::new(
                id,
                Identity::new(&pem).map_err(Error::failed)?,
                trust,
                start,
            );
            let l = survival::link::start(
                link_socket(&cfg.link, port)?,
                SocketAddr::from((cfg.link.group, port)),
                own,
                survival,
                kernel_rx,
                queue,
                Duration::from_millis(cfg.tcp.flush_ms.max(1)),
            )
            .map_err(|e| Error::failed(format!("TCP state link: {e}")))?;
            Some(l)
        }
        _ => None,
    };
    let sock = link_socket(&cfg.link, cfg.link.port)?;
    if p.realtime {
        realtime();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("runtime: {e}")))?;
    rt.block_on(async {
        let sock = tokio::net::UdpSocket::from_std(sock)
            .map_err(|e| Error::failed(format!("cluster link: {e}")))?;
        info!(cluster = id, link = %cfg.link.addr, group = %cfg.link.group, "started");
        Daemon {
            id,
            nl,
            endpoint,
            pki: cfg.pki,
            revoked_at: None,
            sock,
            group,
            hook: p.hook.clone(),
            decisions: mpsc::unbounded_channel(),
            config: p.config,
            state: state_path(id),
            last_load: Vec::new(),
            ifindex: req.ifindex(),
            addrs: req.addrs(),
            mac: req.mac(),
            link,
        }
        .run(settings, addr_of(IpAddr::V4(cfg.link.addr)))
        .await
    })
}

/// Puts the calling thread, the membership's, at a realtime priority
/// (SCHED_RR 10, as corosync does for its own): whatever else keeps this
/// host's CPUs busy — its applications, TCP state replication — the
/// thread that sends keepalives and judges silence runs when it wakes, so
/// a busy host is not taken for dead. It does little: a few datagrams
/// per period. The threads and processes it starts later (approval
/// hooks) run at the normal priority (SCHED_RESET_ON_FORK); those started
/// before it (replication, the kernel's exports) do already. Without the
/// privilege, a warning and the normal priority.
fn realtime() {
    let p = libc::sched_param { sched_priority: 10 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a
    // valid sched_param that lives across the call.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &p) };
    if r != 0 {
        warn!(err = %std::io::Error::last_os_error(), "no realtime priority for the membership");
    }
}

/// How often the timers tick: a fifth of a period's resolution, and at
/// least every 20 ms (a rebalancing round is a tick at the soonest).
fn tick_every(s: &Settings) -> Duration {
    (s.period / 5).min(Duration::from_millis(20))
}

/// How many buckets each member owns: "1:342,2:341,3:341" (by id).
fn owner_counts(owners: &[u16]) -> String {
    let mut n = std::collections::BTreeMap::new();
    for &o in owners {
        *n.entry(o).or_insert(0u32) += 1;
    }
    n.iter()
        .map(|(o, c)| match *o {
            ipcluster_kapi::abi::UNOWNED => format!("-:{c}"),
            o => format!("{o}:{c}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The applications' answer on a joining host: may it join?
type Decided = (Addr, bool);

struct Daemon {
    id: u32,
    nl: Client,
    endpoint: Endpoint,
    pki: PkiConf,
    /// When the revocation list last changed, as last read.
    revoked_at: Option<SystemTime>,
    sock: tokio::net::UdpSocket,
    group: SocketAddr,
    hook: Option<PathBuf>,
    /// The applications' answers on joining hosts.
    decisions: (
        mpsc::UnboundedSender<Decided>,
        mpsc::UnboundedReceiver<Decided>,
    ),
    config: u32,
    state: PathBuf,
    /// Each bucket's packet count at the last load reading.
    last_load: Vec<u64>,
    /// The cluster's interface, addresses and MAC, for announcements.
    ifindex: u32,
    addrs: (Option<Ipv4Addr>, Option<Ipv6Addr>),
    mac: Option<Mac>,
    /// TCP survival (its own thread), when the cluster exports TCP state.
    link: Option<survival::link::Handle>,
}

impl Daemon {
    async fn run(mut self, settings: Settings, me: Addr) -> Result<(), Error> {
        let t0 = Instant::now();
        let period = settings.period;
        let every = tick_every(&settings);
        let (mut node, mut outs) = Node::new(settings, me, t0.elapsed());
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut tick = tokio::time::interval(every);
        let mut slow = tokio::time::interval(Duration::from_secs(1));
        let mut last_tick = Instant::now();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::failed(format!("SIGTERM: {e}")))?;
        let stale = loop {
            let mut stopped = false;
            for o in outs.drain(..) {
                stopped |= o == Out::Event(Event::Stopped);
                self.carry_out(&node, o).await;
            }
            if let Some(l) = &self.link {
                l.update(&node);
            }
            if stopped {
                break true;
            }
            outs = tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.datagram(&mut node, t0, &buf[..n], from).await,
                    Err(e) => {
                        warn!(%e, "cluster link receive");
                        Vec::new()
                    }
                },
                _ = tick.tick() => {
                    // Paused for more than a period (a stopped VM, a
                    // starved process): the silence we saw meanwhile is
                    // ours, not the peers'. (corosync does likewise.)
                    let gap = last_tick.elapsed();
                    last_tick = Instant::now();
                    if gap > period {
                        warn!(ms = gap.as_millis() as u64, "this host was paused: the watchdogs forgive it");
                        node.paused(t0.elapsed(), gap.saturating_sub(every));
                    }
                    // After a stall (a slow table install, a busy host),
                    // the keepalives that queued meanwhile must be heard
                    // before the watchdogs judge their senders.
                    let mut outs = Vec::new();
                    // (A bounded number: under a flood, our own keepalive
                    // must still go out on time.)
                    for _ in 0..64 {
                        let Ok((n, from)) = self.sock.try_recv_from(&mut buf) else {
                            break;
                        };
                        outs.extend(self.datagram(&mut node, t0, &buf[..n], from).await);
                    }
                    outs.extend(node.tick(t0.elapsed()));
                    outs
                }
                _ = slow.tick() => {
                    self.reread_revoked();
                    self.read_load(&mut node);
                    self.write_state(&node);
                    Vec::new()
                }
                Some((a, ok)) = self.decisions.1.recv() => {
                    info!(host = %ip_of(&a), approved = ok, "the applications decided on a join");
                    node.decide(a, ok);
                    Vec::new()
                }
                _ = term.recv() => break false,
                _ = tokio::signal::ctrl_c() => break false,
            };
        };
        info!("stopping");
        let _ = std::fs::remove_file(&self.state);
        // Serve nothing any more: the survivors take our buckets.
        let _ = self.nl.request(
            Cmd::ClusterDel,
            &[Attr::u32(ipcluster_kapi::abi::cluster::ID, self.id)],
        );
        if stale {
            return Err(Error::failed(format!(
                "configuration version {} is stale: the cluster runs another; exiting",
                self.config
            )));
        }
        Ok(())
    }

    /// One datagram from the cluster link (TCP state has its own).
    async fn datagram(
        &mut self,
        node: &mut Node,
        t0: Instant,
        d: &[u8],
        from: SocketAddr,
    ) -> Vec<Out> {
        match self.endpoint.open(d, UnixTime::now()) {
            Ok((_, Message::TcpState { .. } | Message::TcpAck(_))) => {
                debug!(%from, "TCP state on the membership's port");
                Vec::new()
            }
            Ok((sender, msg)) => node.receive(t0.elapsed(), addr_of(from.ip()), sender, msg),
            Err(why) => {
                debug!(%from, ?why, "ignored a datagram");
                Vec::new()
            }
        }
    }

    async fn carry_out(&mut self, node: &Node, o: Out) {
        match o {
            Out::Send(to, msg) => {
                let sender = node.member().unwrap_or(NO_MEMBER);
                let d = match self.endpoint.seal(sender, &msg) {
                    Ok(d) => d,
                    Err(e) => {
                        warn!(?e, "cannot encode a message");
                        return;
                    }
                };
                let dst = match to {
                    To::All => self.group,
                    To::One(a) => SocketAddr::new(ip_of(&a), self.group.port()),
                };
                if let Err(e) = self.sock.send_to(&d, dst).await {
                    debug!(%e, %dst, "cluster link send");
                }
            }
            Out::Install { member, owners } => {
                let attrs = table::set_attrs(self.id, Some(&owners), Some(member));
                match self.nl.request(Cmd::TableSet, &attrs) {
                    Ok(_) => info!(member, owners = %owner_counts(&owners), "table installed"),
                    Err(e) => warn!(%e, "installing the table"),
                }
                if let Some(l) = &self.link {
                    l.installed(member, owners, node);
                }
            }
            Out::Announce => self.announce(),
            Out::Approve(a) => self.ask_approval(a),
            Out::Event(e) => self.event(&e),
        }
    }

    /// Gratuitous ARP and unsolicited NA for the cluster address.
    fn announce(&self) {
        let Some(mac) = self.mac else {
            return; // forward mode: the forwarder answers with its own MAC
        };
        let (a4, a6) = self.addrs;
        match announce::send(self.ifindex, a4, a6, mac) {
            Ok(()) => info!(%mac, "announced the cluster address"),
            Err(e) => warn!(%e, "announcing the cluster address"),
        }
    }

    /// Runs `HOOK approve ADDRESS` on a thread of its own; the answer comes
    /// back through `decisions`. A hook that takes over ten seconds is
    /// killed, and that is a veto.
    fn ask_approval(&self, a: Addr) {
        let (Some(hook), tx) = (self.hook.clone(), self.decisions.0.clone()) else {
            return;
        };
        let ip = ip_of(&a).to_string();
        std::thread::spawn(move || {
            let ok = match std::process::Command::new(&hook)
                .args(["approve", &ip])
                .spawn()
            {
                Ok(mut child) => {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        match child.try_wait() {
                            Ok(Some(status)) => break status.success(),
                            Ok(None) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            _ => {
                                let _ = child.kill();
                                let _ = child.wait();
                                break false;
                            }
                        }
                    }
                }
                Err(err) => {
                    warn!(hook = %hook.display(), %err, "hook");
                    false
                }
            };
            let _ = tx.send((a, ok));
        });
    }

    fn event(&self, e: &Event) {
        let (name, args): (&str, Vec<String>) = match e {
            Event::BecameMaster => ("master", vec![]),
            Event::SteppedDown => ("stepped-down", vec![]),
            Event::Joined { member, master } => (
                "joined",
                vec![member.to_string(), ip_of(master).to_string()],
            ),
            Event::MemberUp(id, a) => ("member-up", vec![id.to_string(), ip_of(a).to_string()]),
            Event::MemberDown(id) => ("member-down", vec![id.to_string()]),
            Event::LostMaster => ("lost-master", vec![]),
            Event::Refused(why) => ("refused", vec![format!("{why:?}")]),
            Event::Told(why) => ("told-to-leave", vec![format!("{why:?}")]),
            Event::Stopped => ("stopped", vec![]),
        };
        info!(event = name, args = ?args, "membership");
        if let Some(h) = &self.hook {
            if let Err(err) = std::process::Command::new(h).arg(name).args(&args).spawn() {
                warn!(hook = %h.display(), %err, "hook");
            }
        }
    }

    /// A revocation takes effect within a second: the revoked host's
    /// messages are ignored from then on, so the master's watchdog removes
    /// it and it can never join again.
    fn reread_revoked(&mut self) {
        let Some(path) = &self.pki.revoked else {
            return;
        };
        let at = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if at == self.revoked_at {
            return;
        }
        match trust(&self.pki) {
            Ok(t) => {
                if self.revoked_at.is_some() {
                    info!(path = %path.display(), "revocation list reloaded");
                }
                if let Some(l) = &self.link {
                    l.trust(t.clone());
                }
                self.endpoint.set_trust(t);
                self.revoked_at = at;
            }
            Err(e) => warn!(%e, "revocation list"),
        }
    }

    /// Per-bucket load: packets since the last reading (every member sees
    /// every packet, so the master's own counters tell the whole load).
    fn read_load(&mut self, node: &mut Node) {
        let Ok(replies) = self
            .nl
            .dump(Cmd::BucketGet, &[Attr::u32(b::CLUSTER_ID, self.id)])
        else {
            return;
        };
        let mut now: Vec<(u32, u64)> = replies
            .iter()
            .filter_map(|r| Bucket::from_attrs(r).ok())
            .map(|b| (b.index, b.packets))
            .collect();
        now.sort_unstable();
        let now: Vec<u64> = now.into_iter().map(|(_, p)| p).collect();
        if self.last_load.len() == now.len() {
            let w: Vec<u64> = now
                .iter()
                .zip(&self.last_load)
                .map(|(n, l)| n.saturating_sub(*l))
                .collect();
            node.set_weights(&w);
        }
        self.last_load = now;
    }

    fn write_state(&self, node: &Node) {
        let known = node.known();
        let (tcp, rejected) = match &self.link {
            Some(l) => {
                let (tcp, r) = l.numbers();
                (Some(tcp), self.endpoint.rejected.plus(r))
            }
            None => (None, self.endpoint.rejected),
        };
        let s = State {
            cluster: self.id,
            role: if node.is_master() {
                "master"
            } else if node.master().is_some() {
                "member"
            } else {
                "joining"
            }
            .into(),
            member: node.member(),
            master: node.master().map(|a| ip_of(&a).to_string()),
            members: known.map_or_else(Vec::new, |k| {
                k.members
                    .iter()
                    .map(|(id, a)| (*id, ip_of(a).to_string()))
                    .collect()
            }),
            misses: known.map_or(0, |k| k.misses),
            period_ms: known.map_or(0, |k| k.period.as_millis() as u64),
            table_version: known.map_or(0, |k| k.version),
            owners: known.map_or_else(Vec::new, |k| k.owners.clone()),
            loss: node
                .peer_loss()
                .into_iter()
                .map(|(id, p, n)| (id, p as f64 / ipcluster_core::keepalive::ONE as f64, n))
                .collect(),
            unacked: node
                .served()
                .map_or(0, |s| s.iter().filter(|b| !**b).count()),
            acked: node.acks(),
            tcp,
            rejected: rejected.into(),
        };
        let Ok(text) = serde_json::to_string(&s) else {
            return;
        };
        if let Some(dir) = self.state.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = self.state.with_extension("tmp");
        if std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.state))
            .is_err()
        {
            debug!(path = %self.state.display(), "cannot write the state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_logs_count_buckets_per_owner() {
        assert_eq!(owner_counts(&[2, 1, 2, u16::MAX, 2]), "1:1,2:3,-:1");
        assert_eq!(owner_counts(&[]), "");
    }

    #[test]
    fn the_systemd_unit_runs_this_daemon() {
        let unit = include_str!("../systemd/ipcluster@.service");
        assert!(unit.contains("ExecStart=/usr/sbin/clusteradm daemon /etc/ipcluster/%i.toml"));
        assert!(unit.contains("Environment=IPCLUSTER_RUN_DIR=/run/ipcluster"));
        // `[protocol] realtime` (SCHED_RR) needs CAP_SYS_NICE.
        assert!(unit.contains("CAP_SYS_NICE"));
    }

    #[test]
    fn the_example_configuration_parses() {
        let c = parse(include_str!("../ipcluster.example.toml")).unwrap();
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
