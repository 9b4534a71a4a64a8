//! Cluster MACs: parsing, printing, and the default each mode gets.
//!
//! Every member must arrive at the same MAC, so the defaults depend only on
//! what `cluster add` was given, never on the host:
//!
//! - `multicast`: with an IPv4 address a.b.c.d, the IPv4 multicast mapping
//!   `01:00:5e` + its low 23 bits; else with an IPv6 address, the IPv6
//!   multicast mapping `33:33` + its low 32 bits; else with an id, the
//!   locally administered multicast `03:00:5e` + the id's low 24 bits.
//! - `unicast`: the locally administered unicast `02:bf` + the cluster id
//!   (32 bits, big-endian); without an id, `02:bf` + the IPv4 address (as
//!   Windows NLB does), else `02:bf` + the IPv6 address's low 32 bits.
//! - `forward`: none (the master's own MAC receives).
//!
//! When nothing to derive from was given, no MAC is sent and the kernel
//! decides.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::abi::Mode;

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `xx:xx:xx:xx:xx:xx` (or with `-`).
    pub fn parse(s: &str) -> Result<Mac, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err("a MAC is six hex bytes, like 02:00:5e:00:00:01".into());
        }
        let mut m = [0u8; 6];
        for (b, p) in m.iter_mut().zip(parts) {
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("\"{p}\" is not a hex byte"));
            }
            *b = u8::from_str_radix(p, 16).map_err(|e| e.to_string())?;
        }
        Ok(Mac(m))
    }

    /// Group (multicast) bit set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// The default cluster MAC for `mode` (see the module documentation).
pub fn default_mac(
    mode: Mode,
    id: Option<u32>,
    addr4: Option<Ipv4Addr>,
    addr6: Option<Ipv6Addr>,
) -> Option<Mac> {
    let low32 = |a: Ipv6Addr| -> [u8; 4] {
        let o = a.octets();
        [o[12], o[13], o[14], o[15]]
    };
    match mode {
        Mode::Multicast => {
            if let Some(a) = addr4 {
                let o = a.octets();
                Some(Mac([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
            } else if let Some(a) = addr6 {
                let l = low32(a);
                Some(Mac([0x33, 0x33, l[0], l[1], l[2], l[3]]))
            } else {
                id.map(|id| {
                    let b = id.to_be_bytes();
                    Mac([0x03, 0x00, 0x5e, b[1], b[2], b[3]])
                })
            }
        }
        Mode::Unicast => {
            let tail = id
                .map(u32::to_be_bytes)
                .or(addr4.map(|a| a.octets()))
                .or(addr6.map(low32))?;
            Some(Mac([0x02, 0xbf, tail[0], tail[1], tail[2], tail[3]]))
        }
        Mode::Forward => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let m = Mac::parse("01:00:5E:28:0:1").unwrap();
        assert_eq!(m, Mac([1, 0, 0x5e, 0x28, 0, 1]));
        assert_eq!(m.to_string(), "01:00:5e:28:00:01");
        assert_eq!(Mac::parse("02-00-00-00-00-01").unwrap().0[0], 2);
        for bad in [
            "",
            "01:00:5e:28:00",
            "01:00:5e:28:00:01:02",
            "01:00:5e:28:00:zz",
            "001:0:0:0:0:0",
            "1::0:0:0:0",
        ] {
            assert!(Mac::parse(bad).is_err(), "{bad}");
        }
        assert!(m.is_multicast());
        assert!(!Mac([2, 0, 0, 0, 0, 0]).is_multicast());
    }

    #[test]
    fn multicast_defaults() {
        let v4 = Some(Ipv4Addr::new(192, 168, 130, 7));
        let v6 = Some("2001:db8::c0a8:1".parse().unwrap());
        // 192.168.130.7: the low 23 bits are 0x28_82_07.
        assert_eq!(
            default_mac(Mode::Multicast, Some(5), v4, v6)
                .unwrap()
                .to_string(),
            "01:00:5e:28:82:07"
        );
        assert_eq!(
            default_mac(Mode::Multicast, Some(5), None, v6)
                .unwrap()
                .to_string(),
            "33:33:c0:a8:00:01"
        );
        assert_eq!(
            default_mac(Mode::Multicast, Some(0x0102_0304), None, None)
                .unwrap()
                .to_string(),
            "03:00:5e:02:03:04"
        );
        assert_eq!(default_mac(Mode::Multicast, None, None, None), None);
        for m in [
            default_mac(Mode::Multicast, None, v4, None),
            default_mac(Mode::Multicast, None, None, v6),
            default_mac(Mode::Multicast, Some(9), None, None),
        ] {
            assert!(m.unwrap().is_multicast());
        }
    }

    #[test]
    fn unicast_defaults() {
        let v4 = Some(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(
            default_mac(Mode::Unicast, Some(7), v4, None)
                .unwrap()
                .to_string(),
            "02:bf:00:00:00:07"
        );
        assert_eq!(
            default_mac(Mode::Unicast, None, v4, None)
                .unwrap()
                .to_string(),
            "02:bf:0a:01:02:03"
        );
        assert_eq!(
            default_mac(
                Mode::Unicast,
                None,
                None,
                Some("2001:db8::1".parse().unwrap())
            )
            .unwrap()
            .to_string(),
            "02:bf:00:00:00:01"
        );
        assert_eq!(default_mac(Mode::Unicast, None, None, None), None);
        let m = default_mac(Mode::Unicast, Some(7), None, None).unwrap();
        assert!(
            !m.is_multicast() && m.0[0] & 2 == 2,
            "locally administered unicast"
        );
    }

    #[test]
    fn forward_has_no_default() {
        assert_eq!(
            default_mac(Mode::Forward, Some(1), Some(Ipv4Addr::LOCALHOST), None),
            None
        );
    }
}
