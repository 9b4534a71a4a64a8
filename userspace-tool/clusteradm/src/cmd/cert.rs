//! `clusteradm cert`: a cluster's certificate directory. It holds the CA
//! (`ca.pem`, `ca.key`), each member's certificate and key (`NAME.pem`,
//! `NAME.key`) and the revocation list (`revoked`: one fingerprint per
//! line, `#` comments). Keys are written readable by their owner only.
//! Copy `ca.pem`, `revoked` and a member's own pair to that member.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::kapi::words::{self as args, Words};
use crate::kapi::Error;
use crate::output::{columns, print_json};
use ipcluster_daemon::cert::{self, parse_revoked, Pem};

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

/// Writes `text` to a new file (never over an old one), mode `mode`.
fn create(path: &Path, text: &str, mode: u32) -> Result<(), Error> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name != "ca"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "\"{name}\": a member name is letters, digits, '-', '_' and '.', and not \"ca\""
        )))
    }
}

/// The CA of directory `dir`.
pub(crate) fn ca(dir: &Path) -> Result<Pem, Error> {
    Ok(Pem {
        cert: read(&dir.join("ca.pem"))?,
        key: read(&dir.join("ca.key"))?,
    })
}

/// `cert ca DIR [NAME]`: a new CA in a new (or empty) directory.
pub(crate) fn new_ca(dir: &Path, name: Option<&str>) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::failed(format!("{}: {e}", dir.display())))?;
    let name = name.unwrap_or("ipcluster CA");
    let pem = cert::new_ca(name).map_err(Error::failed)?;
    create(&dir.join("ca.key"), &pem.key, 0o600)?;
    create(&dir.join("ca.pem"), &pem.cert, 0o644)?;
    create(
        &dir.join("revoked"),
        "# revoked member certificates, by fingerprint\n",
        0o644,
    )?;
    let der = cert::der(&pem.cert).map_err(Error::failed)?;
    println!(
        "ca {} {}",
        dir.join("ca.pem").display(),
        cert::fingerprint(&der)
    );
    Ok(())
}

/// `cert issue DIR NAME [addr ADDR] [id ID] [days DAYS]`.
pub(crate) fn issue(dir: &Path, name: &str, words: &[String]) -> Result<(), Error> {
    const OP: &str = "cert issue";
    check_name(name)?;
    let mut w = Words::new(words);
    let mut addr: Option<IpAddr> = None;
    let mut days: Option<u32> = None;
    let mut id: Option<u16> = None;
    while let Some(kw) = w.keyword() {
        match kw {
            "addr" => w.once(kw, &mut addr, |s| {
                s.parse::<IpAddr>()
                    .map_err(|_| "expected an IPv4 or IPv6 address".to_string())
            })?,
            "id" => w.once(kw, &mut id, |s| match s.parse::<u16>() {
                Ok(i @ 1..=65534) => Ok(i),
                _ => Err("expected a member id, 1 to 65534".to_string()),
            })?,
            "days" => w.once(kw, &mut days, |s| match s.parse::<u32>() {
                Ok(d @ 1..=36500) => Ok(d),
                _ => Err("expected a number of days, 1 to 36500".to_string()),
            })?,
            _ => return Err(args::unknown(kw).context(OP)),
        }
    }
    let days = days.unwrap_or(cert::MEMBER_DAYS);
    let pem = cert::issue_member(&ca(dir)?, name, addr, id, days).map_err(Error::failed)?;
    create(&dir.join(format!("{name}.key")), &pem.key, 0o600)?;
    create(&dir.join(format!("{name}.pem")), &pem.cert, 0o644)?;
    let der = cert::der(&pem.cert).map_err(Error::failed)?;
    println!("{name} {}", cert::fingerprint(&der));
    Ok(())
}

/// One certificate in `cert list`.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    name: String,
    fingerprint: String,
    revoked: bool,
    /// When it stops being valid, seconds since the epoch.
    not_after: Option<i64>,
}

fn member_certs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::failed(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "pem") && p.file_stem() != Some("ca".as_ref())
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The certificates of directory `dir`.
pub(crate) fn entries(dir: &Path) -> Result<Vec<Entry>, Error> {
    let revoked = parse_revoked(&read(&dir.join("revoked")).unwrap_or_default());
    member_certs(dir)?
        .iter()
        .map(|p| {
            let der =
                cert::der(&read(p)?).map_err(|e| Error::failed(format!("{}: {e}", p.display())))?;
            let fingerprint = cert::fingerprint(&der);
            Ok(Entry {
                name: cert::common_name(&der).unwrap_or_default(),
                not_after: cert::not_after(&der),
                revoked: revoked.contains(&fingerprint),
                fingerprint,
            })
        })
        .collect()
}

/// `cert list DIR`.
pub(crate) fn list(dir: &Path, json: bool) -> Result<(), Error> {
    let v = entries(dir)?;
    if json {
        return print_json(&v);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|e| {
            let expired = e.not_after.is_some_and(|t| t <= now);
            let state = match (e.revoked, expired) {
                (true, _) => "revoked",
                (false, true) => "expired",
                (false, false) => "valid",
            };
            let days = e
                .not_after
                .map_or("?".into(), |t| ((t - now) / 86400).to_string());
            vec![e.name.clone(), e.fingerprint.clone(), state.into(), days]
        })
        .collect();
    print!(
        "{}",
        columns(&["name", "fingerprint", "state", "days-left"], &rows)
    );
    Ok(())
}

/// `cert revoke DIR NAME|FINGERPRINT`.
pub(crate) fn revoke(dir: &Path, which: &str) -> Result<(), Error> {
    let v = entries(dir)?;
    let e = v
        .iter()
        .find(|e| e.name == which || e.fingerprint == which.to_lowercase())
        .ok_or_else(|| {
            Error::failed(format!("{which}: no such certificate in {}", dir.display()))
        })?;
    if e.revoked {
        return Ok(());
    }
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("revoked"))
        .and_then(|mut f| writeln!(f, "{} # {}", e.fingerprint, e.name))
        .map_err(|err| Error::failed(format!("{}/revoked: {err}", dir.display())))?;
    println!("revoked {} {}", e.name, e.fingerprint);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_through_its_life() {
        let dir = std::env::temp_dir().join(format!("clusteradm-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        new_ca(&dir, Some("c7")).unwrap();
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        issue(&dir, "m1", &words(&["addr", "192.0.2.11", "id", "7"])).unwrap();
        let m1 = cert::der(&std::fs::read_to_string(dir.join("m1.pem")).unwrap()).unwrap();
        assert_eq!(cert::member_id(&m1), Some(7));
        issue(&dir, "m2", &[]).unwrap();
        assert!(issue(&dir, "m1", &[]).is_err(), "never overwrites");
        assert_eq!(issue(&dir, "../x", &[]).unwrap_err().exit_code(), 2);
        assert_eq!(issue(&dir, "ca", &[]).unwrap_err().exit_code(), 2);
        for bad in [
            &["addr"][..],
            &["addr", "x"],
            &["port", "1"],
            &["addr", "::1", "addr", "::2"],
            &["id", "0"],
            &["id", "65535"],
        ] {
            assert_eq!(
                issue(&dir, "m3", &words(bad)).unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
        assert!(!dir.join("m3.pem").exists());
        let key_mode = fs::metadata(dir.join("m1.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
        let v = entries(&dir).unwrap();
        assert_eq!(
            v.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        assert!(v.iter().all(|e| !e.revoked));
        revoke(&dir, "m2").unwrap();
        revoke(&dir, "m2").unwrap();
        let v = entries(&dir).unwrap();
        assert!(!v[0].revoked && v[1].revoked);
        let revoked = parse_revoked(&read(&dir.join("revoked")).unwrap());
        assert_eq!(revoked, [v[1].fingerprint.clone()]);
        assert!(revoke(&dir, "m9").is_err());
        // The directory's CA admits m1 and refuses the revoked m2.
        let trust = cert::Trust::new(&ca(&dir).unwrap().cert, [], revoked).unwrap();
        let der = |n: &str| cert::der(&read(&dir.join(format!("{n}.pem"))).unwrap()).unwrap();
        let now = rustls_pki_types::UnixTime::now();
        assert_eq!(trust.admit(&der("m1"), now), Ok(()));
        assert_eq!(
            cert::addresses(&der("m1")),
            ["192.0.2.11".parse::<IpAddr>().unwrap()]
        );
        assert!(cert::addresses(&der("m2")).is_empty());
        assert!(trust.admit(&der("m2"), now).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
