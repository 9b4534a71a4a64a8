//! clusteradm as a user runs it: output, JSON and exit codes.

use std::process::Command;

fn clusteradm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clusteradm"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn hash_agrees_with_the_core_vectors() {
    // Vector 0 of ipcluster_core::hash::VECTORS: seed hash, 0x0c5.
    let (rc, out, _) = clusteradm(&[
        "hash",
        "--src",
        "10.0.0.2",
        "--dst",
        "192.168.0.1",
        "--sport",
        "40000",
        "--dport",
        "80",
    ]);
    assert_eq!(rc, 0);
    assert_eq!(out.trim(), "bucket 197 of 1024 (seed hash)");
    // Vector 6: keyed, 0x23c.
    let (rc, out, _) = clusteradm(&[
        "-j",
        "hash",
        "--src",
        "10.0.0.2",
        "--dst",
        "192.168.0.1",
        "--sport",
        "40000",
        "--dport",
        "80",
        "--key",
        "000102030405060708090a0b0c0d0e0f",
    ]);
    assert_eq!(rc, 0);
    assert_eq!(
        out.trim(),
        r#"{"bucket":572,"buckets":1024,"mode":"keyed"}"#
    );
}

#[test]
fn hash_takes_affinity_as_the_core_vectors_do() {
    // Vectors 10 and 16: source affinity, seed 0x0a2 and keyed 0x1d8,
    // whatever the protocol and ports.
    let flow = |extra: &[&str]| {
        let mut v = vec!["hash", "--src", "10.0.0.2", "--dst", "192.168.0.1"];
        v.extend(extra);
        clusteradm(&v)
    };
    for ports in [["--sport", "40000"], ["--sport", "5201"]] {
        let (rc, out, _) = flow(&[&ports[..], &["--affinity", "source"]].concat());
        assert_eq!(rc, 0);
        assert_eq!(
            out.trim(),
            "bucket 162 of 1024 (seed hash, affinity source)"
        );
    }
    let (rc, out, _) = flow(&[
        "--proto",
        "udp",
        "--affinity",
        "source",
        "--key",
        "000102030405060708090a0b0c0d0e0f",
    ]);
    assert_eq!(rc, 0);
    assert_eq!(
        out.trim(),
        "bucket 472 of 1024 (keyed hash, affinity source)"
    );
    // Vector 13: 10.0.0.77 in /24, 0x0a0; "network" alone is /24 and /64.
    let (rc, out, _) = clusteradm(&[
        "-j",
        "hash",
        "--src",
        "10.0.0.77",
        "--dst",
        "192.168.0.1",
        "--affinity",
        "network",
    ]);
    assert_eq!(rc, 0);
    assert_eq!(
        out.trim(),
        r#"{"bucket":160,"buckets":1024,"mode":"seed","affinity":"network 24 64"}"#
    );
    let (rc, _, err) = flow(&["--affinity", "network 33"]);
    assert_eq!(rc, 2);
    assert!(err.contains("an IPv4 prefix is 1 to 32"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_bad_values_say_why() {
    let (rc, _, err) = clusteradm(&["hash", "--src", "10.0.0.2"]);
    assert_eq!(rc, 2, "{err}");
    let (rc, _, err) = clusteradm(&[
        "hash",
        "--src",
        "10.0.0.2",
        "--dst",
        "10.0.0.1",
        "--buckets",
        "1000",
    ]);
    assert_eq!(rc, 2);
    assert!(err.contains("power of two"), "{err}");
    let (rc, _, err) = clusteradm(&["hash", "--src", "10.0.0.2", "--dst", "2001:db8::1"]);
    assert_eq!(rc, 1);
    assert!(err.contains("one family"), "{err}");
}

/// The ipcluster module is loaded on this host (as in the VM tests): the
/// "not loaded" checks do not apply.
fn module_loaded() -> bool {
    std::path::Path::new("/sys/module/ipcluster").exists()
}

#[test]
fn without_the_module_every_kernel_command_fails_clearly() {
    if module_loaded() {
        eprintln!("ipcluster is loaded here; skipping");
        return;
    }
    const NOT_LOADED: &str =
        "clusteradm: ipcluster module not loaded (no generic netlink family \"ipcluster\")\n";
    for args in [
        &["cluster", "show"][..],
        &["-j", "cluster", "show"],
        &["cluster", "show", "1"],
        &["cluster", "del", "1"],
        &["cluster", "add", "id", "1", "dev", "lo", "addr", "10.0.0.1"],
        &["table", "show", "1"],
        &["table", "set", "1", "spread", "1,2"],
        &["bucket", "show", "1", "nonzero"],
        &["which", "1", "10.0.0.2", "sport", "40000"],
    ] {
        let (rc, out, err) = clusteradm(args);
        assert_eq!(rc, 1, "{args:?}: {err}");
        assert_eq!(err, NOT_LOADED, "{args:?}");
        assert_eq!(out, "", "{args:?}");
    }
}

#[test]
fn keyword_errors_exit_2_before_any_netlink() {
    for (args, want) in [
        (
            &["cluster", "add", "dev", "lo", "frob", "1"][..],
            "cluster add: unknown keyword \"frob\"",
        ),
        (
            &["cluster", "add", "dev"],
            "cluster add: missing value after \"dev\"",
        ),
        (
            &["cluster", "add", "addr", "10.0.0.1"],
            "cluster add: \"dev\" is required",
        ),
        (
            &["cluster", "add", "dev", "lo", "addr", "10.0.0.999"],
            "invalid \"addr\" value \"10.0.0.999\": not an IPv4 address",
        ),
        (
            &["cluster", "add", "dev", "lo", "addr6", "10.0.0.1"],
            "not an IPv6 address",
        ),
        (
            &["cluster", "add", "dev", "lo", "mac", "01:02"],
            "invalid \"mac\" value",
        ),
        (
            &["cluster", "add", "dev", "lo", "mode", "bcast"],
            "expected multicast, unicast or forward",
        ),
        (
            &["cluster", "add", "dev", "lo", "hash", "md5"],
            "expected keyed or seed",
        ),
        (
            &["cluster", "add", "dev", "lo", "seed", "abc"],
            "32 hex digits",
        ),
        (
            &["cluster", "add", "dev", "lo", "buckets", "100"],
            "power of two",
        ),
        (
            &["cluster", "add", "dev", "lo", "member", "65535"],
            "member id is 0 to 65534",
        ),
        (
            &["table", "set", "1"],
            "table set: give one of spread, owners or file",
        ),
        (
            &["table", "set", "1", "spread", "1", "file", "-"],
            "only one of",
        ),
        (&["table", "set", "1", "owners", "9-2=1"], "backwards"),
        (
            &["bucket", "show", "1", "zero"],
            "bucket show: unknown keyword \"zero\"",
        ),
        (
            &["which", "1", "10.0.0.2", "dst", "2001:db8::1"],
            "one family",
        ),
        (
            &["which", "1", "10.0.0.2", "proto"],
            "missing value after \"proto\"",
        ),
    ] {
        let (rc, out, err) = clusteradm(args);
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(err.contains("--help"), "{args:?}: a hint: {err}");
        assert_eq!(out, "");
    }
}

#[test]
fn positional_errors_exit_2() {
    for args in [
        &["cluster", "del"][..],
        &["cluster", "del", "0"],
        &["cluster", "show", "x"],
        &["table", "show"],
        &["which", "1", "nowhere"],
        &["frob"],
        &["cluster", "frob"],
    ] {
        let (rc, _, err) = clusteradm(args);
        assert_eq!(rc, 2, "{args:?}: {err}");
    }
}

#[test]
fn missing_devices_fail_with_exit_1() {
    let (rc, _, err) = clusteradm(&["cluster", "add", "dev", "nosuchdev0", "addr", "10.0.0.1"]);
    assert_eq!(rc, 1);
    assert_eq!(
        err,
        "clusteradm: cluster add: dev \"nosuchdev0\": no such device\n"
    );
    let (rc, _, err) = clusteradm(&["cluster", "add", "dev", "lo", "fwd-dev", "nosuchdev0"]);
    assert_eq!(rc, 1);
    assert!(err.contains("no such device"), "{err}");
}

#[test]
fn help_on_every_level() {
    for (args, want) in [
        (&["--help"][..], "Exit status"),
        (&["cluster", "--help"], "Synopsis"),
        (&["cluster", "add", "--help"], "Default MAC"),
        (&["cluster", "del", "--help"], "cluster del 1"),
        (&["cluster", "show", "--help"], "JSON: an array"),
        (&["table", "--help"], "Synopsis"),
        (&["table", "set", "--help"], "spread M1,M2"),
        (&["table", "show", "--help"], "32 buckets per row"),
        (&["bucket", "--help"], "nonzero"),
        (&["bucket", "show", "--help"], "nonzero"),
        (&["which", "--help"], "forwarded"),
        (&["hash", "--help"], "--src"),
    ] {
        let (rc, out, err) = clusteradm(args);
        assert_eq!(rc, 0, "{args:?}: {err}");
        assert!(out.contains(want), "{args:?}: {out}");
    }
}
