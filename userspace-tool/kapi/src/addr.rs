//! Addresses as the kernel and the cluster link carry them: 16 bytes, an
//! IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`), and as the flow hash
//! reads them: four words.
//!
//! Every conversion between those forms and [`IpAddr`] is here, once, so
//! that the TCP state records, the cluster link and the flow hash agree on
//! which addresses are IPv4.

use std::net::IpAddr;

/// `ip` in 16 bytes, IPv4 mapped into IPv6.
pub fn mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The address in 16 bytes `a`: IPv4 when it is mapped, unless `v6` says
/// the connection is IPv6 (an IPv6 socket may talk to a mapped address,
/// and then stays IPv6).
pub fn unmapped(a: &[u8; 16], v6: bool) -> IpAddr {
    let a = std::net::Ipv6Addr::from(*a);
    match a.to_ipv4_mapped() {
        Some(v4) if !v6 => IpAddr::V4(v4),
        _ => IpAddr::V6(a),
    }
}

/// An address as the core's flow hash takes it: four words, an IPv4
/// address in the last.
pub fn words(a: IpAddr) -> [u32; 4] {
    match a {
        IpAddr::V4(v4) => [0, 0, 0, u32::from(v4)],
        IpAddr::V6(v6) => crate::shared::packet::addr_words(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn words_match_the_core_layout() {
        assert_eq!(
            words("192.168.0.1".parse().unwrap()),
            [0, 0, 0, 0xc0a8_0001]
        );
        assert_eq!(
            words("2001:db8::1".parse().unwrap()),
            [0x2001_0db8, 0, 0, 1]
        );
    }

    #[test]
    fn mapped_addresses_come_back_as_they_went() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(unmapped(&mapped(v4), false), v4);
        assert_eq!(unmapped(&mapped(v6), false), v6);
        assert_eq!(unmapped(&mapped(v6), true), v6);
        // An IPv6 connection to a mapped address stays IPv6.
        assert_eq!(
            unmapped(&mapped(v4), true),
            "::ffff:192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
