//! The `ip`-style keyword parser: `keyword value` pairs and bare flags after
//! the object and verb, and the value parsers the keywords share (the CLI's
//! and the daemon's configuration's alike).
//!
//! Every error here is a usage error (exit 2).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::shared::hash::{self as core_hash, L2tp};
use crate::shared::siphash::Key;

use crate::abi::{self, Hash, Mode};
use crate::error::Error;

/// A cursor over keyword arguments.
#[derive(Debug)]
pub struct Words<'a> {
    words: &'a [String],
    pos: usize,
}

impl<'a> Words<'a> {
    /// Keywords `words`, as given on the command line.
    pub fn new(words: &'a [String]) -> Self {
        Words { words, pos: 0 }
    }

    /// The next keyword, or `None` at the end.
    pub fn keyword(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w)
    }

    /// The value that must follow keyword `kw`.
    pub fn value(&mut self, kw: &str) -> Result<&'a str, Error> {
        self.keyword()
            .ok_or_else(|| Error::usage(format!("missing value after \"{kw}\"")))
    }

    /// The value of `kw`, parsed by `parse`.
    pub fn parse<T>(
        &mut self,
        kw: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, Error> {
        let v = self.value(kw)?;
        parse(v).map_err(|e| Error::usage(format!("invalid \"{kw}\" value \"{v}\": {e}")))
    }

    /// The value of `kw`, parsed and stored in `slot`, which must be empty.
    pub fn once<T>(
        &mut self,
        kw: &str,
        slot: &mut Option<T>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<(), Error> {
        if slot.is_some() {
            return Err(Error::usage(format!("\"{kw}\" given twice")));
        }
        *slot = Some(self.parse(kw, parse)?);
        Ok(())
    }

    /// The next word if it is a number (an optional value), else nothing.
    pub fn number(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos)?;
        w.starts_with(|c: char| c.is_ascii_digit()).then(|| {
            self.pos += 1;
            w.as_str()
        })
    }
}

/// The error for a keyword the command does not know.
pub fn unknown(kw: &str) -> Error {
    Error::usage(format!("unknown keyword \"{kw}\""))
}

/// The error for a keyword the command needs.
pub fn missing(kw: &str) -> Error {
    Error::usage(format!("\"{kw}\" is required"))
}

fn number<T: FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| e.to_string())
}

/// A cluster id: 1 to 2^32 - 1.
pub fn cluster_id(s: &str) -> Result<u32, String> {
    match number::<u32>(s)? {
        0 => Err("cluster ids start at 1".into()),
        n => Ok(n),
    }
}

/// A member id: 0 to 65534.
pub fn member_id(s: &str) -> Result<u16, String> {
    number::<u16>(s)
        .ok()
        .filter(|&m| m <= abi::MAX_MEMBER_ID)
        .ok_or_else(|| format!("a member id is 0 to {}", abi::MAX_MEMBER_ID))
}

/// A netfilter queue number.
pub fn queue(s: &str) -> Result<u16, String> {
    number(s).map_err(|_| "a netfilter queue is 0 to 65535".to_string())
}

/// A TCP or UDP port.
pub fn port(s: &str) -> Result<u16, String> {
    number(s)
}

/// An IPv4 address.
pub fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| "not an IPv4 address".into())
}

/// An IPv6 address.
pub fn ipv6(s: &str) -> Result<Ipv6Addr, String> {
    s.parse().map_err(|_| "not an IPv6 address".into())
}

/// An interface name (at most 15 bytes, no '/' or whitespace).
pub fn ifname(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() >= libc::IF_NAMESIZE {
        return Err(format!(
            "an interface name is 1 to {} bytes",
            libc::IF_NAMESIZE - 1
        ));
    }
    if s.contains(|c: char| c == '/' || c.is_whitespace()) {
        return Err("an interface name has no '/' or spaces".into());
    }
    Ok(s.to_string())
}

/// `multicast`, `unicast` or `forward`.
pub fn mode(s: &str) -> Result<Mode, String> {
    Mode::ALL
        .into_iter()
        .find(|m| m.name() == s)
        .ok_or_else(|| "expected multicast, unicast or forward".into())
}

/// `keyed` or `seed`.
pub fn hash(s: &str) -> Result<Hash, String> {
    Hash::ALL
        .into_iter()
        .find(|h| h.name() == s)
        .ok_or_else(|| "expected keyed or seed".into())
}

/// `affinity`'s value, which `w` has just passed: `none`, `source`, or
/// `network` with up to two prefix lengths, the IPv4 clients' (default
/// 24) and then the IPv6 clients' (default 64).
pub fn affinity(w: &mut Words<'_>, kw: &str) -> Result<core_hash::Affinity, Error> {
    use core_hash::Affinity as A;
    let v = w.value(kw)?;
    let bad = |v: &str, e: &str| Error::usage(format!("invalid \"{kw}\" value \"{v}\": {e}"));
    let kind = abi::Affinity::ALL
        .into_iter()
        .find(|a| a.name() == v)
        .ok_or_else(|| bad(v, "expected none, source or network"))?;
    Ok(match kind {
        abi::Affinity::None => A::None,
        abi::Affinity::Source => A::Source,
        abi::Affinity::Network => {
            let mut text = String::from("network");
            let mut prefix = |max: u8, default: u8, family: &str| match w.number() {
                None => Ok(default),
                Some(p) => {
                    text = format!("{text} {p}");
                    p.parse::<u8>()
                        .ok()
                        .filter(|n| (1..=max).contains(n))
                        .ok_or_else(|| bad(&text, &format!("an {family} prefix is 1 to {max}")))
                }
            };
            A::Network {
                v4: prefix(32, core_hash::DEFAULT_PREFIX4, "IPv4")?,
                v6: prefix(128, core_hash::DEFAULT_PREFIX6, "IPv6")?,
            }
        }
    })
}

/// An affinity as `affinity` reads it back.
pub fn affinity_text(a: core_hash::Affinity) -> String {
    match a {
        core_hash::Affinity::None => "none".into(),
        core_hash::Affinity::Source => "source".into(),
        core_hash::Affinity::Network { v4, v6 } => format!("network {v4} {v6}"),
    }
}

/// A bucket count (a power of two up to 4096), as bits.
pub fn bucket_bits(s: &str) -> Result<u32, String> {
    parse_buckets(s).map(u32::trailing_zeros)
}

/// A drain time: milliseconds, or with a unit (`1500ms`, `60s`), up to an
/// hour.
pub fn drain(s: &str) -> Result<u32, String> {
    let (n, scale) = match (s.strip_suffix("ms"), s.strip_suffix('s')) {
        (Some(n), _) => (n, 1),
        (None, Some(n)) => (n, 1000),
        (None, None) => (s, 1),
    };
    n.parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&ms| ms <= crate::abi::MAX_DRAIN_MS)
        .ok_or_else(|| "expected a time up to 3600s (e.g. 60s, 500ms; 0: no drain)".into())
}

/// A drain time as `drain` reads it back.
pub fn drain_text(ms: u32) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A 128-bit seed: 32 hex digits.
pub fn seed(s: &str) -> Result<[u8; 16], String> {
    parse_key(s).map(|k| k.0)
}

/// A comma-separated list of member ids.
pub fn member_list(s: &str) -> Result<Vec<u16>, String> {
    s.split(',')
        .map(|m| member_id(m.trim()).map_err(|e| format!("\"{m}\": {e}")))
        .collect()
}

/// An IP protocol: `tcp`, `udp`, `icmp` or its number.
pub fn parse_proto(s: &str) -> Result<u8, String> {
    match s {
        "tcp" => Ok(core_hash::IPPROTO_TCP),
        "udp" => Ok(core_hash::IPPROTO_UDP),
        "icmp" => Ok(core_hash::IPPROTO_ICMP),
        n => n.parse().map_err(|_| format!("unknown protocol {n:?}")),
    }
}

/// L2TP tunnel and session ids, as `TUNNEL:SESSION`.
pub fn parse_l2tp(s: &str) -> Result<L2tp, String> {
    let (t, sess) = s.split_once(':').ok_or("expected TUNNEL:SESSION")?;
    Ok(L2tp {
        tunnel: t.parse().map_err(|e| format!("tunnel: {e}"))?,
        session: sess.parse().map_err(|e| format!("session: {e}"))?,
    })
}

/// A bucket count: a power of two up to the core's largest table.
pub fn parse_buckets(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !n.is_power_of_two() || n.trailing_zeros() > core_hash::MAX_BUCKET_BITS {
        return Err(format!(
            "must be a power of two from 1 to {}",
            1u32 << core_hash::MAX_BUCKET_BITS
        ));
    }
    Ok(n)
}

/// A keyed-hash key: 32 hex digits, `0x` allowed in front.
pub fn parse_key(s: &str) -> Result<Key, String> {
    let s = s.trim_start_matches("0x");
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a key is 32 hex digits".into());
    }
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| format!("{e}"))?;
    }
    Ok(Key(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn affinity_words() {
        use core_hash::Affinity as A;
        let one = |s: &str| {
            let w = words(s);
            let mut k = Words::new(&w);
            k.keyword();
            let r = affinity(&mut k, "affinity");
            (r, k.keyword().map(String::from))
        };
        assert_eq!(one("affinity none"), (Ok(A::None), None));
        assert_eq!(
            one("affinity source dev"),
            (Ok(A::Source), Some("dev".into()))
        );
        assert_eq!(
            one("affinity network buckets"),
            (Ok(core_hash::DEFAULT_NETWORK), Some("buckets".into()))
        );
        assert_eq!(
            one("affinity network 16 member"),
            (Ok(A::Network { v4: 16, v6: 64 }), Some("member".into()))
        );
        assert_eq!(
            one("affinity network 32 128").0,
            Ok(A::Network { v4: 32, v6: 128 })
        );
        for (s, want) in [
            ("affinity", "missing value after \"affinity\""),
            ("affinity sticky", "expected none, source or network"),
            (
                "affinity network 33",
                "\"network 33\": an IPv4 prefix is 1 to 32",
            ),
            ("affinity network 0", "an IPv4 prefix is 1 to 32"),
            (
                "affinity network 24 129",
                "\"network 24 129\": an IPv6 prefix is 1 to 128",
            ),
        ] {
            let e = one(s).0.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{s}");
            assert!(e.to_string().contains(want), "{s}: {e}");
        }
        for a in [A::None, A::Source, A::Network { v4: 20, v6: 48 }] {
            let text = format!("affinity {}", affinity_text(a));
            assert_eq!(one(&text).0, Ok(a), "{text}");
        }
    }

    #[test]
    fn keywords_and_values() {
        let w = words("dev eth0 buckets 256 forwarded");
        let mut k = Words::new(&w);
        assert_eq!(k.keyword(), Some("dev"));
        assert_eq!(k.value("dev"), Ok("eth0"));
        assert_eq!(k.keyword(), Some("buckets"));
        assert_eq!(k.parse("buckets", bucket_bits), Ok(8));
        assert_eq!(k.keyword(), Some("forwarded"));
        assert_eq!(k.keyword(), None);
    }

    #[test]
    fn missing_values_and_bad_values_are_usage_errors() {
        let w = words("dev");
        let mut k = Words::new(&w);
        k.keyword();
        assert_eq!(
            k.value("dev"),
            Err(Error::usage("missing value after \"dev\""))
        );
        let w = words("1000");
        let e = Words::new(&w).parse("buckets", bucket_bits).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with("invalid \"buckets\" value \"1000\""),
            "{e}"
        );
        assert_eq!(unknown("frob").to_string(), "unknown keyword \"frob\"");
    }

    #[test]
    fn once_refuses_repeats() {
        let w = words("1 2");
        let mut k = Words::new(&w);
        let mut slot = None;
        k.once("member", &mut slot, member_id).unwrap();
        assert_eq!(slot, Some(1));
        assert!(k
            .once("member", &mut slot, member_id)
            .unwrap_err()
            .to_string()
            .contains("given twice"));
    }

    #[test]
    fn value_parsers() {
        assert_eq!(cluster_id("7"), Ok(7));
        assert!(cluster_id("0").is_err());
        assert!(cluster_id("x").is_err());
        assert_eq!(member_id("65534"), Ok(65534));
        assert_eq!(drain("60s"), Ok(60_000));
        assert_eq!(drain("1500ms"), Ok(1500));
        assert_eq!(drain("250"), Ok(250));
        assert_eq!(drain("0"), Ok(0));
        assert_eq!(drain("3600s"), Ok(3_600_000));
        assert!(drain("3601s").is_err());
        assert!(drain("9999999999s").is_err());
        assert!(drain("s").is_err());
        assert!(drain("-1s").is_err());
        assert_eq!(drain_text(60_000), "60s");
        assert_eq!(drain_text(1500), "1500ms");
        assert!(member_id("65535").is_err());
        assert!(member_id("-1").is_err());
        assert_eq!(ipv4("10.0.0.1"), Ok(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(ipv4("10.0.0.256").is_err());
        assert!(ipv4("::1").is_err());
        assert_eq!(ipv6("2001:db8::1"), Ok("2001:db8::1".parse().unwrap()));
        assert!(ipv6("10.0.0.1").is_err());
        assert_eq!(mode("unicast"), Ok(Mode::Unicast));
        assert!(mode("broadcast").is_err());
        assert_eq!(hash("seed"), Ok(Hash::Seed));
        assert!(hash("md5").is_err());
        assert_eq!(bucket_bits("1"), Ok(0));
        assert_eq!(bucket_bits("4096"), Ok(12));
        assert!(bucket_bits("8192").is_err());
        assert_eq!(seed("000102030405060708090a0b0c0d0e0f").unwrap()[15], 15);
        assert!(seed("00").is_err());
        assert_eq!(member_list("1,2, 3"), Ok(vec![1, 2, 3]));
        assert!(member_list("1,,2").is_err());
        assert_eq!(ifname("eth0").as_deref(), Ok("eth0"));
        assert!(ifname("").is_err());
        assert!(ifname("a-very-long-ifname").is_err());
        assert!(ifname("a/b").is_err());
        assert_eq!(port("443"), Ok(443));
        assert!(port("65536").is_err());
    }

    #[test]
    fn keys_and_bucket_counts_are_checked() {
        assert!(parse_key("000102030405060708090a0b0c0d0e0f").is_ok());
        assert!(parse_key("0001").is_err());
        assert!(parse_key("zz0102030405060708090a0b0c0d0e0f").is_err());
        assert!(parse_key("aé0102030405060708090a0b0c0d0e0").is_err());
        assert_eq!(parse_buckets("1024"), Ok(1024));
        assert!(parse_buckets("1000").is_err());
        assert!(parse_buckets("8192").is_err());
    }
}
