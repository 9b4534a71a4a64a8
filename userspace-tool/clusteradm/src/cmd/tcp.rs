//! `clusteradm tcp monitor`: the TCP failover state the kernel exports for
//! clusters made with `tcp-export` (the `tcp` multicast group), one line
//! per record.

use std::net::IpAddr;

use crate::kapi::abi::{tcp_state as t, Cmd};
use crate::kapi::addr::unmapped as ip;
use crate::kapi::tcp::records;
use crate::kapi::words::{self as args, Words};
use crate::kapi::{Client, Error};
use crate::shared::tcpstate::{Dir, Essential, Fins, Flags, Record};
use serde::Serialize;

fn sock(a: &[u8; 16], port: u16, v6: bool) -> String {
    match ip(a, v6) {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The flags of `e`, then the FINs it counts (`fin-in`: the client's
/// received; `fin-out`: ours queued).
fn flag_names(e: &Essential) -> Vec<&'static str> {
    let fins = [(Fins::IN, "fin-in"), (Fins::OUT, "fin-out")]
        .into_iter()
        .filter(|&(b, _)| e.fins.has(b));
    let f = e.flags;
    [
        (Flags::NODELAY, "nodelay"),
        (Flags::NO_OPTIONS, "no-options"),
        (Flags::WSCALE_OK, "wscale"),
        (Flags::TS_OK, "timestamps"),
        (Flags::SACK_OK, "sack"),
        (Flags::HANDSHAKE, "handshake"),
    ]
    .into_iter()
    .filter(|&(b, _)| f.has(b))
    .chain(fins)
    .map(|(_, n)| n)
    .collect()
}

/// One record as text.
pub(crate) fn render(cluster: u32, r: &Record) -> String {
    match r {
        Record::Initial(i) => format!(
            "cluster {cluster} conn {:016x} {} > {} mss {} options {}",
            i.id,
            sock(&i.src, i.sport, i.v6),
            sock(&i.dst, i.dport, i.v6),
            i.mss,
            i.opts_len
        ),
        Record::Essential(e) => format!(
            "cluster {cluster} conn {:016x} gen {} snd_nxt {} snd_wl1 {} snd_wl2 {} snd_wnd {} \
             rcv_nxt {} rcv_wnd {} wscale {}/{} ts_recent {} ts_val {} copied {} written {} \
             flags {}",
            e.id,
            e.gen,
            e.snd_nxt,
            e.snd_wl1,
            e.snd_wl2,
            e.snd_wnd,
            e.rcv_nxt,
            e.rcv_wnd,
            e.snd_wscale,
            e.rcv_wscale,
            e.ts_recent,
            e.ts_val,
            e.copied,
            e.written,
            flag_names(e).join(",")
        ),
        Record::Closed(c) => format!("cluster {cluster} conn {:016x} closed", c.id),
        Record::Data(d) => format!(
            "cluster {cluster} conn {:016x} {} seq {} len {}",
            d.id,
            dir_name(d.dir),
            d.seq,
            d.len
        ),
    }
}

fn dir_name(d: Dir) -> &'static str {
    match d {
        Dir::In => "in",
        Dir::Out => "out",
    }
}

/// One record as JSON.
#[derive(Serialize)]
struct RecordJson {
    cluster: u32,
    kind: &'static str,
    conn: String,
    #[serde(flatten)]
    fields: serde_json::Value,
}

fn json(cluster: u32, r: &Record) -> RecordJson {
    let (kind, fields) = match r {
        Record::Initial(i) => (
            "initial",
            serde_json::json!({
                "src": ip(&i.src, i.v6).to_string(), "sport": i.sport,
                "dst": ip(&i.dst, i.v6).to_string(), "dport": i.dport,
                "mss": i.mss, "options": i.opts_len,
            }),
        ),
        Record::Essential(e) => (
            "essential",
            serde_json::json!({
                "gen": e.gen, "snd_nxt": e.snd_nxt, "snd_wl1": e.snd_wl1,
                "snd_wl2": e.snd_wl2, "snd_wnd": e.snd_wnd, "rcv_nxt": e.rcv_nxt,
                "rcv_wnd": e.rcv_wnd, "snd_wscale": e.snd_wscale,
                "rcv_wscale": e.rcv_wscale, "ts_recent": e.ts_recent,
                "ts_val": e.ts_val, "copied": e.copied, "written": e.written,
                "flags": flag_names(e),
            }),
        ),
        Record::Closed(_) => ("closed", serde_json::json!({})),
        Record::Data(d) => (
            "data",
            serde_json::json!({ "dir": dir_name(d.dir), "seq": d.seq, "len": d.len }),
        ),
    };
    RecordJson {
        cluster,
        kind,
        conn: format!("{:016x}", r.id()),
        fields,
    }
}

/// `tcp monitor [ID] [count N]`: prints records as they come; with `count`,
/// exits after N.
pub(crate) fn monitor(words: &[String], json_out: bool) -> Result<(), Error> {
    const OP: &str = "tcp monitor";
    let mut w = Words::new(words);
    let (mut id, mut count): (Option<u32>, Option<u64>) = (None, None);
    while let Some(kw) = w.keyword() {
        match kw {
            "id" => w.once(kw, &mut id, args::cluster_id)?,
            "count" => w.once(kw, &mut count, |s| {
                s.parse::<u64>()
                    .map_err(|_| "expected a number".to_string())
            })?,
            _ => return Err(args::unknown(kw).context(OP)),
        }
    }
    let mut nl = Client::connect()?;
    nl.subscribe("tcp").map_err(|e| e.context(OP))?;
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let (cmd, attrs) = nl.next_event()?;
        if cmd != Cmd::TcpStateNtf as u8 {
            continue;
        }
        let cluster = attrs.u32(t::CLUSTER_ID)?.unwrap_or(0);
        if id.is_some_and(|i| i != cluster) {
            continue;
        }
        for r in records(attrs.get(t::RECORDS).unwrap_or_default()) {
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string(&json(cluster, &r)).unwrap_or_default()
                );
            } else {
                println!("{}", render(cluster, &r));
            }
            seen += 1;
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tcpstate::{Closed, Essential};

    #[test]
    fn records_render() {
        let i = Record::Initial(crate::shared::fixtures::initial(0xabc, 40000));
        let e = Record::Essential(Essential {
            id: 0xabc,
            gen: 3,
            flags: Flags(Flags::TS_REQ | Flags::TS_OK | Flags::SACK_OK),
            snd_nxt: 10,
            rcv_nxt: 20,
            ..Essential::default()
        });
        let c = Record::Closed(Closed { id: 0xabc });
        // Decoding is the kernel API's (its own test); this one renders.
        let v = [i, e, c];
        assert_eq!(
            render(1, &v[0]),
            "cluster 1 conn 0000000000000abc 192.0.2.2:40000 > 192.0.2.100:7000 mss 1448 options 12"
        );
        assert!(render(1, &v[1]).contains("snd_nxt 10 "));
        assert!(render(1, &v[1]).ends_with("flags timestamps,sack"));
        assert_eq!(render(1, &v[2]), "cluster 1 conn 0000000000000abc closed");
        let j = serde_json::to_string(&json(1, &v[0])).unwrap();
        assert!(
            j.contains(r#""kind":"initial""#) && j.contains(r#""src":"192.0.2.2""#),
            "{j}"
        );
    }
}
