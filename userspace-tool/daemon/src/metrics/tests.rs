use std::io::{Read, Write};
use std::time::Duration;

use super::http::{serve, Published};
use super::*;
use crate::state::{Histogram, MemberTraffic, RejectedJson, TcpStatus};

/// A histogram of waits that counted `ms`.
fn waits(ms: &[u64]) -> Histogram {
    let mut h = Histogram::default();
    for &m in ms {
        h.observe(Duration::from_millis(m));
    }
    h
}

/// A master of three members, one of which died, with TCP survival and
/// output commit.
fn state() -> State {
    State {
        cluster: 7,
        role: "master".into(),
        member: Some(1),
        members: vec![(1, "10.0.0.1".into()), (2, "10.0.0.2".into())],
        misses: 3,
        period_ms: 50,
        table_version: 4,
        owners: vec![1, 2, 2, crate::kapi::abi::UNOWNED],
        loss: vec![(2, 0.25, 4)],
        rejected: RejectedJson {
            bad_signature: 5,
            ..Default::default()
        },
        tcp: Some(TcpStatus {
            replicas: 9,
            restored: 2,
            adopted: 1,
            commit: true,
            waiting: 3,
            waiting_bytes: 4500,
            commit_wait: waits(&[0, 30, 40, 20_000]),
            lag_ms: 1500,
            lag: waits(&[1500]),
            ..Default::default()
        }),
        tables_installed: 4,
        events: [("member-down".to_owned(), 1), ("master".to_owned(), 1)].into(),
        traffic: vec![
            MemberTraffic {
                member: 1,
                packets: 10,
                bytes: 1000,
                flows: 2,
            },
            MemberTraffic {
                member: 3,
                packets: 5,
                ..Default::default()
            },
        ],
        dropped: 5,
        ..Default::default()
    }
}

/// The sample lines of `text` (name, labels and value), without comments.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn the_status_numbers_render_with_prometheus_names_types_and_the_cluster_label() {
    let text = render(&state());
    let want = [
        "ipcluster_master{cluster=\"7\"} 1",
        "ipcluster_members{cluster=\"7\"} 2",
        "ipcluster_tables_installed_total{cluster=\"7\"} 4",
        "ipcluster_keepalive_period_seconds{cluster=\"7\"} 0.05",
        "ipcluster_membership_events_total{cluster=\"7\",event=\"member-down\"} 1",
        "ipcluster_member_buckets{cluster=\"7\",member=\"2\"} 2",
        "ipcluster_member_loss_ratio{cluster=\"7\",member=\"2\"} 0.25",
        "ipcluster_member_keepalive_interval_seconds{cluster=\"7\",member=\"2\"} 0.2",
        "ipcluster_rejected_datagrams_total{cluster=\"7\",reason=\"bad_signature\"} 5",
        "ipcluster_rejected_datagrams_total{cluster=\"7\",reason=\"replayed\"} 0",
        "ipcluster_tcp_replicas{cluster=\"7\"} 9",
        "ipcluster_tcp_restored_total{cluster=\"7\"} 2",
        "ipcluster_tcp_adopted_total{cluster=\"7\"} 1",
        "ipcluster_tcp_replication_lag_seconds{cluster=\"7\"} 1.5",
        "ipcluster_tcp_refused_total{cluster=\"7\",reason=\"not_owner\"} 0",
        "ipcluster_commit_held_segments{cluster=\"7\"} 3",
        "ipcluster_member_packets_total{cluster=\"7\",member=\"1\"} 10",
        "ipcluster_member_packets_total{cluster=\"7\",member=\"3\"} 5",
        "ipcluster_member_bytes_total{cluster=\"7\",member=\"1\"} 1000",
        "ipcluster_member_flows_total{cluster=\"7\",member=\"1\"} 2",
        "ipcluster_dropped_packets_total{cluster=\"7\"} 5",
        "ipcluster_forwarded_packets_total{cluster=\"7\"} 0",
        "ipcluster_commit_held_bytes{cluster=\"7\"} 4500",
        "ipcluster_commit_wait_seconds_count{cluster=\"7\"} 4",
        "ipcluster_commit_wait_seconds_sum{cluster=\"7\"} 20.07",
        "ipcluster_commit_wait_seconds_bucket{cluster=\"7\",le=\"0.001\"} 1",
        "ipcluster_commit_wait_seconds_bucket{cluster=\"7\",le=\"0.05\"} 3",
        "ipcluster_commit_wait_seconds_bucket{cluster=\"7\",le=\"10.0\"} 3",
        "ipcluster_commit_wait_seconds_bucket{cluster=\"7\",le=\"+Inf\"} 4",
        "ipcluster_tcp_replication_lag_distribution_seconds_bucket{cluster=\"7\",le=\"1.0\"} 0",
        "ipcluster_tcp_replication_lag_distribution_seconds_bucket{cluster=\"7\",le=\"2.5\"} 1",
    ];
    let lines = samples(&text);
    for w in want {
        assert!(lines.contains(&w), "{w} missing from\n{text}");
    }
    for (name, kind) in [
        ("ipcluster_master", "gauge"),
        ("ipcluster_tables_installed", "counter"),
        ("ipcluster_rejected_datagrams", "counter"),
        ("ipcluster_tcp_replication_lag_seconds", "gauge"),
        ("ipcluster_member_packets", "counter"),
        ("ipcluster_dropped_packets", "counter"),
        ("ipcluster_commit_held_bytes", "gauge"),
        ("ipcluster_commit_wait_seconds", "histogram"),
        (
            "ipcluster_tcp_replication_lag_distribution_seconds",
            "histogram",
        ),
    ] {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")),
            "{name}\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

/// Every sample line is `name{labels} value` in the exposition format,
/// every series has the cluster label, and no name repeats a label set.
#[test]
fn every_sample_is_well_formed_and_labelled() {
    let text = render(&state());
    let mut seen = std::collections::HashSet::new();
    for l in samples(&text) {
        let (series, value) = l.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
        let (name, labels) = series.split_once('{').unwrap();
        assert!(name.starts_with("ipcluster_"), "{l}");
        assert!(
            name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
            "{l}"
        );
        assert!(
            labels.starts_with("cluster=\"7\"") && labels.ends_with('}'),
            "{l}"
        );
        assert!(seen.insert(series.to_owned()), "{l} twice");
    }
    assert!(seen.len() > 40, "{}", seen.len());
}

/// Each histogram's buckets count up to its `+Inf` bucket, which is its
/// count, as the format requires.
#[test]
fn every_histograms_buckets_are_cumulative_up_to_its_count() {
    let text = render(&state());
    let histograms: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
        .collect();
    assert_eq!(histograms.len(), 2, "{text}");
    for h in histograms {
        let value = |l: &str| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap();
        let buckets: Vec<&str> = samples(&text)
            .into_iter()
            .filter(|l| l.starts_with(&format!("{h}_bucket{{")))
            .collect();
        let counts: Vec<u64> = buckets.iter().map(|l| value(l)).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{h}: {counts:?}");
        let last = buckets.last().unwrap();
        assert!(last.contains("le=\"+Inf\""), "{last}");
        let count = samples(&text)
            .into_iter()
            .find(|l| l.starts_with(&format!("{h}_count{{")))
            .map(value);
        assert_eq!(count, Some(value(last)), "{h}");
        assert_eq!(buckets.len(), 14, "{h}: 1 ms .. 10 s, and +Inf");
    }
}

#[test]
fn a_member_without_tcp_survival_shows_none_of_its_series() {
    let s = State {
        role: "member".into(),
        ..Default::default()
    };
    let text = render(&s);
    assert!(samples(&text).contains(&"ipcluster_master{cluster=\"0\"} 0"));
    assert!(samples(&text).contains(&"ipcluster_dropped_packets_total{cluster=\"0\"} 0"));
    assert!(!text.contains("ipcluster_tcp_"), "{text}");
    assert!(!text.contains("ipcluster_commit_"), "{text}");
}

/// One request to `at`, the whole answer.
fn get(at: std::net::SocketAddr, request: &str) -> String {
    let mut c = std::net::TcpStream::connect(at).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_endpoint_serves_the_latest_rendering_on_get_metrics_only() {
    let p = Published::default();
    let at = serve("127.0.0.1:0".parse().unwrap(), p.clone()).unwrap();
    p.set(render(&state()));
    let a = get(at, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
    assert!(
        a.contains("Content-Type: application/openmetrics-text"),
        "{a}"
    );
    assert!(a.ends_with("# EOF\n"), "{a}");
    let (head, body) = a.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{a}"
    );
    p.set(render(&State::default()));
    let a = get(at, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(a.contains("ipcluster_members{cluster=\"0\"} 0"), "{a}");
    assert!(get(at, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    let a = get(at, "POST /metrics HTTP/1.1\r\n\r\n");
    assert!(
        a.starts_with("HTTP/1.1 405") && a.contains("Allow: GET"),
        "{a}"
    );
}
