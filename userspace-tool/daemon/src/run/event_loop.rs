//! The membership's loop, on the daemon's main thread: it runs the
//! protocol (`membership::node`) on the cluster link, a UDP multicast
//! group with every datagram signed and checked (`wire`), installs each
//! table the master decides in the kernel, feeds the kernel's per-bucket
//! counters back as load and sums them per member (`traffic`), and writes
//! its view of the cluster for `clusteradm status` every second (and
//! renders it for the metrics endpoint, when there is one).

mod hooks;
mod traffic;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::kapi::abi::{bucket as b, cluster as c, Cmd, UNOWNED};
use crate::kapi::attr::Attr;
use crate::kapi::bucket::Bucket;
use crate::kapi::mac::Mac;
use crate::kapi::{table, Client, Error};
use crate::shared::keepalive;
use crate::shared::proto::NO_MEMBER;
use rustls_pki_types::UnixTime;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::Kernel;
use crate::addr::{addr_of, ip_of, Addr};
use crate::announce;
use crate::config::{Config, PkiConf};
use crate::membership::node::{Event, Message, Node, Out, Settings, To};
use crate::metrics::{self, http::Published};
use crate::state::{state_path, State};
use crate::survival::link;
use crate::wire::{Endpoint, Sent, MAX_DATAGRAM};

/// Runs the membership of the cluster `kernel` holds on the cluster link
/// `sock`, signing with `endpoint`, until it stops; publishes its numbers
/// for the metrics endpoint, if there is one.
pub(super) fn run(
    cfg: Config,
    kernel: Kernel,
    endpoint: Endpoint<Message>,
    link: Option<link::Handle>,
    sock: std::net::UdpSocket,
    settings: Settings,
    published: Option<Published>,
) -> Result<(), Error> {
    let me = addr_of(IpAddr::V4(cfg.link.addr));
    let buckets = kernel.buckets();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("runtime: {e}")))?;
    rt.block_on(async {
        let sock = tokio::net::UdpSocket::from_std(sock)
            .map_err(|e| Error::failed(format!("cluster link: {e}")))?;
        info!(cluster = kernel.id, link = %cfg.link.addr, group = %cfg.link.group, "started");
        let decisions = mpsc::unbounded_channel();
        let hooks = match cfg.protocol.hook {
            Some(h) => Some(
                hooks::Hooks::new(h, decisions.0.clone())
                    .map_err(|e| Error::failed(format!("hook thread: {e}")))?,
            ),
            None => None,
        };
        Daemon {
            id: kernel.id,
            nl: kernel.nl,
            endpoint,
            pki: cfg.pki,
            revoked_at: None,
            sock,
            group: SocketAddr::from((cfg.link.group, cfg.link.port)),
            hooks,
            decisions,
            config: cfg.protocol.config,
            state: state_path(kernel.id),
            traffic: traffic::Traffic::new(buckets),
            ifindex: kernel.req.ifindex(),
            addrs: kernel.req.addrs(),
            mac: kernel.req.mac(),
            link,
            published,
            tables_installed: 0,
            events: COUNTED.iter().map(|e| ((*e).to_owned(), 0)).collect(),
        }
        .run(settings, me)
        .await
    })
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
            UNOWNED => format!("-:{c}"),
            o => format!("{o}:{c}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The membership events counted from zero from the start, so that a
/// scraper sees their first occurrence as an increase; others show from
/// their first.
const COUNTED: [&str; 5] = [
    "master",
    "stepped-down",
    "member-up",
    "member-down",
    "lost-master",
];

/// The applications' answer on a joining host: may it join?
type Decided = (Addr, bool);

struct Daemon {
    id: u32,
    nl: Client,
    endpoint: Endpoint<Message>,
    pki: PkiConf,
    /// When the revocation list last changed, as last read.
    revoked_at: Option<SystemTime>,
    sock: tokio::net::UdpSocket,
    group: SocketAddr,
    /// The applications' hook, when configured.
    hooks: Option<hooks::Hooks>,
    /// The applications' answers on joining hosts.
    decisions: (
        mpsc::UnboundedSender<Decided>,
        mpsc::UnboundedReceiver<Decided>,
    ),
    config: u32,
    state: PathBuf,
    /// The kernel's per-bucket counters: the last reading, and the sums.
    traffic: traffic::Traffic,
    /// The cluster's interface, addresses and MAC, for announcements.
    ifindex: u32,
    addrs: (Option<Ipv4Addr>, Option<Ipv6Addr>),
    mac: Option<Mac>,
    /// TCP survival (its own thread), when the cluster exports TCP state.
    link: Option<link::Handle>,
    /// Where the metrics endpoint takes the numbers, when configured.
    published: Option<Published>,
    /// Bucket tables installed in the kernel.
    tables_installed: u64,
    /// Membership events, by name.
    events: std::collections::BTreeMap<String, u64>,
}

/// The loop's clocks: the protocol's time (since `t0`), its tick, the
/// once-a-second housekeeping, and when the last tick came.
struct Clock {
    t0: Instant,
    period: Duration,
    every: Duration,
    tick: tokio::time::Interval,
    slow: tokio::time::Interval,
    last_tick: Instant,
}

impl Clock {
    fn new(s: &Settings) -> Clock {
        let every = tick_every(s);
        Clock {
            t0: Instant::now(),
            period: s.period,
            every,
            tick: tokio::time::interval(every),
            slow: tokio::time::interval(Duration::from_secs(1)),
            last_tick: Instant::now(),
        }
    }

    /// The protocol's time.
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// At a tick: if the loop was paused for more than a period (a stopped
    /// VM, a starved process), the silence `node` saw meanwhile is ours,
    /// not the peers', and its watchdogs forgive it (as corosync's do).
    fn forgive_pause(&mut self, node: &mut Node) {
        let gap = self.last_tick.elapsed();
        self.last_tick = Instant::now();
        if gap > self.period {
            warn!(
                ms = gap.as_millis() as u64,
                "this host was paused: the watchdogs forgive it"
            );
            node.paused(self.now(), gap.saturating_sub(self.every));
        }
    }
}

impl Daemon {
    async fn run(mut self, settings: Settings, me: Addr) -> Result<(), Error> {
        let mut clock = Clock::new(&settings);
        let (mut node, mut outs) = Node::new(settings, me, clock.now());
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::failed(format!("SIGTERM: {e}")))?;
        let stale = loop {
            if self.carry_out_all(&node, &mut outs).await {
                break true;
            }
            outs = tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.datagram(&mut node, clock.t0, &buf[..n], from).await,
                    Err(e) => {
                        warn!(%e, "cluster link receive");
                        Vec::new()
                    }
                },
                _ = clock.tick.tick() => self.tick(&mut node, &mut clock, &mut buf).await,
                _ = clock.slow.tick() => {
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
        self.stop(stale)
    }

    /// Carries out what the node asked for, and tells TCP survival the
    /// view it leaves; whether the node stopped for good.
    async fn carry_out_all(&mut self, node: &Node, outs: &mut Vec<Out>) -> bool {
        let mut stopped = false;
        for o in outs.drain(..) {
            stopped |= o == Out::Event(Event::Stopped);
            self.carry_out(node, o).await;
        }
        if let Some(l) = &self.link {
            l.update(node);
        }
        stopped
    }

    /// One tick of the protocol's timers.
    async fn tick(&mut self, node: &mut Node, clock: &mut Clock, buf: &mut [u8]) -> Vec<Out> {
        clock.forgive_pause(node);
        let mut hellos = Vec::new();
        self.endpoint.poll(&mut hellos);
        self.send_all(hellos).await;
        // After a stall (a slow table install, a busy host), the
        // keepalives that queued meanwhile must be heard before the
        // watchdogs judge their senders; a bounded number of them, so
        // that under a flood our own keepalive still goes out on time.
        let mut outs = Vec::new();
        for _ in 0..64 {
            let Ok((n, from)) = self.sock.try_recv_from(buf) else {
                break;
            };
            outs.extend(self.datagram(node, clock.t0, &buf[..n], from).await);
        }
        outs.extend(node.tick(clock.now()));
        outs
    }

    /// Leaves the cluster: the state file goes, and the kernel cluster with
    /// it, so that this host serves nothing and the survivors take our
    /// buckets. An error if the cluster runs a newer configuration.
    fn stop(&mut self, stale: bool) -> Result<(), Error> {
        info!("stopping");
        let _ = std::fs::remove_file(&self.state);
        let _ = self
            .nl
            .request(Cmd::ClusterDel, &[Attr::u32(c::ID, self.id)]);
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
        let mut answers = Vec::new();
        let r = self.endpoint.open(d, from, UnixTime::now(), &mut answers);
        self.send_all(answers).await;
        match r {
            Ok(Some((sender, msg))) => node.receive(t0.elapsed(), addr_of(from.ip()), sender, msg),
            Ok(None) => Vec::new(),
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
                let dst = match to {
                    To::All => self.group,
                    To::One(a) => SocketAddr::new(ip_of(&a), self.group.port()),
                };
                let mut sent = Vec::new();
                if let Err(e) = self.endpoint.seal(sender, dst, &msg, &mut sent) {
                    warn!(?e, "cannot encode a message");
                }
                self.send_all(sent).await;
            }
            Out::Install { member, owners } => {
                let attrs = table::set_attrs(self.id, Some(&owners), Some(member));
                match self.nl.request(Cmd::TableSet, &attrs) {
                    Ok(_) => {
                        self.tables_installed += 1;
                        info!(member, owners = %owner_counts(&owners), "table installed");
                    }
                    Err(e) => warn!(%e, "installing the table"),
                }
                if let Some(l) = &self.link {
                    l.installed(member, owners, node);
                }
            }
            Out::Announce => self.announce(),
            Out::Approve(a) => {
                if let Some(h) = &self.hooks {
                    h.approve(a);
                }
            }
            Out::Event(e) => {
                let (name, args) = hooks::describe(&e);
                *self.events.entry(name.to_owned()).or_default() += 1;
                info!(event = name, args = ?args, "membership");
                if let Some(h) = &self.hooks {
                    h.event(&e);
                }
            }
        }
    }

    /// Datagrams the endpoint made.
    async fn send_all(&self, sent: Vec<Sent>) {
        for s in sent {
            if let Err(e) = self.sock.send_to(&s.d, s.to).await {
                debug!(%e, to = %s.to, "cluster link send");
            }
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
        match super::trust(&self.pki) {
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
        let buckets: Vec<Bucket> = replies
            .iter()
            .filter_map(|r| Bucket::from_attrs(r).ok())
            .collect();
        if let Some(w) = self.traffic.read(&buckets) {
            node.set_weights(&w);
        }
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
                .map(|(id, p, n)| (id, p as f64 / keepalive::ONE as f64, n))
                .collect(),
            unacked: node
                .served()
                .map_or(0, |s| s.iter().filter(|b| !**b).count()),
            acked: node.acks(),
            tcp,
            rejected: rejected.to_json(),
            tables_installed: self.tables_installed,
            events: self.events.clone(),
            traffic: self.traffic.members(),
            dropped: self.traffic.dropped(),
            forwarded: self.traffic.forwarded(),
        };
        if let Some(p) = &self.published {
            p.set(metrics::render(&s));
        }
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
    fn the_events_counted_from_zero_are_named_as_the_hook_names_them() {
        let a = addr_of(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for e in [
            Event::BecameMaster,
            Event::SteppedDown,
            Event::MemberUp(2, a),
            Event::MemberDown(2),
            Event::LostMaster,
        ] {
            assert!(COUNTED.contains(&hooks::describe(&e).0), "{e:?}");
        }
    }
}
