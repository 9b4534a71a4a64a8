//! Cluster certificates. A cluster CA (Ed25519, self-signed) issues each
//! member an Ed25519 certificate for client authentication; the member
//! signs every membership message with its key, and whoever receives a
//! message checks the signature against the sender's certificate. The
//! master admits a joiner whose certificate chains to the CA, is listed
//! for the cluster (when a list is kept) and is not revoked. Certificates
//! are named by the SHA-256 fingerprint of their DER.
//!
//! Built from maintained crates: rcgen to make certificates, rustls-webpki
//! to verify chains and signatures, ring for keys and digests.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::shared::proto::{Nak, SIG_LEN};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ED25519,
};
use ring::signature::Ed25519KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::extensions::GeneralName;

/// A certificate and its key, as PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The PKCS#8 private key.
    pub key: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// How long a new CA is valid, in days (ten years: replacing it means
/// reissuing every member's certificate).
pub const CA_DAYS: u32 = 3650;

/// How long a new member certificate is valid by default, in days (a
/// year: a key that leaked stops working even if nobody revokes it).
pub const MEMBER_DAYS: u32 = 365;

/// Validity from an hour ago (clocks that differ a little still accept a
/// certificate issued just now) for `days` days.
fn validity(p: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(days));
}

/// A new cluster CA named `name`, valid for [`CA_DAYS`].
pub fn new_ca(name: &str) -> Result<Pem, String> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| err("key", e))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("params", e))?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut p, CA_DAYS);
    let cert = p.self_signed(&key).map_err(|e| err("certificate", e))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A new member certificate named `name`, issued by `ca`.
pub fn issue(ca: &Pem, name: &str) -> Result<Pem, String> {
    issue_at(ca, name, None)
}

/// A new member certificate named `name`, issued by `ca`, bound to the
/// member's address on the cluster link `addr` (an IP subject alternative
/// name), if given: a daemon takes it from that address only. Valid for
/// [`MEMBER_DAYS`].
pub fn issue_at(ca: &Pem, name: &str, addr: Option<IpAddr>) -> Result<Pem, String> {
    issue_for(ca, name, addr, MEMBER_DAYS)
}

/// As [`issue_at`], valid for `days` days.
pub fn issue_for(ca: &Pem, name: &str, addr: Option<IpAddr>, days: u32) -> Result<Pem, String> {
    issue_member(ca, name, addr, None, days)
}

/// The subject alternative name that names a member id.
const MEMBER_URI: &str = "urn:ipcluster:member:";

/// As [`issue_for`], naming member id `id` too, if given (a URI subject
/// alternative name, `urn:ipcluster:member:ID`): the cluster then takes
/// messages from its holder only under that id, and its master gives it
/// that id.
pub fn issue_member(
    ca: &Pem,
    name: &str,
    addr: Option<IpAddr>,
    id: Option<u16>,
    days: u32,
) -> Result<Pem, String> {
    let ca_key = KeyPair::from_pem(&ca.key).map_err(|e| err("CA key", e))?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(|e| err("CA certificate", e))?;
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| err("key", e))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("params", e))?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.subject_alt_names = addr.into_iter().map(SanType::IpAddress).collect();
    if let Some(id) = id {
        let uri = format!("{MEMBER_URI}{id}")
            .try_into()
            .map_err(|e| err("id", e))?;
        p.subject_alt_names.push(SanType::URI(uri));
    }
    validity(&mut p, days);
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(|e| err("certificate", e))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The DER of the (first) certificate in `pem`.
pub fn der(pem: &str) -> Result<Vec<u8>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| err("certificate", e))
}

/// A certificate's name: the hex SHA-256 of its DER.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The common name in a certificate's subject, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = c.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// When a certificate stops being valid, in seconds since the epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(c.validity().not_after.timestamp())
}

/// The member id certificate `der` names ([`issue_member`]), if any.
pub fn member_id(der: &[u8]) -> Option<u16> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = c.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(u) => u.strip_prefix(MEMBER_URI)?.parse().ok(),
        _ => None,
    })
}

/// The addresses a certificate binds its holder to: its IP subject
/// alternative names (none when it has none, or cannot be parsed).
pub fn addresses(der: &[u8]) -> Vec<IpAddr> {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = c.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// This host's certificate and key: it signs what it sends.
pub struct Identity {
    cert: Vec<u8>,
    key: Ed25519KeyPair,
}

impl Identity {
    /// From PEM.
    pub fn new(pem: &Pem) -> Result<Self, String> {
        let key =
            PrivatePkcs8KeyDer::from_pem_slice(pem.key.as_bytes()).map_err(|e| err("key", e))?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.secret_pkcs8_der())
            .map_err(|e| err("key", e))?;
        let cert = der(&pem.cert)?;
        let id = Identity { cert, key };
        // The key must be the certificate's.
        let probe = id.sign(b"ipcluster key check");
        let ee = CertificateDer::from(id.cert.as_slice());
        EndEntityCert::try_from(&ee)
            .and_then(|c| c.verify_signature(webpki::ring::ED25519, b"ipcluster key check", &probe))
            .map_err(|_| "the key does not belong to the certificate".to_string())?;
        Ok(id)
    }

    /// The certificate, DER.
    pub fn cert(&self) -> &[u8] {
        &self.cert
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIG_LEN] {
        let mut sig = [0u8; SIG_LEN];
        sig.copy_from_slice(self.key.sign(msg).as_ref());
        sig
    }

    /// The raw public key.
    #[cfg(test)]
    pub(crate) fn public_key(&self) -> &[u8] {
        use ring::signature::KeyPair as _;
        self.key.public_key().as_ref()
    }
}

/// What a host trusts: the cluster's CA, and which certificates it admits.
#[derive(Clone, Debug)]
pub struct Trust {
    ca: Vec<u8>,
    /// Fingerprints admitted; empty admits every certificate of the CA.
    listed: BTreeSet<String>,
    /// Fingerprints refused.
    revoked: BTreeSet<String>,
    /// Whether a certificate must name its holder's address.
    require_address: bool,
}

impl Trust {
    /// Trusts the CA in `ca_pem`.
    pub fn new(
        ca_pem: &str,
        listed: impl IntoIterator<Item = String>,
        revoked: impl IntoIterator<Item = String>,
    ) -> Result<Self, String> {
        Ok(Trust {
            ca: der(ca_pem)?,
            listed: listed.into_iter().map(|s| s.to_lowercase()).collect(),
            revoked: revoked.into_iter().map(|s| s.to_lowercase()).collect(),
            require_address: false,
        })
    }

    /// The same trust, taking messages only from certificates that name
    /// their holder's address when `yes` (`[pki] require_address`);
    /// otherwise a certificate without an address is taken from anywhere.
    pub fn requiring_address(self, yes: bool) -> Self {
        Trust {
            require_address: yes,
            ..self
        }
    }

    /// Whether a message signed by the holder of a certificate naming
    /// `bound` (its [`addresses`]) may come from `from`.
    pub fn from_allowed(&self, bound: &[IpAddr], from: IpAddr) -> bool {
        if bound.is_empty() {
            return !self.require_address;
        }
        let from = crate::kapi::addr::mapped(from);
        bound.iter().any(|&a| crate::kapi::addr::mapped(a) == from)
    }

    /// Whether a host presenting `cert` may join.
    pub fn admit(&self, cert: &[u8], now: UnixTime) -> Result<(), Nak> {
        let ca = CertificateDer::from(self.ca.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&ca).map_err(|_| Nak::BadCertificate)?;
        let ee = CertificateDer::from(cert);
        let c = EndEntityCert::try_from(&ee).map_err(|_| Nak::BadCertificate)?;
        c.verify_for_usage(
            &[webpki::ring::ED25519],
            &[anchor],
            &[],
            now,
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|_| Nak::BadCertificate)?;
        let fp = fingerprint(cert);
        if self.revoked.contains(&fp) {
            return Err(Nak::Revoked);
        }
        if !self.listed.is_empty() && !self.listed.contains(&fp) {
            return Err(Nak::NotListed);
        }
        Ok(())
    }

    /// Whether `sig` is `cert`'s signature of `msg`.
    pub fn verify(cert: &[u8], msg: &[u8], sig: &[u8]) -> bool {
        let ee = CertificateDer::from(cert);
        EndEntityCert::try_from(&ee)
            .and_then(|c| c.verify_signature(webpki::ring::ED25519, msg, sig))
            .is_ok()
    }
}

/// The fingerprints in a revocation list's text: one per line, `#`
/// starting a comment, case ignored.
pub fn parse_revoked(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .to_lowercase()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> UnixTime {
        UnixTime::now()
    }

    #[test]
    fn issued_certificates_are_admitted_and_sign() {
        let ca = new_ca("cluster 7").unwrap();
        let m1 = issue(&ca, "m1").unwrap();
        let id = Identity::new(&m1).unwrap();
        assert_eq!(id.public_key().len(), 32);
        assert_eq!(common_name(id.cert()).as_deref(), Some("m1"));
        let trust = Trust::new(&ca.cert, [], []).unwrap();
        assert_eq!(trust.admit(id.cert(), now()), Ok(()));
        let sig = id.sign(b"hello");
        assert!(Trust::verify(id.cert(), b"hello", &sig));
        assert!(!Trust::verify(id.cert(), b"hellO", &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!Trust::verify(id.cert(), b"hello", &bad));
    }

    #[test]
    fn other_cas_revoked_and_unlisted_are_refused() {
        let ca = new_ca("cluster 7").unwrap();
        let other = new_ca("someone else").unwrap();
        let m1 = der(&issue(&ca, "m1").unwrap().cert).unwrap();
        let m2 = der(&issue(&ca, "m2").unwrap().cert).unwrap();
        let stranger = der(&issue(&other, "m1").unwrap().cert).unwrap();
        let t = Trust::new(&ca.cert, [fingerprint(&m1)], [fingerprint(&m2)]).unwrap();
        assert_eq!(t.admit(&m1, now()), Ok(()));
        assert_eq!(t.admit(&m2, now()), Err(Nak::Revoked));
        assert_eq!(t.admit(&stranger, now()), Err(Nak::BadCertificate));
        assert_eq!(
            t.admit(b"not a certificate", now()),
            Err(Nak::BadCertificate)
        );
        // The CA's own certificate is no member's.
        assert_eq!(
            t.admit(&der(&ca.cert).unwrap(), now()),
            Err(Nak::BadCertificate)
        );
        let listed = Trust::new(&ca.cert, [fingerprint(&m1)], []).unwrap();
        let m3 = der(&issue(&ca, "m3").unwrap().cert).unwrap();
        assert_eq!(listed.admit(&m3, now()), Err(Nak::NotListed));
    }

    #[test]
    fn certificates_expire() {
        let ca = new_ca("c").unwrap();
        let trust = Trust::new(&ca.cert, [], []).unwrap();
        let day = |d: u64| {
            let now = std::time::SystemTime::now() + std::time::Duration::from_secs(d * 86400);
            UnixTime::since_unix_epoch(now.duration_since(std::time::UNIX_EPOCH).unwrap())
        };
        let member = der(&issue(&ca, "m").unwrap().cert).unwrap();
        assert_eq!(trust.admit(&member, day(0)), Ok(()));
        assert_eq!(trust.admit(&member, day(364)), Ok(()));
        assert_eq!(trust.admit(&member, day(366)), Err(Nak::BadCertificate));
        let short = der(&issue_for(&ca, "s", None, 2).unwrap().cert).unwrap();
        assert_eq!(trust.admit(&short, day(1)), Ok(()));
        assert_eq!(trust.admit(&short, day(3)), Err(Nak::BadCertificate));
        let t = not_after(&short).unwrap();
        let in_two_days = day(2).as_secs() as i64;
        assert!((t - in_two_days).abs() < 60, "{t} vs {in_two_days}");
        // The CA itself: ten years.
        assert_eq!(trust.admit(&member, day(3651)), Err(Nak::BadCertificate));
    }

    #[test]
    fn a_certificate_binds_its_address() {
        let ca = new_ca("c").unwrap();
        let v4: IpAddr = "192.0.2.11".parse().unwrap();
        let v6: IpAddr = "2001:db8::11".parse().unwrap();
        let bound = der(&issue_at(&ca, "m1", Some(v4)).unwrap().cert).unwrap();
        let free = der(&issue(&ca, "m2").unwrap().cert).unwrap();
        assert_eq!(addresses(&bound), [v4]);
        assert!(addresses(&free).is_empty());
        assert!(addresses(b"not a certificate").is_empty());
        let six = der(&issue_at(&ca, "m3", Some(v6)).unwrap().cert).unwrap();
        assert_eq!(addresses(&six), [v6]);
        let t = Trust::new(&ca.cert, [], []).unwrap();
        assert_eq!(t.admit(&bound, now()), Ok(()), "still a client certificate");
        let other: IpAddr = "192.0.2.12".parse().unwrap();
        assert!(t.from_allowed(&[v4], v4));
        // As a dual-stack socket reports it.
        assert!(t.from_allowed(&[v4], "::ffff:192.0.2.11".parse().unwrap()));
        assert!(!t.from_allowed(&[v4], other));
        assert!(!t.from_allowed(&[v6], v4));
        assert!(t.from_allowed(&[], other), "no address: from anywhere");
        let strict = t.requiring_address(true);
        assert!(!strict.from_allowed(&[], other));
        assert!(strict.from_allowed(&[v4], v4));
    }

    #[test]
    fn a_key_must_match_its_certificate() {
        let ca = new_ca("c").unwrap();
        let (a, b) = (issue(&ca, "a").unwrap(), issue(&ca, "b").unwrap());
        let mixed = Pem {
            cert: a.cert,
            key: b.key,
        };
        assert!(Identity::new(&mixed).is_err());
    }
}
