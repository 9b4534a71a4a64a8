//! The metrics endpoint (`[metrics] listen`): the numbers the daemon
//! writes for `clusteradm status` ([`State`]), in the OpenMetrics text
//! format Prometheus scrapes, every series labelled with the cluster id.
//! The daemon renders them when it writes its state, once a second, and
//! [`http`] serves the latest rendering; nothing here counts anything of
//! its own.

mod histogram;
pub(crate) mod http;

use std::borrow::Cow;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::state::{State, TcpStatus};
use histogram::Distribution;

/// The OpenMetrics text of `s`.
pub(crate) fn render(s: &State) -> String {
    let cluster = (Cow::Borrowed("cluster"), Cow::Owned(s.cluster.to_string()));
    let mut r = Registry::with_prefix_and_labels("ipcluster", std::iter::once(cluster));
    membership(&mut r, s);
    traffic(&mut r, s);
    by_label(
        &mut r,
        "rejected_datagrams",
        "Datagrams ignored on the cluster link",
        "reason",
        &s.rejected,
    );
    if let Some(t) = &s.tcp {
        tcp(&mut r, t);
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &r);
    text
}

/// Role, members, tables, events.
fn membership(r: &mut Registry, s: &State) {
    gauge(
        r,
        "master",
        "1 if this host is the master",
        i64::from(s.role == "master"),
    );
    gauge(
        r,
        "members",
        "Members in this host's view, the master included",
        s.members.len(),
    );
    gauge(
        r,
        "table_version",
        "Version of the bucket table in force",
        s.table_version,
    );
    counter(
        r,
        "tables_installed",
        "Bucket tables installed in the kernel",
        s.tables_installed,
    );
    gauge(
        r,
        "unacked_buckets",
        "Buckets their owner has not acknowledged (master)",
        s.unacked,
    );
    let period = s.period_ms as f64 / 1000.0;
    gauge_unit(
        r,
        "keepalive_period",
        "Keepalive period",
        Unit::Seconds,
        period,
    );
    gauge(
        r,
        "keepalive_misses",
        "Keepalives that may go missing before a death",
        s.misses,
    );
    let events: Family<Vec<(String, String)>, Counter> = Family::default();
    for (name, n) in &s.events {
        events
            .get_or_create(&vec![("event".to_owned(), name.clone())])
            .inc_by(*n);
    }
    r.register(
        "membership_events",
        "Membership events, as the hook is told of them",
        events,
    );
    per_member(r, s);
}

/// Bucket counts, and (master) each member's loss and keepalive interval.
fn per_member(r: &mut Registry, s: &State) {
    let label = |id: u16| vec![("member".to_owned(), id.to_string())];
    let buckets: Family<Vec<(String, String)>, GaugeI> = Family::default();
    let mut counts = std::collections::BTreeMap::new();
    for &o in s.owners.iter().filter(|&&o| o != crate::kapi::abi::UNOWNED) {
        *counts.entry(o).or_insert(0i64) += 1;
    }
    for (id, n) in counts {
        buckets.get_or_create(&label(id)).set(n);
    }
    r.register(
        "member_buckets",
        "Buckets each member owns in the table in force",
        buckets,
    );
    let loss: Family<Vec<(String, String)>, GaugeF> = Family::default();
    let interval: Family<Vec<(String, String)>, GaugeF> = Family::default();
    for &(id, p, n) in &s.loss {
        loss.get_or_create(&label(id)).set(p);
        let secs = f64::from(n) * s.period_ms as f64 / 1000.0;
        interval.get_or_create(&label(id)).set(secs);
    }
    r.register_with_unit(
        "member_loss",
        "Estimated keepalive loss (master)",
        Unit::Other("ratio".into()),
        loss,
    );
    r.register_with_unit(
        "member_keepalive_interval",
        "Silence after which the master declares the member dead",
        Unit::Seconds,
        interval,
    );
}

/// The kernel's per-bucket counters, summed per member, and what this
/// host dropped and handed on.
fn traffic(r: &mut Registry, s: &State) {
    let label = |id: u16| vec![("member".to_owned(), id.to_string())];
    let packets: Family<Vec<(String, String)>, Counter> = Family::default();
    let bytes: Family<Vec<(String, String)>, Counter> = Family::default();
    let flows: Family<Vec<(String, String)>, Counter> = Family::default();
    for m in &s.traffic {
        packets.get_or_create(&label(m.member)).inc_by(m.packets);
        bytes.get_or_create(&label(m.member)).inc_by(m.bytes);
        flows.get_or_create(&label(m.member)).inc_by(m.flows);
    }
    r.register(
        "member_packets",
        "Packets to the buckets each member owned, as this host counted them",
        packets,
    );
    r.register_with_unit("member", "Bytes of those packets", Unit::Bytes, bytes);
    r.register(
        "member_flows",
        "New TCP flows (SYNs) among those packets",
        flows,
    );
    counter(
        r,
        "dropped_packets",
        "Packets this host dropped: another member's bucket, or no one's",
        s.dropped,
    );
    counter(
        r,
        "forwarded_packets",
        "Packets this host handed on to their owner (forward mode)",
        s.forwarded,
    );
}

/// TCP survival's numbers.
fn tcp(r: &mut Registry, t: &TcpStatus) {
    gauge(
        r,
        "tcp_exported_connections",
        "This member's connections being replicated",
        t.exported,
    );
    gauge(
        r,
        "tcp_replicas",
        "Replicas of other members' connections held here",
        t.replicas,
    );
    counter(
        r,
        "tcp_kernel_records",
        "State records the kernel exported",
        t.kernel_records,
    );
    counter(
        r,
        "tcp_kernel_messages",
        "Netlink messages that brought them",
        t.kernel_messages,
    );
    counter_unit(
        r,
        "tcp_received",
        "Replica records received",
        Unit::Bytes,
        t.replica_bytes,
    );
    counter_unit(r, "tcp_sent", "Records sent", Unit::Bytes, t.sent_bytes);
    counter(r, "tcp_sent_records", "Records sent", t.sent_records);
    counter_unit(
        r,
        "tcp_sent_payload",
        "Data records' payload sent",
        Unit::Bytes,
        t.sent_payload,
    );
    counter(
        r,
        "tcp_replicas_dropped",
        "Replicas not kept: the store was full",
        t.dropped,
    );
    counter(
        r,
        "tcp_replicas_forgotten",
        "Replicas forgotten",
        t.forgotten,
    );
    counter(
        r,
        "tcp_ignored_records",
        "Records from a host that is not a member",
        t.ignored,
    );
    let lag = t.lag_ms as f64 / 1000.0;
    gauge_unit(
        r,
        "tcp_replication_lag",
        "From the newest record to its datagram",
        Unit::Seconds,
        lag,
    );
    r.register_with_unit(
        "tcp_replication_lag_distribution",
        "Every datagram's replication lag",
        Unit::Seconds,
        Distribution(t.lag.clone()),
    );
    restores(r, t);
    by_label(
        r,
        "tcp_refused",
        "Replicated records and restores refused",
        "reason",
        &t.refused,
    );
    if t.commit {
        commit(r, t);
    }
}

/// What became of the connections restored here.
fn restores(r: &mut Registry, t: &TcpStatus) {
    counter(r, "tcp_restored", "Connections restored here", t.restored);
    counter(
        r,
        "tcp_restored_with_bytes",
        "Restored with their queues' bytes",
        t.restored_with_bytes,
    );
    counter(
        r,
        "tcp_restore_failures",
        "Restores or handoffs that failed",
        t.failed,
    );
    counter(
        r,
        "tcp_adopted",
        "Restored onto the application's listener",
        t.adopted,
    );
    counter(
        r,
        "tcp_handed_off",
        "Restored and given to a hand-off socket",
        t.handed_off,
    );
    counter(
        r,
        "tcp_finished",
        "Restored closed by their application: what is left and the FIN sent",
        t.finished,
    );
    counter(
        r,
        "tcp_handoff_failures",
        "Restored but not handed off",
        t.handoff_failed,
    );
    counter(
        r,
        "tcp_reset",
        "Restored, taken by no listener, reset",
        t.reset,
    );
    counter(
        r,
        "tcp_not_restored_held",
        "Not restored: a socket here held them",
        t.held,
    );
}

/// Output commit's numbers.
fn commit(r: &mut Registry, t: &TcpStatus) {
    gauge(
        r,
        "commit_held_segments",
        "Segments waiting for a member to hold their state",
        t.waiting,
    );
    let held = ConstGauge::new(i64::try_from(t.waiting_bytes).unwrap_or(i64::MAX));
    r.register_with_unit(
        "commit_held",
        "Bytes of the segments waiting",
        Unit::Bytes,
        held,
    );
    r.register_with_unit(
        "commit_wait",
        "How long each segment let go had waited",
        Unit::Seconds,
        Distribution(t.commit_wait.clone()),
    );
    counter(
        r,
        "commit_expired_segments",
        "Segments dropped, their state not held in time",
        t.expired,
    );
    counter(
        r,
        "commit_resent_messages",
        "Messages sent again, unacknowledged",
        t.resent,
    );
    counter(
        r,
        "commit_unkept_connections",
        "Connections aborted: a member had no room to keep them",
        t.unkept,
    );
    let queued = ConstGauge::new(i64::try_from(t.queued_bytes).unwrap_or(i64::MAX));
    r.register_with_unit(
        "commit_queued",
        "Replicated queues held",
        Unit::Bytes,
        queued,
    );
    counter_unit(
        r,
        "commit_unsent",
        "Bytes written, not yet sent, replicated",
        Unit::Bytes,
        t.unsent,
    );
    counter_unit(
        r,
        "commit_refetched",
        "Bytes sent whose export was lost, asked of the kernel again",
        Unit::Bytes,
        t.refetched,
    );
    counter(
        r,
        "commit_reexported_connections",
        "Connections whose lost records were asked of the kernel again",
        t.reexported,
    );
}

/// A gauge of an integer, in a family.
type GaugeI = prometheus_client::metrics::gauge::Gauge<i64>;
/// A gauge of a real, in a family.
type GaugeF = prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>;

/// A gauge of an integer value.
fn gauge(r: &mut Registry, name: &str, help: &str, v: impl TryInto<i64>) {
    let v = v.try_into().unwrap_or(i64::MAX);
    r.register(name, help, ConstGauge::new(v));
}

/// A gauge in `unit`.
fn gauge_unit(r: &mut Registry, name: &str, help: &str, unit: Unit, v: f64) {
    r.register_with_unit(name, help, unit, ConstGauge::new(v));
}

/// A counter (`NAME_total`).
fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    r.register(name, help, ConstCounter::new(v));
}

/// A counter in `unit` (`NAME_UNIT_total`).
fn counter_unit(r: &mut Registry, name: &str, help: &str, unit: Unit, v: u64) {
    r.register_with_unit(name, help, unit, ConstCounter::new(v));
}

/// A counter per field of `counts`, a struct of counts as the status file
/// has it, labelled `label` = the field's name: each field the status
/// gains shows here too.
fn by_label(r: &mut Registry, name: &str, help: &str, label: &str, counts: &impl serde::Serialize) {
    let family: Family<Vec<(String, String)>, Counter> = Family::default();
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(counts) {
        for (field, v) in fields {
            if let Some(n) = v.as_u64() {
                family
                    .get_or_create(&vec![(label.to_owned(), field)])
                    .inc_by(n);
            }
        }
    }
    r.register(name, help, family);
}

#[cfg(test)]
mod tests;
