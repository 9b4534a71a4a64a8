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
