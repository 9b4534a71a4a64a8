//! `clusteradm status [ID]`: what the cluster's daemon on this host knows
//! (it writes it every second, see `ipcluster_daemon::state::State`): its role, the master,
//! the members, the keepalive interval and each member's loss (on the
//! master), the bucket grid and each member's share, and the datagrams it
//! ignored.

use std::collections::BTreeMap;

use crate::kapi::table::Table;
use crate::kapi::Error;

use crate::cmd::table;
use crate::output::print_json;
use ipcluster_daemon::state::{state_path, State};

/// `clusteradm status ID`.
pub(crate) fn show(id: u32, json: bool) -> Result<(), Error> {
    let path = state_path(id);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::failed(format!(
            "cluster {id}: no daemon state at {} ({e}); is `clusteradm daemon` running?",
            path.display()
        ))
    })?;
    let s: State = serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
    if json {
        return print_json(&s);
    }
    print!("{}", render(&s));
    Ok(())
}

fn render(s: &State) -> String {
    let mut out = format!(
        "cluster {} {} member {} master {}\n",
        s.cluster,
        s.role,
        s.member.map_or("-".to_string(), |m| m.to_string()),
        s.master.as_deref().unwrap_or("-"),
    );
    out.push_str(&format!(
        "keepalive every {} ms, dead after {} missed; table version {}\n",
        s.period_ms, s.misses, s.table_version
    ));
    let mut share: BTreeMap<u16, usize> = BTreeMap::new();
    for o in &s.owners {
        *share.entry(*o).or_default() += 1;
    }
    for (id, addr) in &s.members {
        let loss = s
            .loss
            .iter()
            .find(|l| l.0 == *id)
            .map(|l| format!(" loss {:.4} interval {}", l.1, l.2))
            .unwrap_or_default();
        out.push_str(&format!(
            "  member {id} {addr} buckets {}{loss}\n",
            share.get(id).copied().unwrap_or(0)
        ));
    }
    let r = &s.rejected;
    out.push_str(&format!(
        "ignored: {} malformed, {} other cluster, {} wrong port, {} untrusted, {} bad signature, \
         {} wrong address, {} replayed\n",
        r.malformed,
        r.other_cluster,
        r.wrong_port,
        r.untrusted,
        r.bad_signature,
        r.wrong_address,
        r.replayed
    ));
    if let Some(t) = &s.tcp {
        out.push_str(&format!(
            "tcp survival: {} exported ({} records from the kernel in {} messages), {} replicas ({} bytes received, {} dropped, {} ignored, \
             {} forgotten), {} bytes sent, lag {} ms, {} restored ({} adopted, {} handed off, {} finished, {} reset), \
             {} held already, {} failed\n",
            t.exported,
            t.kernel_records,
            t.kernel_messages,
            t.replicas,
            t.replica_bytes,
            t.dropped,
            t.ignored,
            t.forgotten,
            t.sent_bytes,
            t.lag_ms,
            t.restored,
            t.adopted,
            t.handed_off,
            t.finished,
            t.reset,
            t.held,
            t.failed
        ));
        if t.commit {
            out.push_str(&format!(
                "output commit: {} segments waiting, {} expired, {} messages resent, {} \
                 connections unkept (reset), {} bytes of queues held, {} bytes not yet sent \
                 replicated, {} bytes and {} connections' records of lost exports asked \
                 again, {} restored with their bytes\n",
                t.waiting,
                t.expired,
                t.resent,
                t.unkept,
                t.queued_bytes,
                t.unsent,
                t.refetched,
                t.reexported,
                t.restored_with_bytes
            ));
        }
    }
    if !s.owners.is_empty() && s.owners.len().is_power_of_two() {
        let t = Table {
            id: s.cluster,
            bucket_bits: s.owners.len().trailing_zeros(),
            member: s.member.map(u32::from),
            owners: s.owners.clone(),
            forwarder: None,
            macs: Vec::new(),
        };
        out.push_str(&table::render(&t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_renders_members_loss_and_grid() {
        let s = State {
            cluster: 1,
            role: "master".into(),
            member: Some(1),
            master: Some("192.0.2.11".into()),
            members: vec![(1, "192.0.2.11".into()), (2, "192.0.2.12".into())],
            misses: 2,
            period_ms: 50,
            table_version: 9,
            owners: vec![1, 2, 1, 2],
            loss: vec![(2, 0.01, 2)],
            ..State::default()
        };
        let r = render(&s);
        assert!(
            r.starts_with("cluster 1 master member 1 master 192.0.2.11\n"),
            "{r}"
        );
        assert!(
            r.contains("  member 2 192.0.2.12 buckets 2 loss 0.0100 interval 2\n"),
            "{r}"
        );
        assert!(r.contains("member 1: 2 buckets (local)"), "{r}");
    }
}
