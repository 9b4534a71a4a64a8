// SPDX-License-Identifier: GPL-2.0
//! A packet as the parser sees it: bounded reads of an skb, from its
//! network header on (where `skb->data` points on input; past the
//! link-layer header ARP has already pushed on output).

use crate::bindings;
use crate::hash::Flow;
use crate::packet::{addr_bytes, Bytes};
use crate::rcu::RcuGuard;
use core::ptr::NonNull;

/// `len` bytes of a packet from `off` (counted from `skb->data`), to be
/// copied into a message.
pub(crate) struct SkbBytes<'s, 'a> {
    pub(crate) skb: &'s Skb<'a>,
    pub(crate) off: u32,
    pub(crate) len: u32,
}

/// A borrowed socket buffer, valid for the hook call that lent it.
pub(crate) struct Skb<'a> {
    skb: NonNull<bindings::sk_buff>,
    /// Offset of the network header from `skb->data`.
    base: usize,
    _life: core::marker::PhantomData<&'a mut bindings::sk_buff>,
}

impl<'a> Skb<'a> {
    /// # Safety
    ///
    /// `skb` is null or a valid socket buffer, owned by the caller for
    /// `'a`, with its network header set.
    pub(crate) unsafe fn from_raw(skb: *mut bindings::sk_buff) -> Option<Self> {
        let skb = NonNull::new(skb)?;
        // SAFETY: valid skb, per the contract.
        let base = unsafe { bindings::ipcluster_skb_network_offset(skb.as_ptr()) };
        Some(Skb {
            skb,
            base: usize::try_from(base).ok()?,
            _life: core::marker::PhantomData,
        })
    }

    /// Bytes from the network header on.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: valid skb (see from_raw).
        let len = unsafe { bindings::ipcluster_skb_len(self.skb.as_ptr()) };
        len.saturating_sub(self.base as u32)
    }

    /// The frame's protocol (`skb->protocol`, host order): ETH_P_IP, ...
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: valid skb (see from_raw).
        unsafe { bindings::ipcluster_skb_protocol(self.skb.as_ptr()) }
    }

    /// Marks the packet as addressed to this host.
    pub(crate) fn set_host(&mut self) {
        // SAFETY: valid skb, owned by the hook for this call.
        unsafe { bindings::ipcluster_skb_set_host(self.skb.as_ptr()) }
    }

    /// Whether the frame came to a MAC that is not the interface's.
    pub(crate) fn for_other_host(&self) -> bool {
        // SAFETY: a live skb (the type's invariant).
        unsafe { bindings::ipcluster_skb_other_host(self.skb.as_ptr()) }
    }

    /// The Ethernet destination of a received frame.
    pub(crate) fn eth_dest(&self) -> Option<[u8; 6]> {
        let mut mac = [0u8; 6];
        // SAFETY: a live skb; `mac` has room for the 6 bytes written.
        unsafe { bindings::ipcluster_skb_eth_dest(self.skb.as_ptr(), mac.as_mut_ptr()) }
            .then_some(mac)
    }

    /// A primary IPv4 address of the packet's interface other than
    /// `except` (host order), for asking from our own address.
    pub(crate) fn dev_addr4(&self, except: u32) -> Option<u32> {
        // SAFETY: a live skb on an interface (output path).
        let a = unsafe { bindings::ipcluster_skb_dev_addr4(self.skb.as_ptr(), except.to_be()) };
        (a != 0).then(|| u32::from_be(a))
    }

    /// The link-local IPv6 address of the packet's interface.
    pub(crate) fn dev_lladdr6(&self) -> Option<[u8; 16]> {
        let mut a = bindings::in6_addr::default();
        // SAFETY: a live skb; `a` is a valid output buffer.
        if !unsafe { bindings::ipcluster_skb_dev_lladdr6(self.skb.as_ptr(), &mut a) } {
            return None;
        }
        // SAFETY: every bit pattern of the union is 16 plain bytes.
        Some(unsafe { a.in6_u.u6_addr8 })
    }

    /// Whether a local TCP socket, not a listener, holds the connection of
    /// a packet of `flow` arriving on the skb's interface.
    pub(crate) fn holds_tcp(&self, _rcu: &RcuGuard, flow: &Flow, v6: bool) -> bool {
        let (sport, dport) = (flow.sport.to_be(), flow.dport.to_be());
        let skb = self.skb.as_ptr();
        if v6 {
            let addr = |w: &[u32; 4]| bindings::in6_addr {
                in6_u: bindings::in6_addr__bindgen_ty_1 {
                    u6_addr8: addr_bytes(w),
                },
            };
            let (src, dst) = (addr(&flow.src), addr(&flow.dst));
            // SAFETY: a live skb with its interface (input path); the
            // addresses outlive the call; the RCU read side is held.
            unsafe { bindings::ipcluster_tcp_sk6(skb, &src, sport, &dst, dport) }
        } else {
            let (src, dst) = (flow.src[3].to_be(), flow.dst[3].to_be());
            // SAFETY: as above.
            unsafe { bindings::ipcluster_tcp_sk4(skb, src, sport, dst, dport) }
        }
    }

    /// The state of the TCP connection this outgoing segment belongs to,
    /// if it comes from a full TCP socket (LOCAL_OUT).
    pub(crate) fn tcp_snap(&self) -> Option<bindings::ipcluster_tcp_snap> {
        let mut s = bindings::ipcluster_tcp_snap::default();
        // SAFETY: a live skb on the output path, its socket locked by the
        // caller of tcp_transmit_skb; `s` is a valid output buffer.
        unsafe { bindings::ipcluster_tcp_snap(self.skb.as_ptr(), &mut s) }.then_some(s)
    }

    /// Where the bytes of this incoming TCP segment for a cluster address
    /// are, if it has any and its checksum is good (PRE_ROUTING).
    pub(crate) fn tcp_in(&mut self, v6: bool) -> Option<bindings::ipcluster_tcp_in> {
        let mut i = bindings::ipcluster_tcp_in::default();
        // SAFETY: a live skb on the input path with its network header set,
        // owned by the hook for this call (the checksum check may note its
        // result in it); `i` is a valid output buffer.
        unsafe { bindings::ipcluster_tcp_in(self.skb.as_ptr(), v6, &mut i) }.then_some(i)
    }

    /// The socket buffer, for a C helper that only reads it.
    pub(crate) fn as_raw(&self) -> *const bindings::sk_buff {
        self.skb.as_ptr()
    }

    /// Overwrites bytes at `off`, unsharing the data first if needed.
    pub(crate) fn write(&mut self, off: usize, data: &[u8]) -> bool {
        let (Ok(off), Ok(len)) = (i32::try_from(self.base + off), i32::try_from(data.len())) else {
            return false;
        };
        // SAFETY: valid skb; the helper makes `off + len` writable and in
        // bounds (or fails) before copying from `data`.
        unsafe {
            bindings::ipcluster_skb_write(self.skb.as_ptr(), off, data.as_ptr().cast(), len) == 0
        }
    }
}

impl Bytes for Skb<'_> {
    fn read<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        let off = i32::try_from(self.base.checked_add(off)?).ok()?;
        // SAFETY: valid skb; skb_header_pointer returns null when
        // `off + N` passes the end, else a pointer to N readable bytes (into
        // the linear data or into `buf`).
        let p = unsafe {
            bindings::ipcluster_skb_header(
                self.skb.as_ptr(),
                off,
                N as i32,
                buf.as_mut_ptr().cast(),
            )
        };
        if p.is_null() {
            return None;
        }
        if p != buf.as_ptr().cast() {
            // SAFETY: `p` points at N readable bytes (see above).
            buf.copy_from_slice(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), N) });
        }
        Some(buf)
    }
}
