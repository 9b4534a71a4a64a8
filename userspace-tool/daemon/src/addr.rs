//! Addresses on the cluster link: 16 bytes, IPv4 mapped into IPv6, as the
//! membership's messages carry them. The conversions are the kernel API's
//! ([`crate::kapi::addr`]), the same the TCP state records use.

use std::net::IpAddr;

/// An address on the cluster link (IPv4 mapped into IPv6).
pub(crate) type Addr = [u8; 16];

/// An IP address as an [`Addr`].
pub(crate) fn addr_of(ip: IpAddr) -> Addr {
    crate::kapi::addr::mapped(ip)
}

/// An [`Addr`] as an IP address (IPv4 when mapped).
pub(crate) fn ip_of(a: &Addr) -> IpAddr {
    crate::kapi::addr::unmapped(a, false)
}
