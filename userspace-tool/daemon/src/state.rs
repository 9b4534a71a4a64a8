//! What the daemon tells `clusteradm status`: a JSON document per cluster,
//! rewritten every second. The types here are that document's schema; the
//! CLI reads it back with them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod histogram;

pub use histogram::Histogram;

/// Where `clusteradm status` finds the daemon of cluster `id`.
pub fn state_path(id: u32) -> PathBuf {
    let dir = std::env::var_os("IPCLUSTER_RUN_DIR").unwrap_or_else(|| "/run/ipcluster".into());
    Path::new(&dir).join(format!("{id}.json"))
}

/// What the daemon writes for `clusteradm status`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct State {
    /// The cluster id.
    pub cluster: u32,
    /// `master`, `member` or `joining`.
    pub role: String,
    /// This host's member id, once it has one.
    pub member: Option<u16>,
    /// The master's address on the cluster link, if one is known.
    pub master: Option<String>,
    /// The members (id, address on the cluster link), the master first.
    pub members: Vec<(u16, String)>,
    /// Keepalives that may go missing before a member is declared dead.
    pub misses: u8,
    /// The keepalive period.
    pub period_ms: u64,
    /// The version of the bucket table.
    pub table_version: u32,
    /// The owner of each bucket.
    pub owners: Vec<u16>,
    /// Per member: loss estimate (0..1) and interval (master only).
    pub loss: Vec<(u16, f64, u32)>,
    /// Buckets whose owner has not yet acknowledged them (master only).
    pub unacked: usize,
    /// Per member: the table version it last acknowledged (master only).
    #[serde(default)]
    pub acked: Vec<(u16, u32)>,
    /// TCP survival, when the cluster exports TCP state.
    #[serde(default)]
    pub tcp: Option<TcpStatus>,
    /// Datagrams ignored on the cluster link, by reason.
    pub rejected: RejectedJson,
    /// Bucket tables installed in the kernel since the daemon started.
    #[serde(default)]
    pub tables_installed: u64,
    /// Membership events since the daemon started, by the name the hook
    /// is told (`member-down`, `master`, `lost-master`...).
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, u64>,
    /// The kernel's per-bucket counters since the daemon started, summed
    /// per member: each count goes to the member that owned its bucket
    /// when it was read (once a second), by member id.
    #[serde(default)]
    pub traffic: Vec<MemberTraffic>,
    /// Packets this host's kernel dropped since the daemon started: their
    /// bucket was another member's, or no one's.
    #[serde(default)]
    pub dropped: u64,
    /// Packets this host's kernel handed on to their bucket's owner since
    /// the daemon started (forward mode, on the forwarder).
    #[serde(default)]
    pub forwarded: u64,
}

/// What this host's kernel counted of the buckets one member owned.
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemberTraffic {
    /// The member's id.
    pub member: u16,
    /// Packets hashed to its buckets.
    pub packets: u64,
    /// Their bytes (IP headers included).
    pub bytes: u64,
    /// New TCP flows (SYNs) among them.
    pub flows: u64,
}

/// Datagrams the daemon's endpoints ignored, by reason.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct RejectedJson {
    /// Not a well-formed ipcluster datagram.
    pub malformed: u64,
    /// For another cluster.
    pub other_cluster: u64,
    /// A message of the other port's kind (TCP state on the membership's
    /// port, or membership on the TCP state link's).
    #[serde(default)]
    pub wrong_port: u64,
    /// A signed datagram of a kind that travels only sealed.
    #[serde(default)]
    pub signed_where_sealed: u64,
    /// A signed counter outside the allowed clock skew, or older than
    /// the daemon.
    #[serde(default)]
    pub stale: u64,
    /// From a certificate the cluster does not trust.
    pub untrusted: u64,
    /// Its signature does not match its certificate.
    pub bad_signature: u64,
    /// From an address its certificate does not name (or, with
    /// `[pki] require_address`, its certificate names none).
    #[serde(default)]
    pub wrong_address: u64,
    /// Under another member id than its certificate names.
    #[serde(default)]
    pub wrong_id: u64,
    /// A key agreement meant for another address or port.
    #[serde(default)]
    pub not_for_us: u64,
    /// Its replay counter was seen already.
    pub replayed: u64,
    /// Sealed under a key this daemon does not share with its source
    /// (for instance, from before it restarted).
    #[serde(default)]
    pub unknown_session: u64,
    /// Sealed, but its tag does not match.
    #[serde(default)]
    pub bad_tag: u64,
    /// Joins and Hellos beyond what one source may have checked per
    /// second.
    #[serde(default)]
    pub rate_limited: u64,
}

/// What `clusteradm status` shows of TCP survival.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct TcpStatus {
    /// Connections of this member being replicated.
    pub exported: usize,
    /// State records our kernel exported (one or two per segment before
    /// coalescing).
    #[serde(default)]
    pub kernel_records: u64,
    /// The netlink messages that brought them.
    #[serde(default)]
    pub kernel_messages: u64,
    /// Replicas of other members' connections held here.
    pub replicas: usize,
    /// Bytes of replica records received.
    pub replica_bytes: u64,
    /// Bytes of records sent.
    pub sent_bytes: u64,
    /// Records sent (updates; Data records count one per chunk).
    #[serde(default)]
    pub sent_records: u64,
    /// Bytes of the Data records' payload among them.
    #[serde(default)]
    pub sent_payload: u64,
    /// Replicas not kept: the store was full (each time their Initial
    /// came; output commit sends it again until it is kept).
    pub dropped: u64,
    /// Replicas forgotten: of dead members' connections another member
    /// took over, or of handshakes not heard of for
    /// `survival::HANDSHAKE_AFTER`.
    #[serde(default)]
    pub forgotten: u64,
    /// Connections restored here and handed to their application.
    pub restored: u64,
    /// Restores or handoffs that failed.
    pub failed: u64,
    /// Restored connections that did not reach their application: its
    /// hand-off socket failed the checks (`ipcluster_handoff::check_receiver`),
    /// was not there, or its queue stayed full.
    #[serde(default)]
    pub handoff_failed: u64,
    /// Restored connections queued on their application's own listener
    /// (`tcp-adopt`), for a port with no hand-off socket.
    #[serde(default)]
    pub adopted: u64,
    /// Restored connections given to a hand-off socket.
    #[serde(default)]
    pub handed_off: u64,
    /// Restored connections their application had closed: the daemon
    /// closes them too, and their kernel sends what is left and the FIN.
    #[serde(default)]
    pub finished: u64,
    /// Restored connections no listener took (none for the address and
    /// port, a full accept queue): reset at once.
    #[serde(default)]
    pub reset: u64,
    /// Milliseconds from the newest record sent to its datagram (the
    /// replication lag this member adds).
    pub lag_ms: u64,
    /// The same lag, every datagram's, as a distribution.
    #[serde(default)]
    pub lag: Histogram,
    /// Records ignored: from a host that is not a member.
    pub ignored: u64,
    /// Whether the cluster has output commit (the numbers below).
    #[serde(default)]
    pub commit: bool,
    /// Output commit: segments waiting for a member to hold their state.
    #[serde(default)]
    pub waiting: usize,
    /// Output commit: segments dropped, their state not held in time.
    #[serde(default)]
    pub expired: u64,
    /// Output commit: messages sent again, unacknowledged.
    #[serde(default)]
    pub resent: u64,
    /// Output commit: connections aborted because a member had no room
    /// to keep them (`[tcp] max_conns`): they could not fail over.
    #[serde(default)]
    pub unkept: u64,
    /// Output commit: the bytes of the segments waiting (whole IP
    /// packets, as the queue holds them).
    #[serde(default)]
    pub waiting_bytes: u64,
    /// Output commit: how long each segment released waited, from the
    /// daemon reading it off the queue to its verdict (those dropped
    /// after waiting too long are `expired`).
    #[serde(default)]
    pub commit_wait: Histogram,
    /// Bytes of replicated queues held (output commit).
    #[serde(default)]
    pub queued_bytes: usize,
    /// Connections restored with their queues' bytes.
    #[serde(default)]
    pub restored_with_bytes: u64,
    /// Connections not restored: a socket of this host held them already.
    #[serde(default)]
    pub held: u64,
    /// Output commit: bytes written but not yet sent when their state
    /// went out, asked of the kernel (`tcp-unsent`) and replicated.
    #[serde(default)]
    pub unsent: u64,
    /// Output commit: bytes sent whose export was lost (the export socket
    /// overflowed), asked of the kernel again and replicated.
    #[serde(default)]
    pub refetched: u64,
    /// Output commit: connections whose records the export lost, asked
    /// of the kernel as they stood and replicated, for a held segment
    /// waiting for them.
    #[serde(default)]
    pub reexported: u64,
    /// Replicated records and restores refused, by reason.
    #[serde(default)]
    pub refused: TcpRefused,
}

/// Records and restores refused, by reason (`clusteradm -j status`,
/// `tcp.refused`).
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpRefused {
    /// Initial for a bucket the sender owns in neither the newest table
    /// nor the one before.
    pub not_owner: u64,
    /// Initial to an address that is not the cluster's.
    pub foreign_destination: u64,
    /// Initial whose id is not its 4-tuple's.
    pub bad_id: u64,
    /// Essential, Data or Closed from a member other than the replica's
    /// owner.
    pub not_replica_owner: u64,
    /// Initial from another member for a replica whose owner lives.
    pub takeover: u64,
    /// Essential or Data for a connection without a replica here.
    pub no_replica: u64,
    /// Data past `[tcp] max_conn_bytes` for its connection.
    pub conn_bytes: u64,
    /// Data past `[tcp] max_bytes` over all replicas.
    pub total_bytes: u64,
    /// Data after a gap, the connection's reorder buffer full.
    pub reorder: u64,
    /// Records waiting for a newer table now.
    pub waiting: u64,
    /// Exported connections not replicated: `[tcp] max_conns` of them
    /// are tracked already.
    pub untracked: u64,
    /// Restores refused: not to a cluster address.
    pub restore_foreign_destination: u64,
    /// Restores refused: the id is not the 4-tuple's.
    pub restore_bad_id: u64,
    /// Restores refused: the bucket is not this member's.
    pub restore_not_mine: u64,
}
