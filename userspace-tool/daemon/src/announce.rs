//! Announcing the cluster address when this host becomes master: a
//! gratuitous ARP (RFC 5227 announcement) and an unsolicited neighbour
//! advertisement (RFC 4861 §7.2.6) that name the cluster MAC, so that
//! neighbours holding a stale entry for the cluster IP refresh it at once.
//!
//! Both leave from the member's own MAC on Ethernet: in unicast mode no
//! frame may ever come from the cluster MAC (the switch would learn it and
//! stop flooding it to every member).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::kapi::mac::Mac;

const ETH_P_ARP: u16 = 0x0806;

/// A gratuitous ARP request: sender and target protocol address both
/// `addr`, sender hardware address `mac`.
pub(crate) fn garp(addr: Ipv4Addr, mac: Mac) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&mac.0);
    p[14..18].copy_from_slice(&addr.octets());
    p[24..28].copy_from_slice(&addr.octets());
    p
}

/// An unsolicited neighbour advertisement for `target` with the override
/// flag and a target link-layer address option `mac`. The kernel fills in
/// the checksum of a raw ICMPv6 socket's messages.
pub(crate) fn unsolicited_na(target: Ipv6Addr, mac: Mac) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // neighbour advertisement
    p[4] = 0x20; // override
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // target link-layer address
    p[25] = 1; // 8 octets
    p[26..32].copy_from_slice(&mac.0);
    p
}

/// Sends the announcements for `addr4` and `addr6` on interface `ifindex`.
pub(crate) fn send(
    ifindex: u32,
    addr4: Option<Ipv4Addr>,
    addr6: Option<Ipv6Addr>,
    mac: Mac,
) -> std::io::Result<()> {
    if let Some(a) = addr4 {
        send_arp(ifindex, &garp(a, mac))?;
    }
    if let Some(a) = addr6 {
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        s.set_multicast_hops_v6(255)?; // receivers drop ND with any other
        s.set_multicast_if_v6(ifindex)?;
        s.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, 0)))?;
        let all_nodes =
            SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), 0, 0, ifindex);
        s.send_to(&unsolicited_na(a, mac), &all_nodes.into())?;
    }
    Ok(())
}

/// Broadcasts an ARP packet; the kernel adds the Ethernet header with the
/// interface's own MAC as its source.
fn send_arp(ifindex: u32, packet: &[u8]) -> std::io::Result<()> {
    let s = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
    )?;
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ETH_P_ARP.to_be();
    ll.sll_ifindex = ifindex as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `ll` is an initialised sockaddr_ll of `len` bytes, which fits
    // in sockaddr_storage; the closure copies it there and reports its size.
    let ((), to) = unsafe {
        SockAddr::try_init(|storage, l| {
            std::ptr::copy_nonoverlapping(
                (&raw const ll).cast::<u8>(),
                storage.cast::<u8>(),
                len as usize,
            );
            *l = len;
            Ok(())
        })
    }?;
    s.send_to(packet, &to)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x01, 0x00, 0x5e, 0x00, 0x02, 0x64]);

    #[test]
    fn gratuitous_arp_asks_for_itself() {
        let p = garp(Ipv4Addr::new(192, 0, 2, 100), MAC);
        assert_eq!(
            p,
            [
                0, 1, 8, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
                1, 0, 0x5e, 0, 2, 0x64, 192, 0, 2, 100, // sender
                0, 0, 0, 0, 0, 0, 192, 0, 2, 100, // target: the same address
            ]
        );
    }

    #[test]
    fn unsolicited_na_overrides_with_the_cluster_mac() {
        let a: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let p = unsolicited_na(a, MAC);
        assert_eq!(p[0], 136);
        assert_eq!(p[4] & 0xe0, 0x20, "override, not solicited, not a router");
        assert_eq!(&p[8..24], &a.octets());
        assert_eq!(&p[24..32], &[2, 1, 1, 0, 0x5e, 0, 2, 0x64]);
    }
}
